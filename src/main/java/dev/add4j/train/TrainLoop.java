package dev.add4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.Add4jException;
import dev.add4j.dist.Group;
import dev.add4j.dist.Replicas;
import dev.add4j.dist.Shard;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Json;
import org.bytedeco.javacpp.PointerScope;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * The training runtime, written once for every trainer (edm's training_loop): runs a run's {@link Stage}s one
 * iteration at a time, each in its own PointerScope, and around them does what every run needs:
 * <ul>
 *   <li>the EMA update after each iteration ({@link #ema});
 *   <li>hooks every so often ({@link #every}: sample grids, k-NN) and an evaluation whose best result is kept
 *       ({@link #eval}), skipped in a stage where the shipped model does not learn;
 *   <li>progress lines with rate and ETA, and a JSONL log of the statistics averaged over {@code logEvery};
 *   <li>checkpoints through a {@link RunDir} ({@link #saving}) every {@code checkpointEvery}, when the time budget
 *       runs out and at the end;
 *   <li>after a non-finite statistic, a restart from the last checkpoint, up to {@code maxRestarts} times: libtorch's
 *       CPU kernels have given sporadic NaN in add4j's training (see nn.Attention) that the same iterations, run
 *       again, did not repeat; a NaN the maths makes comes back, and then the run stops with its last checkpoint
 *       as it was.
 * </ul>
 * On several ranks ({@link Group#current()}, data parallelism) every rank runs every step on its shard of the batch
 * ({@link Shard}), and the statistics are averaged over the ranks; rank 0 alone prints, logs, runs the hooks and the
 * evaluation, and saves, while the decisions that change the run (stop for time, restart after a non-finite
 * statistic) are the same on every rank.
 * <p>The rate and ETA are those of the steps since the previous progress line: a run's first step can hold a one-off
 * cost (the ODE warm-up's teacher pairs take half an hour on a CPU), which a rate since the start would spread over
 * the whole run (it printed "eta 26h" for a run that had 35 minutes left).
 */
public final class TrainLoop {

    /** A statistic of a step was NaN or infinite. */
    public static final class NonFinite extends Add4jException {
        private final String what;

        NonFinite(String what, String message) {
            super(message);
            this.what = what;
        }

        /** "loss is NaN at step 5". */
        public String what() { return what; }
    }

    /**
     * How a run is kept and watched.
     * @param logEvery        steps between progress lines and log records
     * @param checkpointEvery steps between checkpoints (0: only at the end)
     * @param maxMinutes      wall-clock budget (0: none); the loop checkpoints and stops when it runs out
     * @param maxRestarts     restarts from the last checkpoint after a non-finite statistic (0: stop at the first)
     * @param log             the JSONL log to append to (null: none)
     */
    public record Options(long logEvery, long checkpointEvery, double maxMinutes, int maxRestarts, Path log) {
        public Options {
            if (logEvery < 1) throw new IllegalArgumentException("logEvery must be >= 1, got " + logEvery);
            if (checkpointEvery < 0) throw new IllegalArgumentException("checkpointEvery must be >= 0, got " + checkpointEvery);
            if (!(maxMinutes >= 0)) throw new IllegalArgumentException("maxMinutes must be >= 0, got " + maxMinutes);
            if (maxRestarts < 0) throw new IllegalArgumentException("maxRestarts must be >= 0, got " + maxRestarts);
        }
    }

    /** A measurement every so often whose best result is kept (add4j distill's 1-step FID, and student-best.safetensors). */
    public interface Eval {
        /** What it measures, lower being better ("fid"): checkpoints keep the best as {@code best_NAME}. */
        String name();

        /** Measures the model after {@code done} steps. */
        Measured measure(long done);

        /** Keeps the model measured after {@code done} steps: the best so far. */
        void keep(long done, Measured m);

        /**
         * @param score  lower is better
         * @param record the eval log's fields after "step" ("best" is added)
         * @param line   the console's line ("  (best so far)" is added)
         */
        record Measured(double score, Map<String, Object> record, String line) {}
    }

    private record Hook(long every, LongConsumer run) {}

    private final List<Stage> stages;
    private final long[] ends;                          // ends[i]: the steps done after stage i
    private final List<Hook> hooks = new ArrayList<>();
    private final List<String> restarts = new ArrayList<>();
    private RunDir dir;
    private Ema ema;
    private Eval eval;
    private long evalEvery;
    private Path evalLog;
    private Consumer<String> console = line -> System.out.println(line);   // System.out when printed (tests redirect it)
    private Double best;                                // the best score; null: read from the checkpoint when needed
    private final Group group = Group.current();        // the ranks of a data-parallel run (one in most)

    /** A loop over {@code stages}, run in order; the run's steps are theirs together. */
    public TrainLoop(List<Stage> stages) {
        this.stages = List.copyOf(stages);
        ends = new long[this.stages.size()];
        long end = 0;
        for (int i = 0; i < ends.length; i++) ends[i] = end += this.stages.get(i).steps();
    }

    /** Checkpoints go to {@code dir}, and the run continues from its start. */
    public TrainLoop saving(RunDir dir) {
        this.dir = dir;
        return this;
    }

    /** Updates {@code ema} after every iteration. */
    public TrainLoop ema(Ema ema) {
        this.ema = ema;
        return this;
    }

    /** Runs {@code hook} with the steps done after every {@code n}th step (0: never). */
    public TrainLoop every(long n, LongConsumer hook) {
        hooks.add(new Hook(n, hook));
        return this;
    }

    /** Measures with {@code eval} every {@code n} steps (0: never), appends to {@code log} and keeps the best. */
    public TrainLoop eval(long n, Eval eval, Path log) {
        this.evalEvery = n;
        this.eval = eval;
        this.evalLog = log;
        return this;
    }

    /** Where the loop's lines go (default: standard output). */
    public TrainLoop console(Consumer<String> console) {
        this.console = console;
        return this;
    }

    /** The run's steps, all stages together. */
    public long total() { return ends.length == 0 ? 0 : ends[ends.length - 1]; }
    /** The step the run continues from: its checkpoint's, or 0. */
    public long start() { return dir != null ? dir.start() : 0; }
    /** What each restart said, in order: the report shows them. */
    public List<String> restarts() { return List.copyOf(restarts); }

    /**
     * Iteration {@code s}: its stage's step, then the EMA update, in one PointerScope; after a stage's last
     * iteration, its finish. Then the hooks and the evaluation that fall due, unless a statistic is not finite.
     * @throws NonFinite when a statistic is NaN or infinite
     */
    public Map<String, Double> step(long s) {
        int i = stageAt(s);
        Stage stage = stages.get(i);
        Map<String, Double> stats;
        long inCollectives = group.collectiveNanos();
        try (var scope = new PointerScope(); var shard = Shard.enter(group)) {
            stats = stage.step().run(s);
            if (ema != null) ema.update(s);
        }
        if (group.size() > 1) {                         // the gradients' all-reduce, and the wait for the slowest rank
            stats = new LinkedHashMap<>(stats);
            stats.put("allreduce_ms", (group.collectiveNanos() - inCollectives) / 1e6);
        }
        stats = group.average(stats);                   // the same on every rank, so every rank decides alike below
        long done = s + 1;
        for (int j = i; j < ends.length && ends[j] == done; j++) stages.get(j).finish().run();  // and the empty ones after it
        for (var e : stats.entrySet())
            if (!Double.isFinite(e.getValue())) {
                String what = e.getKey() + " is " + e.getValue() + " at step " + done;
                throw new NonFinite(what, what);
            }
        if (stage.trainsModel() && group.isMain()) {
            for (Hook h : hooks) if (h.every() > 0 && done % h.every() == 0) h.run().accept(done);
            if (eval != null && evalEvery > 0 && done % evalEvery == 0) evaluate(done);
        }
        return stats;
    }

    /** Saves the run after {@code done} steps: its model file and checkpoint, with the best score; nothing without a RunDir. */
    public void save(long done) {
        if (dir == null || !group.isMain()) return;
        if (eval != null) dir.extra().put("best_" + eval.name(), Double.toString(best()));
        dir.save(done);
    }

    /** Runs the remaining steps; returns the steps done (fewer than {@link #total} when the time budget ran out). */
    public long run(Options o) { return run(o, System::nanoTime); }

    /** As {@link #run(Options)}, timed by {@code nanoClock} (tests). */
    long run(Options o, LongSupplier nanoClock) {
        long s = start(), lastSaved = s;
        Consumer<String> console = group.isMain() ? this.console : line -> {};
        if (dir != null) Replicas.fromRankZero(group, dir.spec().parts().modules());   // before rank 0's first save
        if (dir != null && o.maxRestarts() > 0 && !dir.hasCheckpoint()) save(s);       // a restart needs a checkpoint
        long t0 = nanoClock.getAsLong(), windowStart = t0, windowFirstStep = s;     // the window: steps since the last line
        Map<String, Double> sums = new LinkedHashMap<>();
        Map<String, Integer> counts = new LinkedHashMap<>(); // per key: a step may leave a statistic out
        while (s < total()) {
            if (entersStage(s)) console.accept(String.format("stage %s: steps %d..%d", stages.get(stageAt(s)).name(), s, ends[stageAt(s)]));
            Map<String, Double> stats;
            try {
                stats = step(s);
            } catch (NonFinite e) {
                if (dir == null || restarts.size() == o.maxRestarts()) throw stopped(e, lastSaved);
                s = lastSaved = dir.restoreLast();
                best = null;
                sums.clear();
                counts.clear();
                windowStart = nanoClock.getAsLong();
                windowFirstStep = s;
                String note = e.what() + ": resumed from the checkpoint of step " + s + " (restart " + (restarts.size() + 1)
                        + " of at most " + o.maxRestarts() + ")";
                restarts.add(note);
                console.accept(note);
                continue;
            }
            s++;
            stats.forEach((k, v) -> { sums.merge(k, v, Double::sum); counts.merge(k, 1, Integer::sum); });
            long now = nanoClock.getAsLong();
            double elapsed = (now - t0) / 1e9;
            boolean outOfTime = o.maxMinutes() > 0 && group.any(elapsed > o.maxMinutes() * 60);  // all stop at one step
            if (s % o.logEvery() == 0 || s == total() || outOfTime) {
                double rate = (s - windowFirstStep) / Math.max((now - windowStart) / 1e9, 1e-9);
                windowStart = now;
                windowFirstStep = s;
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", s);
                for (var e : sums.entrySet()) rec.put(e.getKey(), e.getValue() / counts.get(e.getKey()));
                rec.put("it_per_s", rate);
                rec.put("elapsed_s", elapsed);
                rec.put("rss_mib", ResourceUsage.rssMiB());
                console.accept(progressLine(s, total(), rec, rate));
                if (o.log() != null && group.isMain()) append(o.log(), Json.compact(rec));
                sums.clear();
                counts.clear();
            }
            if ((o.checkpointEvery() > 0 && s % o.checkpointEvery() == 0) || outOfTime) {
                save(s);
                lastSaved = s;
            }
            if (outOfTime) {
                console.accept(String.format("time budget of %.1f min used: stopping at step %d of %d", o.maxMinutes(), s, total()));
                return s;
            }
        }
        if (lastSaved != s) save(s);
        return s;
    }

    private NonFinite stopped(NonFinite e, long lastSaved) {
        if (dir == null) return new NonFinite(e.what(), e.what() + ": stopping; try a lower learning rate");
        String after = restarts.isEmpty() ? "" : " after " + restarts.size() + " restarts from the last checkpoint";
        return new NonFinite(e.what(), e.what() + after + ": stopping without a checkpoint, so the last saved one (step "
                + lastSaved + ") stays as it was; lower the learning rate or resume from it");
    }

    /** Measures, logs, and keeps the model when it is the best so far. */
    private void evaluate(long done) {
        Eval.Measured m = eval.measure(done);
        boolean isBest = m.score() < best();
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("step", done);
        rec.putAll(m.record());
        rec.put("best", isBest);
        if (evalLog != null) append(evalLog, Json.compact(rec));
        console.accept(m.line() + (isBest ? "  (best so far)" : ""));
        if (isBest) {
            best = m.score();
            eval.keep(done, m);
        }
    }

    private double best() {
        if (best == null) {
            String saved = dir != null ? dir.extra().getOrDefault("best_" + eval.name(), "Infinity") : "Infinity";
            try {
                best = Double.parseDouble(saved);
            } catch (NumberFormatException e) {
                throw new Add4jException(dir.spec().dir().resolve(dev.add4j.io.Checkpoint.DIR) + ": best_" + eval.name() + " '" + saved + "' is not a number");
            }
        }
        return best;
    }

    private int stageAt(long s) {
        for (int i = 0; i < ends.length; i++) if (s < ends[i]) return i;
        throw new IllegalArgumentException("step " + s + " is past the run's " + total());
    }

    /** Whether step s is the first of a stage, in a run of more than one. */
    private boolean entersStage(long s) {
        int i = stageAt(s);
        return stages.stream().filter(st -> st.steps() > 0).count() > 1 && s == ends[i] - stages.get(i).steps();
    }

    static String progressLine(long s, long total, Map<String, Object> rec, double rate) {
        StringBuilder b = new StringBuilder(String.format("step %d/%d (%.1f%%)", s, total, 100.0 * s / total));
        rec.forEach((k, v) -> {
            if (!k.equals("step") && !k.equals("it_per_s") && !k.equals("elapsed_s") && !k.equals("rss_mib"))
                b.append(String.format(" %s %.4g", k, ((Number) v).doubleValue()));
        });
        b.append(String.format(" | %.2f it/s | eta %s | rss %.0f MiB", rate, duration((total - s) / Math.max(rate, 1e-9)),
                ((Number) rec.get("rss_mib")).doubleValue()));
        return b.toString();
    }

    /** "1h02m", "3m05s", "42s". */
    public static String duration(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) return String.format("%dh%02dm", s / 3600, (s % 3600) / 60);
        if (s >= 60) return String.format("%dm%02ds", s / 60, s % 60);
        return s + "s";
    }

    /**
     * Drops the records of a JSONL log past {@code step}, and any line that is not a record (one a kill cut short), so
     * that a run resumed from its checkpoint at {@code step} logs no step twice. The file is rewritten atomically, and
     * only when something is dropped.
     * @return how many lines were dropped
     */
    public static int truncate(Path log, long step) {
        if (!Files.exists(log)) return 0;
        try {
            List<String> lines = new String(Files.readAllBytes(log), StandardCharsets.UTF_8).lines().toList();
            List<String> kept = lines.stream().filter(l -> atOrBefore(l, step)).toList();
            if (kept.size() < lines.size())
                AtomicFiles.writeString(log, kept.stream().map(l -> l + "\n").collect(Collectors.joining()));
            return lines.size() - kept.size();
        } catch (IOException e) {
            throw new Add4jException(log + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static boolean atOrBefore(String line, long step) {
        try {
            JsonNode s = Json.tree(line).get("step");
            return s != null && s.canConvertToLong() && s.isIntegralNumber() && s.asLong() <= step;
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Appends one line to a JSONL log (creating it). */
    public static void append(Path file, String line) {
        try {
            Files.writeString(file, line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
