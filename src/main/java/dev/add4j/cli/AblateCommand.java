package dev.add4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.ablate.AblationPage;
import dev.add4j.ablate.RunResult;
import dev.add4j.ablate.Study;
import dev.add4j.ablate.StudyDir;
import dev.add4j.ablate.StudyReport;
import dev.add4j.add.AddTrainer;
import dev.add4j.data.CaptionTable;
import dev.add4j.data.FashionMnist;
import dev.add4j.data.ImageFolder;
import dev.add4j.data.TrainingData;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.dist.Group;
import dev.add4j.eval.EvalNet;
import dev.add4j.eval.Evaluation;
import dev.add4j.eval.TestData;
import dev.add4j.features.Vit;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Json;
import dev.add4j.io.ModelFile;
import dev.add4j.io.Provenance;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * {@code add4j ablate}: the paper's Table 1 as one resumable study. Each row is an {@code add4j distill} command (the
 * paper's settings plus the row's flags) followed by an {@code add4j eval} at 1 step, both run in this process, one
 * after another or {@code --parallel N} at once; a run is done when its {@code result.json} exists (written last,
 * atomically), so {@code --resume} after any interruption, kill -9 included, redoes only runs that were not done.
 * Files: {@link StudyDir}.
 */
@Command(name = "ablate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Reproduce the ADD paper's Table 1 with one command: every row of the table that applies here "
                + "(a: the feature network, b: the discriminator's condition, c: the student's initialisation, d: the "
                + "losses and the distillation weighting, f: teacher steps) and add4j's own additions (own), each an add4j "
                + "distill run from the same teacher with the paper's settings plus the row's flags, the same iterations, "
                + "batch and seeds, then add4j eval at 1 step. Writes OUT/index.html (the table beside the paper's numbers, "
                + "a verdict per group, grids, curves, commands, wall times), OUT/ablation.json and OUT/ablation.md.",
                "Resumable: after an interruption (kill -9 included), the same command with --resume redoes only the runs "
                        + "that had not finished; finished runs are never recomputed."})
public final class AblateCommand implements Callable<Integer> {
    static final Path DEFAULT_SUPERVISED = Path.of("models", "features-sup-fmnist.safetensors");
    static final Path DEFAULT_SSL = Path.of("models", "features-ssl-fmnist.safetensors");
    static final String TITLE = "add4j ablate: the ADD paper's Table 1 on Fashion-MNIST", TITLE_FOLDER = "add4j ablate: the ADD paper's Table 1 on captioned folder ";
    /**
     * Iterations between a run's checkpoints: after a non-finite loss, distill restarts from the last one
     * ({@code --max-restarts}, its default); a NaN the maths makes comes back, and the run is then "diverged".
     */
    static final int CHECKPOINT_EVERY = 25;
    /** Log records per run: enough points for its curves. */
    static final int LOG_POINTS = 20;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The study's directory: new or empty, or "
            + "an interrupted study's with --resume.") Path out;
    @Option(names = "--rows", paramLabel = "LIST", description = "Groups to run, comma-separated: a, b, c, d, e (does not "
            + "apply here), f, own (default: all).") String rows;
    @Option(names = "--budget", defaultValue = "quick", paramLabel = "quick|full", description = "quick: "
            + "60 iterations at batch 16, n 200, seed 0 (under 30 minutes on 2 CPU cores); full: 200 iterations at batch 32, "
            + "n 500, seeds 0,1 (hours on a CPU) (default: ${DEFAULT-VALUE}).") String budget;
    @Option(names = "--seeds", paramLabel = "LIST", description = "Training seeds of every row, e.g. 0,1 (default: the budget's).") String seeds;
    @Option(names = "--iterations", description = "ADD iterations per row (default: the budget's).") Integer iterations;
    @Option(names = "--batch", description = "Images per iteration (default: the budget's).") Integer batch;
    @Option(names = "--n", description = "Images of each row's 1-step evaluation, a multiple of 10 (default: the budget's).") Integer n;
    @Option(names = "--eval-seed", defaultValue = "0", description = "Seed of the evaluation's prompts and noise, the same "
            + "for every row (default: ${DEFAULT-VALUE}).") long evalSeed;
    @Option(names = "--parallel", defaultValue = "1", paramLabel = "N", description = "Runs at once; on a CPU each gets "
            + "cores/N threads unless --threads (default: ${DEFAULT-VALUE}).") int parallel;
    @Option(names = "--resume", description = "Continue the study in --out: finished runs are kept, unfinished ones are "
            + "done again from the start.") boolean resume;
    @Option(names = "--data", defaultValue = FashionMnist.EMBEDDED, paramLabel = "embedded|DIR", description = "Training and "
            + "test images (default: ${DEFAULT-VALUE}, the 4,000-image subset in the jar).") String data;
    @Option(names = "--teacher", paramLabel = "FILE", description = "The teacher (default: models/teacher-fmnist.safetensors).") Path teacher;
    @Option(names = "--features", paramLabel = "FILE", description = "The DINO-trained feature ViT, the paper's backbone "
            + "(default: models/features-fmnist.safetensors).") Path features;
    @Option(names = "--supervised-features", paramLabel = "FILE", description = "The supervised feature ViT of row "
            + "vit-supervised (default: models/features-sup-fmnist.safetensors).") Path supervised;
    @Option(names = "--ssl-features", paramLabel = "FILE", description = "The self-supervised feature ViT of row vit-ssl "
            + "(default: models/features-ssl-fmnist.safetensors).") Path ssl;
    @Option(names = "--eval-net", paramLabel = "FILE", description = "The eval net (default: models/evalnet-fmnist.safetensors).") Path evalNet;
    @Option(names = "--caption-cache", hidden = true, paramLabel = "FILE", description = "Cache of the training captions' "
            + "embeddings (default: OUT/captions.safetensors; the tests share one).") Path captionCache;
    @Mixin Outputs.Force force;
    @Mixin Main.DeviceOption deviceOption;

    /** One run to make: a row at a seed, and its two command lines (verb first). */
    record Job(Study.Run run, long seed, List<String> distill, List<String> eval) {
        String name() { return StudyDir.runName(run.name(), seed); }
    }

    private StudyDir dir;
    private Study.Protocol protocol;
    private List<Study.Group> groups;
    private List<Study.Run> runs;
    private List<Long> seedList;
    private final Map<String, List<RunResult>> results = new LinkedHashMap<>();
    private Map<String, String> settings;
    private int threadsPerRun;

    @Override
    public Integer call() throws Exception {
        // 1. every check on the options and files, and every row's commands, before anything is written
        Study.Budget b = Study.Budget.parse(budget);
        groups = Study.select(rows != null ? rows : String.join(",", Study.groupIds()));
        seedList = seeds != null ? parseSeeds(seeds) : b.seeds;
        int it = iterations != null ? iterations : b.iterations, bs = batch != null ? batch : b.batch, evalN = n != null ? n : b.n;
        if (it < 1) throw new Add4jException("--iterations must be >= 1, got " + it);
        if (bs < 2) throw new Add4jException("--batch must be >= 2, got " + bs);
        TestData.checkN(data, "--n", evalN);
        if (parallel < 1) throw new Add4jException("--parallel must be >= 1, got " + parallel);
        Group group = Group.current();
        if (group.size() > 1 && parallel > 1)
            throw new Add4jException("--parallel " + parallel + ": on " + group.size() + " ranks each run is data-parallel over all of them, one run at a time; leave --parallel at 1");
        Path teacherFile = DistillCommand.existing(teacher != null ? teacher : DistillCommand.DEFAULT_TEACHER, "--teacher", "add4j train-teacher --out DIR");
        Path featuresFile = DistillCommand.existing(features != null ? features : DistillCommand.DEFAULT_FEATURES, "--features", "add4j train-features --out FILE");
        Path netFile = EvalCommand.evalNetFile(data, evalNet);
        dir = new StudyDir(out);
        Path supFile = supervised != null ? supervised : DEFAULT_SUPERVISED;
        Path sslFile = ssl != null ? ssl : DEFAULT_SSL;
        int pairs = (int) Math.min(b.pairs, (long) it * bs);
        protocol = new Study.Protocol(b.cliName(), it, bs, evalN, evalSeed, Math.max(pairs, bs), b.pairTeacherSteps, data,
                teacherFile.toString(), featuresFile.toString(), supFile.toString(), sslFile.toString(), netFile.toString());
        runs = Study.runsOf(groups, Study.runs(protocol, out.resolve(StudyDir.UNTRAINED_VIT).toString()));
        if (runs.isEmpty()) throw new Add4jException("--rows " + rows + ": nothing to run (group e does not apply here)");
        if (needs(Study.VIT_SUPERVISED)) DistillCommand.existing(supFile, "--supervised-features", "add4j train-features --objective supervised --out FILE");
        if (needs(Study.VIT_SSL)) DistillCommand.existing(sslFile, "--ssl-features", "add4j train-features --stem conv --masked-tokens 1 --out FILE");
        Device device = deviceOption.init();
        checkShapes(teacherFile, featuresFile, netFile, supFile, sslFile);   // bad data or files fail here, not in a run
        // as the demo: libtorch warns "Could not initialize NNPACK" on each CPU convolution where NNPACK cannot run,
        // and the convolutions it falls back to are what runs then anyway
        torch.globalContext().setUserEnabledNNPACK(false);
        int cores = Runtime.getRuntime().availableProcessors();
        if (!device.is_cuda() && parallel > cores)
            throw new Add4jException("--parallel " + parallel + ": only " + cores + " cores here; each run needs one");
        Integer rowThreads = deviceOption.threads != null ? deviceOption.threads : parallel > 1 && !device.is_cuda() ? Math.max(1, cores / parallel) : null;
        threadsPerRun = rowThreads != null ? rowThreads : torch.get_num_threads();
        Path captions = captionCache != null ? captionCache : out.resolve(StudyDir.CAPTIONS);
        List<Job> jobs = new ArrayList<>();
        for (Study.Run r : runs)
            for (long seed : seedList) jobs.add(job(dir, protocol, r, seed, captions, deviceOption.device, rowThreads));
        for (Job j : jobs) check(j);

        if (!group.isMain()) return follow(group, jobs, featuresFile);
        // 2. the directory: a new study, or the one to resume with the same protocol
        Outputs.runDirectory(out, force.force, resume);
        Path studyFile = out.resolve(StudyDir.STUDY);
        if (resume) {
            if (!Files.isRegularFile(studyFile))
                throw new Add4jException("--resume: " + out + " holds no ablation study (no " + StudyDir.STUDY + ")");
            Study.Protocol saved = Json.read(studyFile, Study.Protocol.class);
            if (!saved.equals(protocol))
                throw new Add4jException("--resume: " + out + " was started with other settings (" + Json.compact(saved)
                        + "); give the same --budget, --iterations, --batch, --n, --eval-seed, --data and files");
        } else if (Files.exists(studyFile)) {
            throw new Add4jException("--out " + out + " holds an ablation study: pass --resume to continue it, or choose another --out");
        }
        List<Job> todo = new ArrayList<>();
        for (Job j : jobs) {
            Path res = dir.result(j.run().name(), j.seed());
            if (!Files.isRegularFile(res)) {
                todo.add(j);
                continue;
            }
            RunResult saved = Json.read(res, RunResult.class);
            if (!withoutMachine(saved.distill()).equals(withoutMachine(j.distill())) || !withoutMachine(saved.eval()).equals(withoutMachine(j.eval())))
                throw new Add4jException(res + ": made by other commands than this study's (" + Provenance.commandLine("add4j", saved.distill())
                        + "): choose another --out");
            results.computeIfAbsent(j.run().name(), k -> new ArrayList<>()).add(saved);
        }

        // 3. the study's own files, under a lock: a second ablate in the same directory would redo this one's runs
        settings = settings(device, rowThreads);
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new Add4jException("--out " + out + ": cannot create the directory (" + e.getMessage() + ")", e);
        }
        try (FileChannel lockFile = FileChannel.open(out.resolve(StudyDir.LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = tryLock(lockFile)) {
            study(t0, studyFile, featuresFile, jobs, todo, device);
        }
        return 0;
    }

    /**
     * The data (a folder converted once, for every run) and every file the rows read must have the teacher's shape,
     * checked before the first run.
     */
    private void checkShapes(Path teacherFile, Path featuresFile, Path netFile, Path supFile, Path sslFile) {
        try (var scope = new PointerScope()) {
            VPredictionModel t = ModelFile.load(teacherFile, new Device("cpu")).model();
            if (!ImageFolder.isFolder(data)) ModelFile.requireFashionMnistShape(t, "--teacher " + teacherFile, "ablate");
            TrainingData.load(data, CaptionTable.TRAIN, t.channels(), t.imageSize(), System.out);
            TestData.open(data);
            String teacherName = "the teacher " + teacherFile;
            Map<String, Path> vits = new LinkedHashMap<>();
            vits.put("--features", featuresFile);
            if (needs(Study.VIT_SUPERVISED)) vits.put("--supervised-features", supFile);
            if (needs(Study.VIT_SSL)) vits.put("--ssl-features", sslFile);
            vits.forEach((option, f) -> {
                Vit.Config c = Vit.load(f).config();
                ModelFile.requireSameShape(t, teacherName, c.channels(), c.imageSize(), option + " " + f);
            });
            EvalNet.load(netFile, new Device("cpu")).requireShape(t.channels(), t.imageSize(), "--teacher " + teacherFile);
        }
    }

    /**
     * A rank other than 0 of a data-parallel study: it takes rank 0's list of the runs left to do, then computes its
     * share of each one's training and evaluation, in the same order; rank 0 alone writes the study's files.
     */
    private int follow(Group group, List<Job> jobs, Path featuresFile) throws Exception {
        double[] left = group.allReduceSum(new double[jobs.size()]);
        // rank 0 has written the untrained ViT by now; a rank on another machine, whose --out is not node 0's, makes
        // the same (seeded) one there
        if (needs(Study.VIT_UNTRAINED)) untrainedVit(featuresFile, out.resolve(StudyDir.UNTRAINED_VIT));
        List<Job> todo = new ArrayList<>();
        for (int i = 0; i < jobs.size(); i++) if (left[i] > 0) todo.add(jobs.get(i));
        runAll(todo);
        return 0;
    }

    /** An exclusive lock on the study, released when this process ends however it ends. */
    private FileLock tryLock(FileChannel file) throws IOException {
        FileLock lock;
        try {
            lock = file.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException e) {
            lock = null;
        }
        if (lock == null) throw new Add4jException("--out " + out + ": another add4j ablate is running there (" + StudyDir.LOCK + ")");
        return lock;
    }

    private void study(long t0, Path studyFile, Path featuresFile, List<Job> jobs, List<Job> todo, Device device) throws Exception {
        Files.createDirectories(out.resolve(StudyDir.ROWS));
        if (!resume) AtomicFiles.writeString(studyFile, Json.write(protocol) + "\n");
        if (needs(Study.VIT_UNTRAINED)) untrainedVit(featuresFile, out.resolve(StudyDir.UNTRAINED_VIT));
        Group group = Group.current();
        if (group.size() > 1) {                      // the other ranks run what rank 0 found left to do (follow)
            double[] left = new double[jobs.size()];
            for (int i = 0; i < jobs.size(); i++) left[i] = todo.contains(jobs.get(i)) ? 1 : 0;
            group.allReduceSum(left);
        }
        writeReport();
        System.out.printf(Locale.ROOT, "ablate: %d rows x %d seeds = %d runs (%d done, %d to run), budget %s: %d iterations at "
                        + "batch %d, 1-step evaluation on %d images; %d at a time, device %s, %d threads%n",
                runs.size(), seedList.size(), jobs.size(), jobs.size() - todo.size(), todo.size(), protocol.budget(), protocol.iterations(),
                protocol.batch(), protocol.n(), parallel, device.str().getString(), threadsPerRun);
        for (Job j : todo)
            if (Files.exists(dir.rowDir(j.run().name(), j.seed()))) {
                System.out.println("ablate: " + j.name() + " did not finish: doing it again from the start");
                deleteTree(dir.rowDir(j.run().name(), j.seed()));
            }

        // 4. the runs
        runAll(todo);
        StudyReport report = writeReport();
        System.out.print(report.markdown());
        System.out.printf(Locale.ROOT, "ablate: %d runs in %s (this start: %s)%n", report.done(), TrainLoop.duration(report.wallSeconds()),
                TrainLoop.duration((System.nanoTime() - t0) / 1e9));
        System.out.println("report: " + out.resolve(StudyDir.PAGE).toAbsolutePath().normalize());
    }

    private boolean needs(String run) { return runs.stream().anyMatch(r -> r.name().equals(run)); }

    /**
     * A run's commands: the base's options, then the row's flags, each replacing the option of its name.
     * @param device  --device of every command (null: their default)
     * @param threads --threads of every command (null: their default)
     */
    static Job job(StudyDir dir, Study.Protocol protocol, Study.Run r, long seed, Path captions, String device, Integer threads) {
        Path trainDir = dir.trainDir(r.name(), seed);
        Map<String, String> d = new LinkedHashMap<>();
        d.put("--out", trainDir.toString());
        d.put("--preset", Study.BASE_PRESET);
        d.put("--steps", Integer.toString(protocol.iterations()));
        d.put("--batch", Integer.toString(protocol.batch()));
        d.put("--seed", Long.toString(seed));
        d.put("--data", protocol.data());
        d.put("--teacher", protocol.teacher());
        d.put("--features", protocol.features());
        d.put("--caption-cache", captions.toString());
        d.put("--sample-every", "0");
        d.put("--log-every", Integer.toString(Math.max(1, protocol.iterations() / LOG_POINTS)));
        d.put("--checkpoint-every", Integer.toString(CHECKPOINT_EVERY));
        machine(d, device, threads);
        for (int i = 0; i < r.flags().size(); i += 2) d.put(r.flags().get(i), r.flags().get(i + 1));
        Map<String, String> e = new LinkedHashMap<>();
        e.put("--model", trainDir.resolve(AddTrainer.MODEL).toString());
        e.put("--steps", "1");
        e.put("--n", Integer.toString(protocol.n()));
        e.put("--seed", Long.toString(protocol.evalSeed()));
        e.put("--data", protocol.data());
        e.put("--eval-net", protocol.evalNet());
        e.put("--batch", Integer.toString(EvalCommand.CPU_BATCH)); // the same on every device: the numbers do not move with it
        e.put("--caption-cache", captions.toString());
        e.put("--out", dir.evalDir(r.name(), seed).toString());
        machine(e, device, threads);
        return new Job(r, seed, args("distill", d), args("eval", e));
    }

    private static void machine(Map<String, String> m, String device, Integer threads) {
        if (device != null) m.put("--device", device);
        if (threads != null) m.put("--threads", threads.toString());
    }

    private static List<String> args(String verb, Map<String, String> options) {
        List<String> a = new ArrayList<>(List.of(verb));
        options.forEach((k, v) -> { a.add(k); a.add(v); });
        return List.copyOf(a);
    }

    /** The arguments without --device and --threads: where a run ran does not make it another run. */
    private static List<String> withoutMachine(List<String> args) {
        List<String> a = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            if ((args.get(i).equals("--device") || args.get(i).equals("--threads")) && i + 1 < args.size()) i++;
            else a.add(args.get(i));
        }
        return a;
    }

    /** Both commands of a run parse, and its ADD config is valid: a bad row fails before any run starts. */
    static void check(Job j) {
        try {
            DistillCommand d = new DistillCommand();
            new CommandLine(d).parseArgs(j.distill().subList(1, j.distill().size()).toArray(String[]::new));
            d.config();
            new CommandLine(new EvalCommand()).parseArgs(j.eval().subList(1, j.eval().size()).toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new Add4jException("row " + j.run().name() + ": " + Main.firstLine(e.getMessage()));
        } catch (Add4jException e) {
            throw new Add4jException("row " + j.run().name() + ": " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Running

    private void runAll(List<Job> todo) throws Exception {
        if (todo.isEmpty()) return;
        AtomicBoolean stop = new AtomicBoolean();
        try (ThreadOutput output = new ThreadOutput()) {
            ExecutorService pool = Executors.newFixedThreadPool(parallel, r -> {
                Thread t = new Thread(() -> {
                    // the study's thread count, set on the worker itself: a run computes with the same count whichever
                    // thread it runs on (DistillCommand and EvalCommand set one only when given --threads)
                    torch.set_num_threads(threadsPerRun);
                    r.run();
                }, "ablate-run");
                t.setDaemon(true);
                return t;
            });
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int i = 0; i < todo.size(); i++) {
                    Job j = todo.get(i);
                    String position = (i + 1) + "/" + todo.size();
                    futures.add(pool.submit(() -> {
                        if (stop.get()) return null; // an earlier run failed: start nothing new
                        try {
                            if (Group.current().isMain()) record(runOne(j, position, output));
                            else runShare(j);
                        } catch (Exception | Error e) {
                            stop.set(true);
                            throw e;
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    try {
                        f.get();
                    } catch (java.util.concurrent.ExecutionException e) {
                        // the other runs finish first (a run in libtorch cannot be interrupted); then the first failure
                        pool.shutdown();
                        for (Future<?> g : futures) try { g.get(); } catch (java.util.concurrent.ExecutionException ignored) { /* the first counts */ }
                        if (e.getCause() instanceof Exception ex) throw ex;
                        throw e;
                    }
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    /** Trains, evaluates and writes the run's result.json; a run whose loss or images are not finite is "diverged". */
    private RunResult runOne(Job j, String position, ThreadOutput output) throws Exception {
        String run = j.run().name();
        Path rowDir = dir.rowDir(run, j.seed()), trainDir = dir.trainDir(run, j.seed());
        Files.createDirectories(rowDir);
        Console console = new Console(output);
        console.say("ablate " + position + ": " + j.name() + ": " + j.run().what());
        try (ThreadOutput.RunLog log = new ThreadOutput.RunLog(dir.console(run, j.seed()), output.console(), j.name())) {
            output.route(log);
            try {
                System.out.println(Provenance.commandLine("add4j", j.distill()));
                long t0 = System.nanoTime(), cpu0 = processCpuNanos();
                String diverged = null;
                DistillCommand d = new DistillCommand();
                try {
                    distill(d, j);
                } catch (TrainLoop.NonFinite e) {
                    diverged = "training: " + e.what() + " (after " + d.restartsTaken + " restarts)";
                }
                int restarts = d.restartsTaken;
                double trainSeconds = (System.nanoTime() - t0) / 1e9;
                Evaluation.Row metrics = null;
                double evalSeconds = 0;
                if (diverged == null) {
                    long t1 = System.nanoTime();
                    System.out.println(Provenance.commandLine("add4j", j.eval()));
                    try {
                        EvalCommand e = new EvalCommand();
                        new CommandLine(e).parseArgs(j.eval().subList(1, j.eval().size()).toArray(String[]::new));
                        e.call();
                        metrics = Json.read(dir.evalDir(run, j.seed()).resolve("metrics.json"), Evaluation.Report.class).rows().get(0);
                    } catch (RuntimeException e) {
                        if (!notFinite(e)) throw e;
                        diverged = "evaluation: " + Main.firstLine(e.getMessage());
                    }
                    evalSeconds = (System.nanoTime() - t1) / 1e9;
                }
                Double cpuSeconds = parallel == 1 ? (processCpuNanos() - cpu0) / 1e9 : null;
                RunResult res = new RunResult(run, j.seed(), diverged == null ? RunResult.DONE : RunResult.DIVERGED, diverged,
                        j.distill(), j.eval(), trainSeconds, evalSeconds, cpuSeconds, restarts, metrics, lastDAcc(dir.trainingLog(run, j.seed())));
                AtomicFiles.writeString(dir.result(run, j.seed()), Json.write(res) + "\n");
                console.say(String.format(Locale.ROOT, "ablate %s: %s %s: %s (training %s, evaluation %s%s)", position, j.name(),
                        res.status(), metrics != null ? String.format(Locale.ROOT, "FID %.2f, CLIP score %.2f, class accuracy %.3f, recall %.3f",
                                metrics.fid(), metrics.clipScore(), metrics.classAccuracy(), metrics.recall()) : diverged,
                        TrainLoop.duration(trainSeconds), TrainLoop.duration(evalSeconds),
                        cpuSeconds != null ? "; CPU time " + TrainLoop.duration(cpuSeconds) : ""));
                return res;
            } finally {
                output.unroute();
                // a run's networks are Java objects that own their tensors (nn.Module retains them), freed only when
                // collected: without a collection after each run, the process grew by 300-400 MB a run
                System.gc();
            }
        }
    }

    /** A rank's share of a run on several ranks: as {@link #runOne}, with nothing written or recorded. */
    private static void runShare(Job j) throws Exception {
        try {
            try {
                distill(new DistillCommand(), j);
            } catch (TrainLoop.NonFinite e) {
                return;                  // on every rank alike: rank 0 records the run as diverged
            }
            EvalCommand e = new EvalCommand();
            new CommandLine(e).parseArgs(j.eval().subList(1, j.eval().size()).toArray(String[]::new));
            try {
                e.call();
            } catch (RuntimeException ex) {
                if (!notFinite(ex)) throw ex;
            }
        } finally {
            System.gc();                 // as runOne
        }
    }

    /** CPU time of this process so far (every thread, libtorch's included). */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** The study's own lines, on the console, whatever thread prints them. */
    private record Console(ThreadOutput output) {
        void say(String line) {
            synchronized (output.console()) { output.console().println(line); }
        }
    }

    /** Runs {@code d} on the job's distill command line, in this process. */
    private static void distill(DistillCommand d, Job j) throws Exception {
        new CommandLine(d).parseArgs(j.distill().subList(1, j.distill().size()).toArray(String[]::new));
        d.command = Provenance.commandLine("add4j", j.distill());
        d.call();
    }

    /** Non-finite images or weights: the run diverged (the eval's metrics and model loading refuse them). */
    private static boolean notFinite(RuntimeException e) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        return (e instanceof Add4jException || e instanceof IllegalArgumentException) && (m.contains("NaN") || m.contains("non-finite"));
    }

    /** The mean discriminator accuracy of the last record of the training log (null: none logged). */
    private static Double lastDAcc(Path log) {
        if (!Files.isRegularFile(log)) return null;
        try {
            List<String> lines = Files.readAllLines(log);
            for (int i = lines.size() - 1; i >= 0; i--) {
                if (lines.get(i).isBlank()) continue;
                JsonNode v = Json.tree(lines.get(i)).get("d_acc");
                return v != null && v.isNumber() && Double.isFinite(v.asDouble()) ? v.asDouble() : null;
            }
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private synchronized void record(RunResult r) {
        results.computeIfAbsent(r.run(), k -> new ArrayList<>()).add(r);
        writeReport();
    }

    /** ablation.json, ablation.md and index.html from the runs finished so far. */
    private synchronized StudyReport writeReport() {
        Map<String, List<RunResult>> sorted = new LinkedHashMap<>();
        results.forEach((k, v) -> sorted.put(k, v.stream().sorted(Comparator.comparingLong(RunResult::seed)).toList()));
        StudyReport r = StudyReport.of(ImageFolder.isFolder(protocol.data()) ? TITLE_FOLDER + protocol.data() : TITLE, protocol, seedList, Main.invocation(), groups, runs, sorted);
        AtomicFiles.writeString(out.resolve(StudyDir.JSON), Json.write(r) + "\n");
        AtomicFiles.writeString(out.resolve(StudyDir.MARKDOWN), r.markdown());
        AblationPage.write(dir, r, settings);
        return r;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Files

    /** A fresh ViT of the DINO file's shape, seeded (0), for row vit-untrained; kept when a resumed study has it. */
    private static void untrainedVit(Path dinoFile, Path file) {
        if (Files.isRegularFile(file)) return;
        try (var scope = new PointerScope()) {
            Vit dino = Vit.load(dinoFile);
            synchronized (TorchRuntime.GLOBAL_GENERATOR) {
                torch.manual_seed(0);
                Map<String, String> meta = Provenance.of(Main.invocation());
                meta.put("add4j.features", "untrained: initial weights of seed 0, the shape of " + dinoFile);
                new Vit(dino.config()).save(file, meta);
            }
        }
    }

    private Map<String, String> settings(Device device, Integer rowThreads) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("command", Main.invocation());
        m.put("budget", String.format(Locale.ROOT, "%s: %d ADD iterations at batch %d per row, seeds %s; 1-step evaluation on %d "
                        + (ImageFolder.isFolder(protocol.data()) ? "test-caption" : "class-balanced") + " images, seed %d; teacher pairs of the regressing rows: %d of the teacher's %d-step DDIM",
                protocol.budget(), protocol.iterations(), protocol.batch(), seedList, protocol.n(), protocol.evalSeed(), protocol.pairs(),
                protocol.pairTeacherSteps()));
        m.put("base", "add4j distill --preset paper: the paper's settings (DINO ViT's heads, text + image condition, student "
                + "from the teacher, adversarial + distillation loss with lambda 2.5, exp weighting, 1 teacher step, DiffAugment, "
                + "R1 1e-5, student lr 2e-5)");
        m.put("teacher", protocol.teacher());
        m.put("feature ViTs", "DINO: " + protocol.features() + "; supervised: " + protocol.supervised() + "; self-supervised: "
                + protocol.selfSupervised() + "; untrained: "
                + StudyDir.UNTRAINED_VIT);
        m.put("eval net", protocol.evalNet());
        m.put("data", ImageFolder.isFolder(protocol.data()) ? "captioned folder " + protocol.data() : FashionMnist.describe(protocol.data()));
        m.put("device", device.str().getString() + ", " + parallel + " run(s) at a time, "
                + threadsPerRun + " libtorch threads each, "
                + Runtime.getRuntime().availableProcessors() + " cores visible to the JVM");
        Map<String, String> prov = Provenance.of(Main.invocation());
        m.put("made", prov.get("add4j.created") + ", git commit " + prov.get("add4j.git_commit") + ", Java " + prov.get("add4j.java")
                + ", " + prov.get("add4j.os") + ", " + prov.get("add4j.libtorch"));
        return m;
    }

    static List<Long> parseSeeds(String csv) {
        List<Long> out = new ArrayList<>();
        for (String p : csv.split(",", -1)) {
            long s;
            try {
                s = Long.parseLong(p.trim());
            } catch (NumberFormatException e) {
                throw new Add4jException("--seeds: '" + p.trim() + "' is not an integer; expected a list like 0,1");
            }
            if (s < 0) throw new Add4jException("--seeds: " + s + " is negative");
            if (out.contains(s)) throw new Add4jException("--seeds: " + s + " is listed twice");
            out.add(s);
        }
        return List.copyOf(out);
    }

    /** Deletes a run's unfinished directory: files this command wrote, never a finished run's. */
    private static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).collect(Collectors.toList())) Files.delete(p);
        } catch (IOException e) {
            throw new Add4jException(root + ": cannot delete the unfinished run (" + e.getMessage() + ")", e);
        }
    }
}
