package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.dist.Workers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code add4j launch}: a data-parallel job with torchrun's conventions. Starts --nproc worker JVMs on this machine,
 * each running {@code add4j COMMAND ARGS...} with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set;
 * the workers find each other through rank 0's rendezvous ({@code dist/Group}). On several machines, the same
 * command runs on each with its --node-rank.
 */
@Command(name = "launch", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run a training command as a data-parallel job: --nproc worker processes here (times --nnodes "
                + "machines), each on its shard of every batch, with gradients averaged over all of them. Rank 0 "
                + "writes the run's files. Data-parallel commands: train-teacher, distill, train-features, train-eval-net, "
                + "eval (each rank samples and measures its share of the images) and ablate (each run over all ranks).")
public final class LaunchCommand implements Callable<Integer> {
    /** [choice] Seconds the ranks wait for each other at the start: JVM start-up and loading take seconds; a node started by hand, minutes. */
    static final long DEFAULT_JOIN_TIMEOUT = 300;
    /** The workers' JVM options, when set (else this JVM's own). */
    static final String JAVA_OPTIONS = "add4j.launch.java-options";

    @Option(names = "--nproc", required = true, paramLabel = "N", description = "Worker processes on this machine.") int nproc;
    @Option(names = "--nnodes", defaultValue = "1", paramLabel = "M", description = "Machines in the job (default: ${DEFAULT-VALUE}).") int nnodes;
    @Option(names = "--node-rank", defaultValue = "0", paramLabel = "R",
            description = "This machine's place in [0, M); its workers get ranks R*N .. R*N+N-1 (default: ${DEFAULT-VALUE}).") int nodeRank;
    @Option(names = "--master-addr", defaultValue = "127.0.0.1", paramLabel = "HOST",
            description = "Host of node 0, where rank 0 serves the rendezvous (default: ${DEFAULT-VALUE}).") String masterAddr;
    @Option(names = "--master-port", paramLabel = "PORT",
            description = "Its TCP port (default: a free one on one machine, 29500 on several).") Integer masterPort;
    @Option(names = "--join-timeout", defaultValue = "" + DEFAULT_JOIN_TIMEOUT, paramLabel = "SECONDS",
            description = "How long the ranks wait for each other at the start (default: ${DEFAULT-VALUE}).") long joinTimeout;
    @Parameters(arity = "1..*", paramLabel = "COMMAND", description = "The add4j command and its arguments, e.g. distill --out run --steps 1000.")
    List<String> command;

    @Override
    public Integer call() throws Exception {
        if (nproc < 1) throw new Add4jException("--nproc must be >= 1, got " + nproc);
        if (nnodes < 1) throw new Add4jException("--nnodes must be >= 1, got " + nnodes);
        if (nodeRank < 0 || nodeRank >= nnodes) throw new Add4jException("--node-rank must be in [0, " + nnodes + "), got " + nodeRank);
        if (joinTimeout < 1) throw new Add4jException("--join-timeout must be >= 1, got " + joinTimeout);
        if (masterPort != null && (masterPort < 1 || masterPort > 65535))
            throw new Add4jException("--master-port must be in [1, 65535], got " + masterPort);
        if (!Main.DATA_PARALLEL.contains(command.get(0)))
            throw new Add4jException("add4j launch " + command.get(0) + ": not a data-parallel command; those are "
                    + Main.dataParallelNames());
        int port = masterPort != null ? masterPort : nnodes == 1 ? freePort() : dev.add4j.dist.WorldEnv.DEFAULT_PORT;
        List<Workers.Worker> workers = workers(port);
        System.err.printf("add4j launch: ranks %d..%d of %d on this machine, rendezvous at %s:%d%n",
                nodeRank * nproc, nodeRank * nproc + nproc - 1, nnodes * nproc, masterAddr, port);
        return Workers.run(workers, System.out, System.err, Duration.ofSeconds(10));
    }

    /** This machine's workers: the same JVM and class path as this one, each with torchrun's variables. */
    List<Workers.Worker> workers(int port) {
        List<String> java = new ArrayList<>();
        java.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        String options = System.getProperty(JAVA_OPTIONS);                   // tests: small heaps for the workers
        if (options != null) java.addAll(List.of(options.trim().split("\\s+")));
        else for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (!a.startsWith("-agentlib:jdwp")) java.add(a);                 // a debugger's port would clash
        java.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        java.addAll(command);
        // [choice] the cores shared out, one libtorch thread pool per worker, as torchrun sets OMP_NUM_THREADS
        String threads = System.getenv("ADD4J_TORCH_THREADS") != null ? System.getenv("ADD4J_TORCH_THREADS")
                : Integer.toString(Math.max(1, Runtime.getRuntime().availableProcessors() / nproc));
        List<Workers.Worker> out = new ArrayList<>();
        for (int local = 0; local < nproc; local++) {
            Map<String, String> env = new LinkedHashMap<>();
            env.put("RANK", Integer.toString(nodeRank * nproc + local));
            env.put("WORLD_SIZE", Integer.toString(nnodes * nproc));
            env.put("LOCAL_RANK", Integer.toString(local));
            env.put("LOCAL_WORLD_SIZE", Integer.toString(nproc));
            env.put("GROUP_RANK", Integer.toString(nodeRank));
            env.put("MASTER_ADDR", masterAddr);
            env.put("MASTER_PORT", Integer.toString(port));
            env.put("ADD4J_JOIN_TIMEOUT", Long.toString(joinTimeout));
            env.put("ADD4J_TORCH_THREADS", threads);
            out.add(new Workers.Worker(nodeRank * nproc + local, java, env));
        }
        return out;
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
