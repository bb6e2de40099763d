package dev.add4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.Add4jException;
import dev.add4j.nn.Module;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A training run's checkpoint as one unit: the networks' weights and buffers, each optimiser's state and the metadata
 * (trainer, step, config, extras), written together and read back only whole. Every trainer that checkpoints uses it.
 * <p>On disk it is the run's directory {@code checkpoint/}: {@code tensors.safetensors} (F32), one libtorch archive
 * {@code NAME.pt} per optimiser, and {@code manifest.json}, written last, with the metadata and each part's size and
 * SHA-256. A save writes {@code checkpoint.new/} from scratch and swaps it in by two renames (the current one becomes
 * {@code checkpoint.old/} until the new one is in place, and is then deleted), so a kill at any moment leaves one
 * complete checkpoint: {@code checkpoint/}, or, between the two renames, {@code checkpoint.old/}.
 * <p>{@link #read} checks the manifest, the step and every part's size and hash before anything is restored, and
 * refuses a mix or damage with one line naming the file. A step's randomness comes from generators seeded by
 * (seed, step), so the step and the config's seed are all the RNG state a run has.
 * <p>A run of an older add4j (three files side by side: {@code checkpoint.safetensors} with the metadata, and the
 * {@code NAME.pt} states) is read too, without hashes to check; its first save replaces those files with the directory.
 */
public final class Checkpoint {
    public static final String DIR = "checkpoint", MANIFEST = "manifest.json", TENSORS = "tensors.safetensors",
            LEGACY = "checkpoint.safetensors";
    static final String NEW = DIR + ".new", OLD = DIR + ".old", BUFFERS = "_buffer.";
    static final int FORMAT = 1;
    /** For the kill test only: after each stage of a save, name it on standard error and pause this long (ms). */
    static final long PAUSE_MS = Long.getLong("add4j.checkpoint.pause-ms", 0);

    private Checkpoint() {}

    /**
     * What a trainer checkpoints, each part by name: networks (their weights, and their buffers where they have some,
     * as {@code NAME.key} and {@code NAME_buffer.key}) and optimisers ({@code NAME.pt}). Kept sorted by name, so
     * the same state always gives the same bytes.
     */
    public record Parts(Map<String, Module> modules, Map<String, Optimizer> optimizers) {
        public Parts {
            modules = Collections.unmodifiableMap(new TreeMap<>(modules));
            optimizers = Collections.unmodifiableMap(new TreeMap<>(optimizers));
        }

        /** The files of a checkpoint of these parts. */
        Set<String> files() {
            Set<String> f = new TreeSet<>();
            f.add(TENSORS);
            optimizers.keySet().forEach(n -> f.add(n + ".pt"));
            return f;
        }
    }

    /** {@code manifest.json}. */
    record Manifest(int format, String trainer, long step, JsonNode config, Map<String, String> extra, Map<String, Part> files) {}

    /** One file of a checkpoint, as the manifest records it. */
    record Part(long bytes, String sha256) {}

    /** Whether {@code runDir} holds a checkpoint (of either layout) to resume. */
    public static boolean exists(Path runDir) {
        return Files.exists(runDir.resolve(DIR)) || Files.exists(runDir.resolve(OLD)) || Files.exists(runDir.resolve(LEGACY));
    }

    /**
     * Saves {@code parts} after {@code step} steps as the run's checkpoint, replacing the previous one only once the
     * new one is complete.
     * @param trainer which trainer's checkpoint this is ("teacher", "add"); {@link #read} refuses another's
     * @param config  the run's config, a record written as JSON
     * @param extra   further metadata of the trainer (string pairs)
     * @throws Add4jException naming the checkpoint when it cannot be written; the previous one is then still complete
     */
    public static void save(Path runDir, String trainer, long step, Object config, Map<String, String> extra, Parts parts) {
        Path current = runDir.resolve(DIR), fresh = runDir.resolve(NEW), old = runDir.resolve(OLD);
        try {
            deleteTree(fresh);                                                    // what a save cut short left
            Files.createDirectories(fresh);
            try (var scope = new PointerScope()) {
                Map<String, Tensor> all = new LinkedHashMap<>();
                parts.modules().forEach((name, m) -> {
                    m.namedParameters().forEach((k, v) -> all.put(name + "." + k, v));
                    m.namedBuffers().forEach((k, v) -> all.put(name + BUFFERS + k, v));
                });
                SafeTensors.write(fresh.resolve(TENSORS), all, null, SafeTensors.Dtype.F32);
            }
            pause(TENSORS);
            for (var e : parts.optimizers().entrySet()) {
                Path f = fresh.resolve(e.getKey() + ".pt");
                try (OutputArchive archive = new OutputArchive()) {
                    e.getValue().save(archive);
                    archive.save_to(f.toString());                                 // libtorch writes it: synced below
                }
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) { ch.force(true); }
                pause(f.getFileName().toString());
            }
            Map<String, Part> files = new TreeMap<>();
            for (String name : parts.files()) files.put(name, part(fresh.resolve(name)));
            var manifest = new Manifest(FORMAT, trainer, step, Json.tree(Json.compact(config)), new TreeMap<>(extra), files);
            AtomicFiles.writeString(fresh.resolve(MANIFEST), Json.write(manifest));  // last: it makes the directory complete
            pause(MANIFEST);
            if (Files.exists(current)) {
                deleteTree(old);
                Files.move(current, old, StandardCopyOption.ATOMIC_MOVE);
                AtomicFiles.syncDirectory(runDir);
                pause("previous checkpoint set aside");
            }
            Files.move(fresh, current, StandardCopyOption.ATOMIC_MOVE);
            AtomicFiles.syncDirectory(runDir);
            pause("new checkpoint in place");
            deleteTree(old);
            for (String name : parts.files())                                      // an older add4j's layout
                Files.deleteIfExists(runDir.resolve(name.equals(TENSORS) ? LEGACY : name));
            AtomicFiles.deleteLeftovers(runDir);                                   // of writes a kill cut short
        } catch (IOException e) {
            throw new Add4jException(current + ": cannot write the checkpoint: " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * Reads the run's checkpoint and checks it whole, before anything is restored: the manifest, the trainer, the
     * step (from 0 to {@code maxStep}), that it lists exactly the files of {@code parts} and that each has its size
     * and SHA-256. Returns null when the run has no checkpoint.
     * @param maxStep the run's steps: a checkpoint past them is refused
     * @throws Add4jException one line naming the file that is missing, damaged, changed or of another run
     */
    public static Saved read(Path runDir, String trainer, Parts parts, long maxStep) {
        Path current = runDir.resolve(DIR), old = runDir.resolve(OLD);
        if (Files.exists(current)) return readDirectory(current, trainer, parts, maxStep);
        if (Files.exists(old)) return readDirectory(old, trainer, parts, maxStep);   // killed between a save's renames
        if (Files.exists(runDir.resolve(LEGACY))) return readLegacy(runDir, parts, maxStep);
        return null;
    }

    /**
     * Deletes what a save cut short by a kill left beside a complete {@code checkpoint/}: {@code checkpoint.new/},
     * {@code checkpoint.old/} and the temporary files of atomic writes in the run directory. For a resume, once
     * its checkpoint is read; without {@code checkpoint/} it deletes nothing (the next save does).
     */
    public static void tidy(Path runDir) {
        if (!Files.isDirectory(runDir.resolve(DIR))) return;
        try {
            deleteTree(runDir.resolve(NEW));
            deleteTree(runDir.resolve(OLD));
            AtomicFiles.deleteLeftovers(runDir);
        } catch (IOException e) {
            throw new Add4jException(runDir + ": cannot delete what an interrupted save left: " + AtomicFiles.reason(e), e);
        }
    }

    private static Saved readDirectory(Path dir, String trainer, Parts parts, long maxStep) {
        Path mf = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(mf))
            throw new Add4jException(mf + ": missing, so " + dir + " is not a complete checkpoint; it cannot be resumed");
        String text;
        try {
            text = Files.readString(mf);
        } catch (IOException e) {
            throw new Add4jException(mf + ": cannot read: " + AtomicFiles.reason(e), e);
        }
        Manifest m = Json.readStrict(text, mf.toString(), Manifest.class);
        if (m.format() != FORMAT) throw new Add4jException(mf + ": format " + m.format() + "; this add4j reads format " + FORMAT);
        if (!m.trainer().equals(trainer))
            throw new Add4jException(mf + ": a checkpoint of the '" + m.trainer() + "' trainer, not of '" + trainer + "'");
        checkStep(mf, m.step(), maxStep);
        if (!m.files().keySet().equals(parts.files()))
            throw new Add4jException(mf + ": lists " + new TreeSet<>(m.files().keySet()) + ", but this trainer's checkpoint is " + parts.files());
        Map<String, Path> optimizers = new LinkedHashMap<>();
        for (var e : m.files().entrySet()) {
            Path f = dir.resolve(e.getKey());
            if (!Files.isRegularFile(f)) throw new Add4jException(f + ": missing; the checkpoint is incomplete and cannot be resumed");
            Part got, want = e.getValue();
            try {
                got = part(f);
            } catch (IOException x) {
                throw new Add4jException(f + ": cannot read: " + AtomicFiles.reason(x), x);
            }
            if (!got.equals(want))
                throw new Add4jException(f + ": " + (got.bytes() != want.bytes() ? got.bytes() + " bytes, the manifest says " + want.bytes()
                        : "its SHA-256 is not the manifest's") + ": changed or damaged since the checkpoint was written (or from another one); "
                        + "it cannot be resumed");
        }
        parts.optimizers().keySet().forEach(n -> optimizers.put(n, dir.resolve(n + ".pt")));
        return new Saved(mf, m.step(), m.config().toString(), m.extra(), dir.resolve(TENSORS), optimizers);
    }

    /** An older add4j's three files: the metadata in the safetensors header, no hashes to check. */
    private static Saved readLegacy(Path runDir, Parts parts, long maxStep) {
        Path f = runDir.resolve(LEGACY);
        Map<String, String> meta;
        try (var scope = new PointerScope()) {                                       // the tensors are read again on restore
            meta = new LinkedHashMap<>(SafeTensors.read(f).metadata());
        }
        String step = meta.remove("step"), config = meta.remove("config");
        if (step == null || !step.matches("\\d{1,18}"))
            throw new Add4jException(f + ": metadata 'step' is " + (step == null ? "missing" : "'" + step + "'") + ", not a non-negative integer");
        if (config == null) throw new Add4jException(f + ": metadata 'config' is missing");
        checkStep(f, Long.parseLong(step), maxStep);
        Map<String, Path> optimizers = new LinkedHashMap<>();
        for (String n : parts.optimizers().keySet()) {
            Path o = runDir.resolve(n + ".pt");
            if (!Files.isRegularFile(o)) throw new Add4jException(o + ": missing; cannot resume the optimiser");
            optimizers.put(n, o);
        }
        return new Saved(f, Long.parseLong(step), config, meta, f, optimizers);
    }

    private static void checkStep(Path source, long step, long maxStep) {
        if (step < 0) throw new Add4jException(source + ": step " + step + " is negative");
        if (step > maxStep)
            throw new Add4jException(source + ": step " + step + " is past the run's " + maxStep + " steps; resume with --steps " + step + " or more");
    }

    /** A checkpoint checked whole by {@link #read}, ready to restore. */
    public static final class Saved {
        private final Path source, tensors;
        private final long step;
        private final String config;
        private final Map<String, String> extra;
        private final Map<String, Path> optimizers;

        private Saved(Path source, long step, String config, Map<String, String> extra, Path tensors, Map<String, Path> optimizers) {
            this.source = source;
            this.step = step;
            this.config = config;
            this.extra = Map.copyOf(extra);
            this.tensors = tensors;
            this.optimizers = optimizers;
        }

        /** The steps done when it was saved. */
        public long step() { return step; }
        /** What messages about it name: its manifest (or an older add4j's checkpoint file). */
        public Path source() { return source; }
        /** The trainer's further metadata. */
        public Map<String, String> extra() { return extra; }

        /** The run's config, read as {@code type}; an error names the checkpoint. */
        public <T> T config(Class<T> type) {
            try {
                return Json.read(config, type);
            } catch (Add4jException e) {
                throw new Add4jException(source + ": config: " + e.getMessage().replaceFirst("^json: ", ""), e);
            }
        }

        /**
         * Copies the saved weights, buffers and optimiser states into {@code parts}, whose networks are on {@code device}.
         * @throws Add4jException naming the file when a tensor is missing, extra or of another shape, or an optimiser's
         *         state does not fit its optimiser
         */
        public void restore(Parts parts, Device device) {
            try (var scope = new PointerScope()) {
                Map<String, Tensor> all = SafeTensors.read(tensors).tensors();
                Set<String> used = new HashSet<>();
                for (var e : parts.modules().entrySet()) {
                    Module m = e.getValue();
                    m.load(slice(all, e.getKey() + ".", device, used), tensors + " (" + e.getKey() + ")");
                    if (!m.namedBuffers().isEmpty())
                        m.loadBuffers(slice(all, e.getKey() + BUFFERS, device, used), tensors + " (" + e.getKey() + " buffers)");
                }
                List<String> left = new ArrayList<>(new TreeSet<>(all.keySet()));
                left.removeAll(used);
                if (!left.isEmpty())
                    throw new Add4jException(tensors + ": " + left.size() + " tensors of no network of this run, e.g. '" + left.get(0) + "'");
            }
            parts.optimizers().forEach((name, opt) -> {
                Path f = optimizers.get(name);
                try (InputArchive in = new InputArchive()) {
                    in.load_from(f.toString());
                    opt.load(in);
                } catch (RuntimeException e) {                                       // libtorch's c10::Error, with a C++ trace
                    String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("").trim();
                    throw new Add4jException(f + ": not an optimiser state this run can load (" + why + ")", e);
                }
            });
        }

        private static Map<String, Tensor> slice(Map<String, Tensor> all, String prefix, Device device, Set<String> used) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            all.forEach((k, v) -> {
                if (k.startsWith(prefix)) {
                    out.put(k.substring(prefix.length()), v.to(device, torch.ScalarType.Float));
                    used.add(k);
                }
            });
            return out;
        }
    }

    /** A file's size and SHA-256. */
    private static Part part(Path f) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);                                     // every Java has it
        }
        long n = 0;
        try (InputStream in = Files.newInputStream(f)) {
            byte[] buf = new byte[1 << 20];
            for (int r; (r = in.read(buf)) > 0; n += r) sha.update(buf, 0, r);
        }
        return new Part(n, HexFormat.of().formatHex(sha.digest()));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> all = Files.walk(dir)) {                                  // does not follow links
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static void pause(String stage) {
        if (PAUSE_MS <= 0) return;
        System.err.println("checkpoint: " + stage);
        try {
            Thread.sleep(PAUSE_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
