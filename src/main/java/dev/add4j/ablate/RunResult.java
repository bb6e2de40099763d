package dev.add4j.ablate;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.add4j.eval.Evaluation;

import java.util.List;

/**
 * One finished run of a study (a row at one seed): {@code DIR/rows/NAME-sSEED/result.json}, written last and
 * atomically, so that its presence alone says the run is done.
 *
 * @param run          the row's name
 * @param seed         the training seed
 * @param status       "done", or "diverged" (its loss, or its images, were not finite; no metrics)
 * @param reason       why it diverged (null when done)
 * @param distill      the {@code add4j distill} arguments it ran
 * @param eval         the {@code add4j eval} arguments it ran
 * @param trainSeconds wall time of the training, restarts included
 * @param evalSeconds  wall time of the evaluation
 * @param cpuSeconds   CPU time of this process over training and evaluation (null when other runs ran beside it):
 *                     at one thread, about the run's wall time on a quiet core, whatever else shares the machine
 * @param restarts     trainings resumed from the last checkpoint after a non-finite loss
 * @param metrics      the 1-step evaluation (null when diverged)
 * @param finalDAcc    the discriminator's accuracy over the last logged iterations (null: no discriminator)
 */
public record RunResult(String run, long seed, String status, String reason, List<String> distill, List<String> eval,
                        @JsonProperty("train_s") double trainSeconds, @JsonProperty("eval_s") double evalSeconds,
                        @JsonProperty("cpu_s") Double cpuSeconds, int restarts,
                        Evaluation.Row metrics, @JsonProperty("final_d_acc") Double finalDAcc) {
    public static final String DONE = "done", DIVERGED = "diverged";

    public RunResult {
        distill = List.copyOf(distill);
        eval = List.copyOf(eval);
    }

    @JsonIgnore public boolean diverged() { return DIVERGED.equals(status); }
}
