package dev.add4j.train;

import dev.add4j.Add4jException;
import dev.add4j.dist.Group;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Checkpoint;
import dev.add4j.io.Json;
import org.bytedeco.pytorch.Device;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongConsumer;

/**
 * A training run's directory, kept the same way by every trainer: {@code config.json}, {@code checkpoint/} (see
 * {@link Checkpoint}), the JSONL logs, and the model file written just before each checkpoint. Refusing to start
 * over a run, resuming one, saving, and restoring the last checkpoint after a non-finite step are written here once.
 * On several ranks ({@link Group}) every rank reads the checkpoint, and rank 0 alone writes.
 */
public final class RunDir {
    public static final String CONFIG = "config.json";

    /**
     * What a trainer keeps in its directory.
     * @param dir     the run directory
     * @param trainer the checkpoint's trainer ("teacher", "add", "features"): a checkpoint of another is refused
     * @param what    what messages call a run there ("an ADD run")
     * @param config  the run's config, a record: config.json and the checkpoint's metadata
     * @param steps   the run's steps: a checkpoint past them is refused
     * @param parts   the networks and optimisers the checkpoint holds
     * @param device  where those networks live
     * @param logs    the JSONL logs in dir whose records carry a "step": cut back to the checkpoint's on resume
     * @param model   the model file in dir that each save writes first (null: none); it too marks dir as a run's
     */
    public record Spec(Path dir, String trainer, String what, Object config, long steps, Checkpoint.Parts parts,
                       Device device, List<String> logs, String model) {}

    /** Checks, on resume, that the saved run is this one; throws an {@link Add4jException} naming the checkpoint if not. */
    @FunctionalInterface public interface Compatible { void check(Checkpoint.Saved saved); }

    private final Spec spec;
    private final LongConsumer writeModel;
    private final Map<String, String> extra = new TreeMap<>();
    private long start;
    private final Group group = Group.current();

    private RunDir(Spec spec, LongConsumer writeModel) {
        this.spec = spec;
        this.writeModel = writeModel;
    }

    /**
     * Opens {@code spec.dir()} for a run. A new run refuses a directory that holds one (its checkpoint or model
     * file), unless {@code replace}, so nothing saved is overwritten by mistake; with {@code resume} the run there
     * continues from its checkpoint, checked whole and by {@code compatible} first (a run stopped before its first
     * checkpoint starts again at 0). Then writes config.json, unless it already says the same.
     * @param writeModel writes the model file after the given steps, before each checkpoint (null: none)
     */
    public static RunDir open(Spec spec, boolean resume, boolean replace, Compatible compatible, LongConsumer writeModel) {
        Path dir = spec.dir();
        boolean held = Checkpoint.exists(dir) || (spec.model() != null && Files.exists(dir.resolve(spec.model())));
        if (!resume && held && !replace)
            throw new Add4jException(dir + " already holds " + spec.what() + ": pass --resume to continue it, or choose another --out");
        if (resume && !Checkpoint.exists(dir) && !Files.exists(dir.resolve(CONFIG)))
            throw new Add4jException(dir + ": nothing to resume (no " + Checkpoint.DIR + "/)");
        RunDir r = new RunDir(spec, writeModel);
        if (resume) {
            Checkpoint.Saved c = r.read();
            if (c == null) {
                System.out.println(dir + ": no checkpoint yet (the run stopped before its first): starting at step 0");
            } else {
                compatible.check(c);
                r.restore(c);
            }
            r.truncateLogs();
        }
        if (r.writes()) r.writeConfig();                       // on resume: the same, or a longer run
        return r;
    }

    public Spec spec() { return spec; }
    /** The steps the run has done: 0, or its checkpoint's. */
    public long start() { return start; }
    /** The trainer's further metadata, saved with every checkpoint (read back on resume); changes are saved with the next. */
    public Map<String, String> extra() { return extra; }
    public boolean hasCheckpoint() { return Checkpoint.exists(spec.dir()); }

    /** Writes the model file, then the checkpoint (which commits the step: a model file ahead of it is harmless). */
    public void save(long done) {
        if (!writes()) return;
        if (writeModel != null) writeModel.accept(done);
        Checkpoint.save(spec.dir(), spec.trainer(), done, spec.config(), extra, spec.parts());
    }

    /** Puts the last checkpoint back into the parts, checked whole first, and cuts the logs back to it; returns its step. */
    public long restoreLast() {
        Checkpoint.Saved c = read();
        if (c == null) throw new IllegalStateException(spec.dir() + ": no checkpoint to restore");
        restore(c);
        truncateLogs();
        return start;
    }

    /** The run's checkpoint, checked whole ({@link Checkpoint#read}); null when it has none. */
    private Checkpoint.Saved read() { return Checkpoint.read(spec.dir(), spec.trainer(), spec.parts(), spec.steps()); }

    private void restore(Checkpoint.Saved c) {
        c.restore(spec.parts(), spec.device());
        start = c.step();
        extra.clear();
        extra.putAll(c.extra());
        if (writes()) Checkpoint.tidy(spec.dir());
    }

    /** Whether this process writes the run's files: rank 0 of a data-parallel run, or the one process. */
    private boolean writes() { return group.isMain(); }

    private void truncateLogs() {
        if (!writes()) return;
        for (String log : spec.logs()) {
            int dropped = TrainLoop.truncate(spec.dir().resolve(log), start);
            if (dropped > 0) System.out.printf("%s: dropped %d records past step %d%n", spec.dir().resolve(log), dropped, start);
        }
    }

    private void writeConfig() {
        Path f = spec.dir().resolve(CONFIG);
        String json = Json.write(spec.config());
        try {
            if (Files.isRegularFile(f) && Files.readString(f).equals(json)) return;
            Files.createDirectories(spec.dir());
        } catch (IOException e) {
            // unreadable: written again below, which names the trouble
        }
        AtomicFiles.writeString(f, json);
    }
}
