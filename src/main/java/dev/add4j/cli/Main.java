package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.dist.Group;
import dev.add4j.dist.WorldEnv;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/** The add4j command-line tool: one subcommand per verb. Errors in the user's input print one line and exit 2. */
@Command(name = "add4j", mixinStandardHelpOptions = true, version = "add4j 0.1.0",
        description = "Adversarial Diffusion Distillation for the JVM: train a text-conditional teacher, distil it "
                + "into a 1-4 step student, sample, evaluate, serve.",
        subcommands = {TrainTeacherCommand.class, SampleCommand.class, TrainFeaturesCommand.class, TrainEvalNetCommand.class, EvalCommand.class,
                DistillCommand.class, LaunchCommand.class, AverageCommand.class, ServeCommand.class, BenchCommand.class, DemoCommand.class, AblateCommand.class, ProbeDiscCommand.class, KnnCommand.class, DataCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements java.util.concurrent.Callable<Integer> {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** No command: the usage, on standard error since it answers a mistake, and exit 2 like any bad input. */
    @Override public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    public static void main(String[] args) { System.exit(execute(args)); }

    /** Runs the tool and returns its exit code (0 ok, 1 internal failure, 2 bad input). */
    public static int execute(String... args) {
        invocation = "add4j " + String.join(" ", args);
        CommandLine cl = new CommandLine(new Main());
        cl.getSubcommands().get("launch").setStopAtPositional(true);   // COMMAND's own options are the worker's
        cl.setExecutionStrategy(Main::runInItsGroup);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable e = ex;
            while (e.getCause() != null && !(e instanceof Add4jException) && !(e instanceof IllegalArgumentException)) e = e.getCause();
            if (e instanceof Add4jException || e instanceof IllegalArgumentException) {
                cmd.getErr().println("error: " + firstLine(e.getMessage()));
                return 2;
            }
            cmd.getErr().println("error: " + ex);
            ex.printStackTrace(cmd.getErr());
            return 1;
        });
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine at = ex.getCommandLine();
            if (at.getCommand() instanceof Main && ex instanceof CommandLine.UnmatchedArgumentException u
                    && !u.getUnmatched().isEmpty() && !u.getUnmatched().get(0).startsWith("-")) {
                at.getErr().println("error: unknown command '" + u.getUnmatched().get(0) + "'; the commands are "
                        + String.join(", ", at.getSubcommands().keySet()) + " (see --help)");
                return 2;
            }
            at.getErr().println("error: " + firstLine(ex.getMessage()) + " (see --help)");
            return 2;
        });
        return cl.execute(args);
    }

    private static volatile String invocation = "add4j";

    /** The commands that run data-parallel on several ranks (see {@link LaunchCommand}). */
    static final Set<String> DATA_PARALLEL = Set.of("train-teacher", "distill", "train-features", "train-eval-net", "eval", "ablate");

    /** "a, b and c": the data-parallel commands, for messages. */
    static String dataParallelNames() {
        List<String> names = new ArrayList<>(new TreeSet<>(DATA_PARALLEL));
        return String.join(", ", names.subList(0, names.size() - 1)) + " and " + names.get(names.size() - 1);
    }

    /**
     * Runs the command; in a job of several ranks (torchrun's variables: {@code add4j launch} or a cluster's
     * scheduler set them) inside the job's process group, which it joins first and leaves at the end.
     */
    private static int runInItsGroup(CommandLine.ParseResult parsed) {
        Integer help = CommandLine.executeHelpRequest(parsed);
        if (help != null) return help;
        CommandLine.ParseResult sub = parsed.subcommand();
        CommandLine at = sub != null ? sub.commandSpec().commandLine() : parsed.commandSpec().commandLine();
        try {
            WorldEnv env = WorldEnv.of(System.getenv());
            if (!env.distributed()) return new CommandLine.RunLast().execute(parsed);
            String name = sub != null ? sub.commandSpec().name() : "";
            if (!DATA_PARALLEL.contains(name))
                throw new Add4jException("add4j " + name + " does not run on several ranks (WORLD_SIZE=" + env.worldSize()
                        + "); the data-parallel commands are " + dataParallelNames());
            boolean cuda = TorchRuntime.device(sub.matchedOptionValue("--device", (String) null)).is_cuda();
            try (Group group = Group.join(env, joinTimeout(), cuda)) {
                if (group.isMain())
                    System.err.printf("add4j: %d ranks joined at %s:%d (%s)%n", group.size(), env.masterAddr(), env.masterPort(), group.backendName());
                return new CommandLine.RunLast().execute(parsed);
            }
        } catch (Add4jException e) {
            throw new CommandLine.ExecutionException(at, e.getMessage(), e);
        }
    }

    /** How long the ranks wait for each other to join: ADD4J_JOIN_TIMEOUT seconds ({@code launch --join-timeout}). */
    private static Duration joinTimeout() {
        String v = System.getenv("ADD4J_JOIN_TIMEOUT");
        if (v == null || v.isBlank()) return Duration.ofSeconds(LaunchCommand.DEFAULT_JOIN_TIMEOUT);
        try {
            long s = Long.parseLong(v.trim());
            if (s >= 1) return Duration.ofSeconds(s);
        } catch (NumberFormatException e) { /* falls through to the error */ }
        throw new Add4jException("ADD4J_JOIN_TIMEOUT: expected seconds >= 1, got '" + v + "'");
    }

    /** The command line this process was started with, for provenance. */
    static String invocation() { return invocation; }

    static String firstLine(String s) {
        if (s == null) return "(no message)";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Options every compute command takes. */
    public static final class DeviceOption {
        @CommandLine.Option(names = "--device", paramLabel = "cpu|cuda",
                description = "Where to compute (default: cuda when libtorch sees one, else cpu).")
        public String device;

        @CommandLine.Option(names = "--threads", description = "libtorch intra-op threads (default: every core the JVM sees).")
        public Integer threads;

        /** Initialises libtorch with these options and returns the device. */
        public org.bytedeco.pytorch.Device init() {
            TorchRuntime.init();
            if (threads != null) TorchRuntime.setGivenThreads(threads);
            org.bytedeco.pytorch.Device d = TorchRuntime.device(device);
            Group group = Group.current();
            // ranks on one machine take a GPU each, by local rank, unless --device names one
            if (d.is_cuda() && !d.has_index() && group.size() > 1)
                return new org.bytedeco.pytorch.Device("cuda:" + group.localRank() % Math.max(1, org.bytedeco.pytorch.global.torch.cuda_device_count()));
            return d;
        }
    }

    /** The option of every command that trains with checkpoints: how often the run recovers from a non-finite step. */
    public static final class RestartOption {
        /** [choice] Measured: 3 sporadic NaN in about 500 demo iterations on the CPU, none of them again when the same
         *  iterations ran from the checkpoint; a NaN the maths makes comes back every time, so a few tries suffice. */
        static final int DEFAULT = 3;

        @CommandLine.Option(names = "--max-restarts", defaultValue = "" + DEFAULT, paramLabel = "N",
                description = "After a NaN or infinite loss, restart from the last checkpoint up to N times before "
                        + "stopping; 0: stop at the first (default: ${DEFAULT-VALUE}).")
        public int maxRestarts;

        int checked() {
            if (maxRestarts < 0) throw new dev.add4j.Add4jException("--max-restarts must be >= 0, got " + maxRestarts);
            return maxRestarts;
        }
    }
}
