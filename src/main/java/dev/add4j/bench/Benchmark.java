package dev.add4j.bench;

import dev.add4j.Add4jException;
import dev.add4j.add.AddConfig;
import dev.add4j.add.AddStep;
import dev.add4j.add.AddTrainer;
import dev.add4j.add.Phases;
import dev.add4j.data.CaptionedImages;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.Noise;
import dev.add4j.diffusion.NoiseSchedule;
import dev.add4j.diffusion.Precision;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.disc.Discriminator;
import dev.add4j.features.Vit;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.FlopCounter;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code add4j bench}: how fast the student samples next to the teacher, and where the time of one ADD training
 * iteration goes. Every time is the median of several runs after a warm-up; on a GPU each reading of the clock
 * waits for the device. Nothing here depends on the command line.
 */
public final class Benchmark {
    private Benchmark() {}

    /** The student's step counts, as in the paper's tables. */
    public static final List<Integer> STUDENT_STEPS = List.of(1, 2, 4);
    /** Noise seed of the first image; [choice] any. */
    private static final long SEED = 0;
    /** Steps of a warm-up run: the first passes at a batch size pay for kernel selection and allocation; more warm nothing. */
    private static final int WARMUP_STEPS = 2;

    /**
     * How much to measure.
     * @param runs            timed runs per sampling row (fewer when {@code rowSeconds} runs out)
     * @param warmup          untimed runs before each row, and untimed training iterations
     * @param rowSeconds      a sampling row stops after the run that takes its timed runs past this (at least one
     *                        run), so that the teacher's 50 steps at a large batch cannot take many minutes on a CPU
     * @param batches         batch sizes of the sampling rows
     * @param teacherSteps    the teacher's DDIM steps
     * @param trainBatch      images per ADD iteration
     * @param trainIterations timed ADD iterations of each kind (0: no training rows)
     * @param precision       the UNet's number format in the sampling rows (training stays float32)
     */
    public record Options(int runs, int warmup, double rowSeconds, List<Integer> batches, int teacherSteps, int trainBatch,
                          int trainIterations, Precision precision) {
        public Options {
            if (precision == null) precision = Precision.FP32;
            if (runs < 1) throw new Add4jException("--runs must be >= 1, got " + runs);
            if (warmup < 0) throw new Add4jException("--warmup must be >= 0, got " + warmup);
            if (!(rowSeconds > 0)) throw new Add4jException("--row-seconds must be > 0, got " + rowSeconds);
            if (batches == null || batches.isEmpty()) throw new Add4jException("--batches: expected sizes like 1,64, got none");
            for (int b : batches) if (b < 1) throw new Add4jException("--batches: sizes must be >= 1, got " + batches);
            batches = List.copyOf(batches);
            if (teacherSteps < 1 || teacherSteps > NoiseSchedule.T)
                throw new Add4jException("--teacher-steps must be in 1.." + NoiseSchedule.T + ", got " + teacherSteps);
            if (trainBatch < 2) throw new Add4jException("--train-batch must be >= 2, got " + trainBatch);
            if (trainIterations < 0) throw new Add4jException("--train-iterations must be >= 0, got " + trainIterations);
        }
    }

    /**
     * The networks and data.
     * @param student      the student (a teacher file stands in when {@code isStudent()} is false)
     * @param teacher      the teacher
     * @param features     the discriminator's frozen feature network
     * @param data         real images and captions for the text conditions and the training batches
     * @param descriptions what each network is, for the report: student, teacher, features
     */
    public record Setup(ModelFile.Loaded student, ModelFile.Loaded teacher, Vit features, CaptionedImages data, Device device,
                        List<String> descriptions) {}

    /** Runs every measurement; progress lines go to {@code log}. */
    public static BenchResult run(Setup s, Options o, Map<String, String> provenance, PrintStream log) {
        Runnable sync = syncOf(s.device());
        boolean standIn = !s.student().isStudent();
        long passFlops = passFlops(s.student(), s.data(), s.device());
        long teacherPassFlops = passFlops(s.teacher(), s.data(), s.device());
        List<BenchResult.InferenceRow> rows = new ArrayList<>();
        List<BenchResult.Speedup> speedups = new ArrayList<>();
        for (int b : o.batches()) {
            BenchResult.InferenceRow fastest = null;
            for (int k : STUDENT_STEPS) {
                // a stand-in teacher is sampled as a student would be: ADD's sampler (on trailing timesteps)
                SamplingPlan plan = s.student().plan(k, standIn ? Samplers.Kind.ADD : null).with(o.precision());
                BenchResult.InferenceRow r = sampling("student", s.student(), plan, b, o, passFlops, s, sync, log);
                rows.add(r);
                if (fastest == null) fastest = r;
            }
            BenchResult.InferenceRow t = sampling("teacher", s.teacher(), s.teacher().plan(o.teacherSteps()).with(o.precision()), b, o,
                    teacherPassFlops, s, sync, log);
            rows.add(t);
            speedups.add(new BenchResult.Speedup(b, fastest.steps(), t.steps(), t.msPerImage() / fastest.msPerImage()));
        }
        BenchResult.Primitives primitives = primitives(s.device(), sync, log);
        BenchResult.Training training = o.trainIterations() > 0 ? training(s, o, sync, log) : null;
        List<String> notes = new ArrayList<>();
        if (standIn) notes.add("no student model yet: the teacher's network is sampled as the student, with ADD's sampler "
                + "(the same UNet, so the same cost per step)");
        notes.add("GFLOP: the products of linear, convolution and attention layers counted from the shapes run (norms, "
                + "activations and sampler arithmetic left out); a backward pass costs one product of the same size per "
                + "operand that needs a gradient (2x the forward for a trained layer, 1x for a frozen one)");
        if (training != null) notes.add("training: the timed iterations run the same code as training, with a device sync "
                + "at each phase boundary, so the phases add up to ms_per_iteration_timed, which can be a little longer than "
                + "ms_per_iteration; the hinge and R1 share one backward pass, so R1's backward is in discriminator; "
                + "r1's GFLOP (the penalty's input gradient) is an estimate, 1x the heads' forward on the real batch, and "
                + "discriminator's includes 2x that for R1's backward");
        return new BenchResult(s.device().str().getString(), torch.get_num_threads(), o.precision().cliName(),
                new BenchResult.Models(s.descriptions().get(0), standIn, s.descriptions().get(1), s.descriptions().get(2),
                        s.student().model().net().parameterCount(), passFlops / 1e9),
                primitives, rows, speedups, training, notes, provenance);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sampling

    /** One row: {@code runs} timed batches of {@code plan} after the warm-up, each in its own scope. */
    private static BenchResult.InferenceRow sampling(String role, ModelFile.Loaded m, SamplingPlan plan, int batch, Options o,
                                                     long passFlops, Setup s, Runnable sync, PrintStream log) {
        SamplingPlan warm = new SamplingPlan(plan.sampler(), plan.timesteps().subList(0, Math.min(WARMUP_STEPS, plan.steps())));
        List<Double> ms = new ArrayList<>();
        try (var rowScope = new PointerScope(); var g = new NoGradGuard()) {
            TextCond cond = s.data().batch(SEED, 0, batch, 0.0).cond();                        // encoded once, untimed
            Denoiser d = plan.denoiser(m.model());
            for (int i = 0; i < o.warmup(); i++) run(m, d, warm, batch, cond, s.device(), sync);
            double spent = 0;
            while (ms.size() < o.runs() && (ms.isEmpty() || spent < o.rowSeconds() * 1000)) {
                double t = run(m, d, plan, batch, cond, s.device(), sync);
                ms.add(t);
                spent += t;
            }
        }
        double median = median(ms), gflop = passFlops * (double) plan.steps() * batch / 1e9;
        var r = new BenchResult.InferenceRow(role, plan.samplerName(), plan.steps(), batch, ms.size(), median,
                ms.stream().mapToDouble(Double::doubleValue).min().orElseThrow(), median / batch, batch * 1000.0 / median,
                gflop, gflop / (median / 1000));
        log.printf(Locale.ROOT, "bench: %s %d step%s, batch %d: %.1f ms per batch (median of %d), %.2f ms/image%n",
                role, r.steps(), r.steps() == 1 ? "" : "s", batch, median, ms.size(), r.msPerImage());
        return r;
    }

    /** One timed batch: noise, the sampler, the copy to the CPU (which waits for a GPU). Milliseconds. */
    private static double run(ModelFile.Loaded m, Denoiser d, SamplingPlan plan, int batch, TextCond cond, Device device, Runnable sync) {
        try (var scope = new PointerScope()) {
            sync.run();
            long t0 = System.nanoTime();
            Noise noise = new Noise(SEED, batch);
            Tensor xT = noise.like(torch.empty(m.model().imageShape(batch))).to(device, torch.ScalarType.Float);
            Tensor x0 = plan.sample(d, m.model().schedule(), xT, cond, noise);                 // [B,C,32,32]
            x0.to(new Device("cpu"), torch.ScalarType.Float);
            return (System.nanoTime() - t0) / 1e6;
        }
    }

    /** Forward FLOPs of one UNet pass on one image (they scale with the batch). */
    private static long passFlops(ModelFile.Loaded m, CaptionedImages data, Device device) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            TextCond c = data.batch(SEED, 0, 1, 0.0).cond();
            Tensor x = torch.zeros(m.model().imageShape(1)).to(device, torch.ScalarType.Float);
            try (FlopCounter counter = FlopCounter.start()) {
                m.model().x0(x, NoiseSchedule.T - 1, c);
                return counter.forward();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Training

    /**
     * ADD iterations as {@link AddTrainer} builds them (paper defaults), first with the phases timed by a
     * {@link PhaseClock}, then without: the same step, so the two differ only by the clock's device syncs.
     */
    private static BenchResult.Training training(Setup s, Options o, Runnable sync, PrintStream log) {
        Path dir;
        try {
            dir = Files.createTempDirectory("add4j-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        AddConfig cfg = AddConfig.paperDefaults(1, o.trainBatch(), SEED);
        try (AddTrainer trainer = new AddTrainer(cfg, s.teacher(), s.features(), s.data(), dir, false, Map.of(), AddTrainer.Monitor.NONE)) {
            AddStep step = trainer.addStep();
            long headsFlops = headsForwardFlops(trainer.discriminator(), s.data(), o.trainBatch());
            PhaseClock clock = new PhaseClock(sync);
            step.timePhases(clock);
            Map<String, List<Double>> phaseMs = new LinkedHashMap<>();
            Map<String, Long> phaseFlops = Map.of();
            List<Double> timed = new ArrayList<>(), plain = new ArrayList<>();
            long it = 0;
            for (int i = 0; i < o.warmup() + o.trainIterations(); i++, it++) {
                try (var scope = new PointerScope()) {
                    CaptionedImages.Batch b = s.data().batch(SEED, it, o.trainBatch(), 0.0);
                    clock.begin();
                    step.step(b.x0(), b.cond(), it);
                    clock.end();
                }
                if (i < o.warmup()) continue;
                timed.add(clock.totalMs());
                clock.ms().forEach((k, v) -> phaseMs.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
                phaseFlops = clock.flops();
            }
            step.timePhases(Phases.NONE);
            for (int i = 0; i < o.trainIterations(); i++, it++) {
                try (var scope = new PointerScope()) {
                    CaptionedImages.Batch b = s.data().batch(SEED, it, o.trainBatch(), 0.0);
                    sync.run();
                    long t0 = System.nanoTime();
                    step.step(b.x0(), b.cond(), it);
                    sync.run();
                    plain.add((System.nanoTime() - t0) / 1e6);
                }
            }
            double timedMs = median(timed);
            List<BenchResult.Phase> phases = new ArrayList<>();
            long totalFlops = 0;
            for (String p : PhaseClock.GROUPS) {
                if (!phaseMs.containsKey(p)) continue;
                double ms = median(phaseMs.get(p));
                long f = phaseFlops.getOrDefault(p, 0L) + r1FlopsEstimate(p, headsFlops);
                totalFlops += f;
                phases.add(new BenchResult.Phase(p, ms, ms / timedMs, f / 1e9, f / 1e9 / (ms / 1000)));
            }
            var t = new BenchResult.Training(o.trainBatch(), o.trainIterations(), median(plain), timedMs, totalFlops / 1e9,
                    totalFlops / 1e9 / (timedMs / 1000), phases);
            log.printf(Locale.ROOT, "bench: ADD iteration at batch %d: %.1f ms (median of %d; %.1f ms with phases timed)%n",
                    o.trainBatch(), t.msPerIteration(), o.trainIterations(), timedMs);
            return t;
        } finally {
            deleteQuietly(dir);
        }
    }

    /**
     * R1's FLOPs in a group, which the counter cannot see (they run in libtorch's autograd, not in the layers): the
     * penalty's input gradient costs about one heads' forward on the real batch, and its backward, part of the
     * discriminator's one backward pass, about two.
     */
    private static long r1FlopsEstimate(String group, long headsForwardFlops) {
        return switch (group) {
            case PhaseClock.R1 -> headsForwardFlops;
            case PhaseClock.DISCRIMINATOR -> 2 * headsForwardFlops;
            default -> 0;
        };
    }

    /** Forward FLOPs of the discriminator heads on a real batch: the base of R1's estimate. */
    private static long headsForwardFlops(Discriminator disc, CaptionedImages data, int batch) {
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            CaptionedImages.Batch b = data.batch(SEED, 0, batch, 0.0);
            Tensor cond = disc.condition(b.cond(), b.x0());
            List<Tensor> inputs = disc.headInputs(b.x0(), b.cond(), torch.make_generator_cpu(SEED));
            try (FlopCounter counter = FlopCounter.start()) {
                disc.heads().logits(inputs, cond);
                return counter.forward();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Primitives

    /** Side of the square matrices of the matrix-multiply row: large enough that sgemm, not the call, is timed. */
    static final int MM_SIDE = 2048;
    /** Trivial ops per timed block of the per-op row, and blocks. */
    private static final int OPS_PER_BLOCK = 2000, OP_BLOCKS = 7;

    /**
     * What one libtorch call costs apart from its arithmetic, and what one large product achieves: torch.mm of two
     * float32 {@value #MM_SIDE}² matrices (GFLOP/s, the median of 5 after one warm-up), and a trivial op (adding two
     * one-element tensors, each result owned by a PointerScope, as the model's calls are) timed over
     * {@value #OPS_PER_BLOCK} calls, under NoGradGuard (as sampling runs) and under InferenceMode.
     */
    static BenchResult.Primitives primitives(Device device, Runnable sync, PrintStream log) {
        List<Double> mm = new ArrayList<>();
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            Tensor a = torch.randn(MM_SIDE, MM_SIDE).to(device, torch.ScalarType.Float), b = torch.randn(MM_SIDE, MM_SIDE).to(device, torch.ScalarType.Float);
            for (int i = 0; i < 6; i++) {
                try (var inner = new PointerScope()) {
                    sync.run();
                    long t0 = System.nanoTime();
                    torch.mm(a, b);
                    sync.run();
                    if (i > 0) mm.add((System.nanoTime() - t0) / 1e6);
                }
            }
        }
        double mmGflopPerS = 2.0 * MM_SIDE * MM_SIDE * MM_SIDE / 1e9 / (median(mm) / 1000);
        double noGrad, inference;
        try (var g = new NoGradGuard()) { noGrad = microsPerOp(device); }
        try (var g = new org.bytedeco.pytorch.InferenceMode()) { inference = microsPerOp(device); }
        var p = new BenchResult.Primitives(MM_SIDE, mmGflopPerS, dev.add4j.TorchRuntime.blasThreads(), noGrad, inference);
        log.printf(Locale.ROOT, "bench: torch.mm %d²: %.1f GFLOP/s (%d BLAS threads); a trivial op: %.2f µs (no-grad), %.2f µs (inference mode)%n",
                MM_SIDE, mmGflopPerS, p.blasThreads(), noGrad, inference);
        return p;
    }

    /** Microseconds per trivial op: the median over blocks, each in its own scope (the first block warms up). */
    private static double microsPerOp(Device device) {
        List<Double> us = new ArrayList<>();
        try (var scope = new PointerScope()) {
            Tensor x = torch.ones(1).to(device, torch.ScalarType.Float), y = torch.ones(1).to(device, torch.ScalarType.Float);
            for (int blk = 0; blk <= OP_BLOCKS; blk++) {
                try (var inner = new PointerScope()) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < OPS_PER_BLOCK; i++) x.add(y);
                    if (blk > 0) us.add((System.nanoTime() - t0) / 1e3 / OPS_PER_BLOCK);
                }
            }
        }
        return median(us);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers and the table

    /** Waits for the device: a CUDA device runs queued work later; on the CPU every call has finished when it returns. */
    static Runnable syncOf(Device device) {
        return device.is_cuda() ? torch::cuda_synchronize : () -> {};
    }

    static double median(List<Double> v) {
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        if (a.length == 0) return Double.NaN;
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a temporary directory left behind is not worth failing a finished bench for
        }
    }

    /** The result as text: header, sampling rows, speedups, training phases, notes. */
    public static String table(BenchResult r) {
        StringBuilder b = new StringBuilder();
        BenchResult.Models m = r.models();
        b.append(String.format(Locale.ROOT, "add4j bench on %s, %d libtorch thread%s, sampling in %s%n", r.device(), r.threads(),
                r.threads() == 1 ? "" : "s", r.precision()));
        b.append("  student:  ").append(m.student()).append('\n');
        b.append("  teacher:  ").append(m.teacher()).append('\n');
        b.append("  features: ").append(m.features()).append('\n');
        b.append(String.format(Locale.ROOT, "  UNet: %,d parameters, %.4f GFLOP per pass per image%n%n", m.unetParameters(), m.unetGflopPerPass()));
        BenchResult.Primitives pr = r.primitives();
        b.append(String.format(Locale.ROOT, "primitives: torch.mm %d² %.1f GFLOP/s (%d BLAS thread%s); a trivial op %.2f µs (no-grad), "
                + "%.2f µs (inference mode)%n%n", pr.mmSide(), pr.mmGflopPerS(), pr.blasThreads(), pr.blasThreads() == 1 ? "" : "s",
                pr.opMicrosNoGrad(), pr.opMicrosInference()));
        b.append("sampling (median of runs after warm-up: noise, sampler, copy to the CPU)\n");
        b.append(String.format(Locale.ROOT, "%-8s %-7s %5s %5s %4s %11s %10s %10s %10s %8s%n",
                "model", "sampler", "steps", "batch", "runs", "ms/batch", "min ms", "ms/image", "images/s", "GFLOP/s"));
        for (BenchResult.InferenceRow x : r.inference())
            b.append(String.format(Locale.ROOT, "%-8s %-7s %5d %5d %4d %11.1f %10.1f %10.2f %10.1f %8.1f%n",
                    x.model(), x.sampler(), x.steps(), x.batch(), x.runs(), x.msMedian(), x.msMin(), x.msPerImage(), x.imagesPerS(), x.gflopPerS()));
        b.append('\n');
        for (BenchResult.Speedup sp : r.speedups())
            b.append(String.format(Locale.ROOT, "speedup at batch %d: student %d step%s is %.1fx faster per image than teacher %d steps%n",
                    sp.batch(), sp.studentSteps(), sp.studentSteps() == 1 ? "" : "s", sp.speedup(), sp.teacherSteps()));
        BenchResult.Training t = r.training();
        if (t != null) {
            b.append(String.format(Locale.ROOT, "%ntraining: one ADD iteration at batch %d, median of %d: %.1f ms (%.2f it/s); "
                    + "with phases timed %.1f ms%n", t.batch(), t.iterations(), t.msPerIteration(), 1000 / t.msPerIteration(), t.msPerIterationTimed()));
            b.append(String.format(Locale.ROOT, "%-14s %10s %7s %9s %9s%n", "phase", "ms", "share", "GFLOP", "GFLOP/s"));
            for (BenchResult.Phase p : t.phases())
                b.append(String.format(Locale.ROOT, "%-14s %10.1f %6.1f%% %9.3f %9.1f%n",
                        p.phase() + (p.phase().equals(PhaseClock.R1) ? " (est.)" : ""), p.ms(), 100 * p.share(), p.gflop(), p.gflopPerS()));
            b.append(String.format(Locale.ROOT, "%-14s %10.1f %6.1f%% %9.3f %9.1f%n", "iteration", t.msPerIterationTimed(), 100.0, t.gflop(), t.gflopPerS()));
        }
        if (!r.notes().isEmpty()) b.append('\n');
        for (String n : r.notes()) b.append("note: ").append(n).append('\n');
        return b.toString();
    }

    /** Parses "1,64". */
    public static List<Integer> parseBatches(String csv) {
        try {
            return Arrays.stream(csv.split(",")).map(String::trim).map(Integer::parseInt).toList();
        } catch (NumberFormatException e) {
            throw new Add4jException("--batches: expected sizes like 1,64, got '" + csv + "'");
        }
    }
}
