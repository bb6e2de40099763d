package dev.add4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Json;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.stream.Collectors;

/**
 * Everything around a training step, written once for every trainer (edm's training_loop): run steps from
 * {@code start} to {@code total}, print progress with rate and ETA, append every logged step to a JSONL log,
 * checkpoint every so often and at the end, and stop early (with a checkpoint) when a time budget runs out.
 * The rate and ETA are those of the steps since the previous progress line: a run's first step can hold a one-off
 * cost (the ODE warm-up's teacher pairs take half an hour on a CPU), which a rate since the start would spread over
 * the whole run (it printed "eta 26h" for a run that had 35 minutes left).
 */
public final class TrainLoop {

    /** A statistic of a step was NaN or infinite: the run stopped, its last checkpoint as it was. */
    public static final class NonFinite extends dev.add4j.Add4jException {
        NonFinite(String message) { super(message); }
    }

    /** One training iteration; returns its scalar statistics (loss, ...). Must free its tensors itself. */
    @FunctionalInterface public interface Step { Map<String, Double> run(long step); }

    /** Writes a checkpoint after {@code stepsDone} steps. */
    @FunctionalInterface public interface Checkpointer { void save(long stepsDone); }

    /**
     * @param total            steps of the whole run
     * @param logEvery         steps between progress lines and log records
     * @param checkpointEvery  steps between checkpoints (0: only at the end)
     * @param maxMinutes       wall-clock budget (0: none); the loop checkpoints and stops when it runs out
     * @param log              JSONL file to append to (null: none)
     */
    public record Options(long total, long logEvery, long checkpointEvery, double maxMinutes, Path log) {}

    private TrainLoop() {}

    /** Runs the loop and returns the number of steps done (== total unless the time budget ran out). */
    public static long run(long start, Options o, Step step, Checkpointer ckpt, PrintStream out) {
        return run(start, o, step, ckpt, out, System::nanoTime);
    }

    /** As {@link #run(long, Options, Step, Checkpointer, PrintStream)}, timed by {@code nanoClock} (tests). */
    static long run(long start, Options o, Step step, Checkpointer ckpt, PrintStream out, LongSupplier nanoClock) {
        long t0 = nanoClock.getAsLong(), lastSaved = start;
        long windowStart = t0, windowFirstStep = start;     // the steps since the last progress line
        Map<String, Double> sums = new LinkedHashMap<>();
        Map<String, Integer> counts = new LinkedHashMap<>(); // per key: a step may leave a statistic out
        long s = start;
        while (s < o.total()) {
            Map<String, Double> stats = step.run(s);
            for (var e : stats.entrySet())
                if (!Double.isFinite(e.getValue()))
                    throw new NonFinite(String.format("%s is %s at step %d: stopping without a checkpoint, so the last "
                            + "saved one (step %d) stays as it was; lower the learning rate or resume from it", e.getKey(), e.getValue(), s + 1, lastSaved));
            s++;
            stats.forEach((k, v) -> { sums.merge(k, v, Double::sum); counts.merge(k, 1, Integer::sum); });
            long now = nanoClock.getAsLong();
            double elapsed = (now - t0) / 1e9;
            boolean outOfTime = o.maxMinutes() > 0 && elapsed > o.maxMinutes() * 60;
            if (s % o.logEvery() == 0 || s == o.total() || outOfTime) {
                double rate = (s - windowFirstStep) / Math.max((now - windowStart) / 1e9, 1e-9);
                windowStart = now;
                windowFirstStep = s;
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", s);
                for (var e : sums.entrySet()) rec.put(e.getKey(), e.getValue() / counts.get(e.getKey()));
                rec.put("it_per_s", rate);
                rec.put("elapsed_s", elapsed);
                rec.put("rss_mib", ResourceUsage.rssMiB());
                out.println(progressLine(s, o.total(), rec, rate));
                if (o.log() != null) append(o.log(), Json.compact(rec));
                sums.clear();
                counts.clear();
            }
            if ((o.checkpointEvery() > 0 && s % o.checkpointEvery() == 0) || outOfTime) {
                ckpt.save(s);
                lastSaved = s;
            }
            if (outOfTime) {
                out.printf("time budget of %.1f min used: stopping at step %d of %d%n", o.maxMinutes(), s, o.total());
                return s;
            }
        }
        if (lastSaved != s) ckpt.save(s);
        return s;
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
            throw new dev.add4j.Add4jException(log + ": cannot read: " + e.getMessage(), e);
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
