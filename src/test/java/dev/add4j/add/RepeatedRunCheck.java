package dev.add4j.add;

import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Not part of the suite (no "Test" in its name): the check that measured the CPU bug of README's "Notes for
 * developers". It runs the same 4-iteration ADD run (AddTrainerTest's resume setting) REPS times (default 40) in
 * one JVM and counts the distinct loss sequences; a bit-reproducible libtorch gives one.
 * <p>Run: {@code mvn test -Dtest=RepeatedRunCheck} (oneDNN off, as the tests run) and
 * {@code mvn test -Dtest=RepeatedRunCheck -Dadd4j.onednn=1} (oneDNN on, as the commands run).
 */
class RepeatedRunCheck {
    @TempDir static Path shared;

    @BeforeAll static void init() {
        AddTrainerTest.shared = shared;
        AddTrainerTest.load();
    }

    @Test void theSameRunRepeatedGivesTheSameLosses(@TempDir Path dir) {
        int reps = Integer.parseInt(System.getenv().getOrDefault("REPS", "40"));
        AddConfig c = AddTrainerTest.cfg(AddConfig.Loss.ADV_DISTILL, AddConfig.StudentInit.TEACHER, 1e-4, 4);
        Map<String, Integer> seen = new LinkedHashMap<>();
        int skipped = 0;
        for (int r = 0; r < reps; r++) {
            StringBuilder run = new StringBuilder();
            try (AddTrainer t = AddTrainerTest.trainer(c, dir.resolve("r" + r), false)) {
                for (long s = 0; s < c.steps(); s++) {
                    Map<String, Double> m = t.loop().step(s);
                    if (m.get("skip_g") > 0 || m.get("skip_d") > 0) skipped++;
                    run.append(String.format("%.9g/%.9g ", m.get("loss_g"), m.get("loss_d")));
                }
            }
            seen.merge(run.toString(), 1, Integer::sum);
        }
        System.out.printf("RepeatedRunCheck: oneDNN %s, %d runs, %d distinct loss sequences, %d skipped steps%n",
                torch.globalContext().userEnabledMkldnn() ? "on" : "off", reps, seen.size(), skipped);
        assertEquals(1, seen.size(), "distinct loss sequences " + seen);
    }
}
