package dev.add4j.dist;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.SizeTPointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.BackendOptional;
import org.bytedeco.pytorch.BroadcastOptions;
import org.bytedeco.pytorch.GlooDeviceVector;
import org.bytedeco.pytorch.ProcessGroup;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The processes of a data-parallel job and the collectives they run, on libtorch's c10d: a {@code TCPStore} at rank
 * 0's MASTER_ADDR:MASTER_PORT for the rendezvous, then a {@code ProcessGroupGloo} (CPU tensors; CUDA ones through a
 * CPU copy) or, for CUDA where the build has it, a {@code ProcessGroupNCCL}. {@link #SINGLE}, the job of one process,
 * runs no collective at all.
 * <p>The group a thread works in is {@link #current()}, like libtorch's grad mode a setting of the thread (and of the
 * threads it starts afterwards): {@link #join} sets it, so the training runtime finds it without a new parameter in
 * every trainer, and ranks can be threads of one JVM (the tests).
 */
public final class Group implements AutoCloseable {
    /** A job of one process: every collective is the identity. */
    public static final Group SINGLE = new Group(WorldEnv.SINGLE, null, null, "none");

    /**
     * How long a collective may wait for the other ranks [choice]: rank 0 alone samples, evaluates and saves, and
     * the others wait for it at their next all-reduce; a full evaluation on a CPU takes minutes.
     */
    public static final Duration COLLECTIVE_TIMEOUT = Duration.ofMinutes(60);

    private static final InheritableThreadLocal<Group> CURRENT = new InheritableThreadLocal<>() {
        @Override protected Group initialValue() { return SINGLE; }
    };

    private final WorldEnv env;
    private final Store store;          // null in SINGLE
    private final Backend backend;      // null in SINGLE
    private final String backendName;
    private long exchanges;             // key exchanges through the store (statistics whose keys differ across ranks)
    private long collectiveNanos;       // time spent in collectives, waiting for the slowest rank included
    private volatile boolean closed;

    private Group(WorldEnv env, Store store, Backend backend, String backendName) {
        this.env = env;
        this.store = store;
        this.backend = backend;
        this.backendName = backendName;
    }

    /** The group this thread works in ({@link #SINGLE} unless it, or the thread that started it, joined one). */
    public static Group current() { return CURRENT.get(); }

    /**
     * Joins the job {@code env} describes and makes it this thread's {@link #current()} group: the rendezvous at
     * MASTER_ADDR:MASTER_PORT (rank 0 serves it), where every rank must arrive within {@code timeout}, then the
     * process group. A job of one returns {@link #SINGLE} and costs nothing.
     * @param cuda whether the ranks compute on CUDA: NCCL then, where this build of libtorch has it, else gloo
     * @throws Add4jException naming the ranks that did not arrive, or the rendezvous this rank could not reach
     */
    public static Group join(WorldEnv env, Duration timeout, boolean cuda) {
        return join(env, timeout, COLLECTIVE_TIMEOUT, cuda);
    }

    /** As {@link #join(WorldEnv, Duration, boolean)}, a collective waiting at most {@code collectiveTimeout} (tests: short). */
    public static Group join(WorldEnv env, Duration timeout, Duration collectiveTimeout, boolean cuda) {
        if (!env.distributed()) {
            CURRENT.set(SINGLE);
            return SINGLE;
        }
        String where = env.masterAddr() + ":" + env.masterPort();
        TCPStoreOptions o = new TCPStoreOptions();
        o.port((short) env.masterPort());              // a Java short holds 32768-65535 as the same 16 bits
        o.isServer(env.rank() == 0);
        o.numWorkers(new SizeTPointer(1).put(env.worldSize()));
        o.waitWorkers(false);                          // the arrivals are checked below, naming who is missing
        o.timeout(new Milliseconds(timeout.toMillis()));
        Store store;
        try {
            store = new TCPStore(env.masterAddr(), o);
        } catch (RuntimeException e) {
            throw new Add4jException(env.rank() == 0
                    ? "rank 0: cannot serve the rendezvous at " + where + " (is the port in use? pass another --master-port): " + firstLine(e)
                    : "rank " + env.rank() + ": cannot reach rank 0's rendezvous at " + where + " within " + timeout.toSeconds()
                    + " s (has rank 0 started? are MASTER_ADDR and MASTER_PORT the same on every node?): " + firstLine(e), e);
        }
        boolean nccl = cuda && ncclBuilt();
        Milliseconds collective = new Milliseconds(collectiveTimeout.toMillis());
        Backend backend;
        try {
            store.set("add4j/joined/" + env.rank(), "1");
            awaitRanks(store, env, where, timeout);
            backend = nccl ? Nccl.group(store, env, collective) : gloo(store, env, collective);
        } catch (Add4jException e) {
            store.close();
            throw e;
        } catch (RuntimeException e) {
            store.close();
            throw new Add4jException("rank " + env.rank() + ": cannot form the " + (nccl ? "nccl" : "gloo") + " process group of "
                    + env.worldSize() + " ranks at " + where + ": " + firstLine(e), e);
        }
        Group g = new Group(env, store, backend, nccl ? "nccl" : "gloo");
        CURRENT.set(g);
        return g;
    }

    /** Waits until every rank has said it is there; else names the ones that are not. */
    private static void awaitRanks(Store store, WorldEnv env, String where, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String[] keys = new String[env.worldSize()];
        for (int r = 0; r < keys.length; r++) keys[r] = "add4j/joined/" + r;
        try (var scope = new PointerScope()) {
            while (!store.check(new StringVector(keys))) {
                if (System.nanoTime() > deadline) {
                    List<Integer> missing = new ArrayList<>();
                    for (int r = 0; r < keys.length; r++) if (!store.check(new StringVector(keys[r]))) missing.add(r);
                    throw new Add4jException("rank " + env.rank() + ": rank" + (missing.size() > 1 ? "s " : " ")
                            + missing.toString().replaceAll("[\\[\\]]", "") + " of " + env.worldSize() + " did not join at " + where
                            + " within " + timeout.toSeconds() + " s");
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new Add4jException("rank " + env.rank() + ": interrupted while waiting for the other ranks");
                }
            }
        }
    }

    private static Backend gloo(Store store, WorldEnv env, Milliseconds timeout) {
        ProcessGroupGloo.Options o = ProcessGroupGloo.Options.create();
        o.timeout(timeout);
        GlooDeviceVector devices = new GlooDeviceVector();
        devices.push_back(glooDevice(env));
        o.devices(devices);
        return new ProcessGroupGloo(store, env.rank(), env.worldSize(), o);
    }

    /**
     * The network interface gloo talks on: GLOO_SOCKET_IFNAME where set (as in PyTorch), loopback for a job on
     * loopback, else the address this machine's name resolves to.
     */
    private static org.bytedeco.pytorch.gloo.Device glooDevice(WorldEnv env) {
        String ifname = System.getenv("GLOO_SOCKET_IFNAME");
        if (ifname != null && !ifname.isBlank()) return ProcessGroupGloo.createDeviceForInterface(ifname.trim());
        try {
            if (InetAddress.getByName(env.masterAddr()).isLoopbackAddress()) return ProcessGroupGloo.createDeviceForHostname("127.0.0.1");
        } catch (UnknownHostException e) {
            throw new Add4jException("MASTER_ADDR " + env.masterAddr() + ": unknown host");
        }
        return ProcessGroupGloo.createDefaultDevice();
    }

    /** Whether this libtorch build carries NCCL (the -gpu natives do, the CPU ones do not). */
    private static boolean ncclBuilt() {
        try {
            org.bytedeco.javacpp.Loader.load(org.bytedeco.pytorch.presets.torch_nccl.class);
            return true;
        } catch (Throwable t) {
            return false;
        }
    }

    /** NCCL, in a class of its own so that a build without it never loads it. */
    private static final class Nccl {
        static Backend group(Store store, WorldEnv env, Milliseconds timeout) {
            var o = org.bytedeco.pytorch.nccl.ProcessGroupNCCL.Options.create();
            o.timeout(timeout);
            return new org.bytedeco.pytorch.nccl.ProcessGroupNCCL(store, env.rank(), env.worldSize(), o);
        }
    }

    public int rank() { return env.rank(); }
    public int size() { return env.worldSize(); }
    public int localRank() { return env.localRank(); }
    /** Rank 0: the one that writes logs, samples, evaluations and checkpoints. */
    public boolean isMain() { return env.rank() == 0; }
    /** "gloo", "nccl", or "none" in a job of one. */
    public String backendName() { return backendName; }

    private ProcessGroup processGroup;      // made for the first Reducer (GradientReducer), kept as long as the JVM
    /**
     * The process groups made for reducers. Never freed: a process group holds the backend, which {@link #close}
     * frees itself (see there), so the process group must never run its destructor; one small object per job.
     */
    private static final List<ProcessGroup> KEPT = new ArrayList<>();

    /** This group's backend as a c10d ProcessGroup, which DDP's Reducer takes. */
    synchronized ProcessGroup processGroup() {
        checkOpen();
        if (processGroup == null) {
            // JavaCPP's (Store, rank, size) constructor wraps the store in a second intrusive_ptr, which libtorch
            // refuses (its refcount is not zero); the store is not needed once the backend exists
            ProcessGroup pg = new ProcessGroup(rank(), size());
            boolean nccl = backendName.equals("nccl");
            pg.setBackend(nccl ? torch.DeviceType.CUDA : torch.DeviceType.CPU, nccl ? ProcessGroup.BackendType.NCCL : ProcessGroup.BackendType.GLOO,
                    new BackendOptional(backend));
            pg.setDefaultBackend(nccl ? ProcessGroup.BackendType.NCCL : ProcessGroup.BackendType.GLOO);
            synchronized (KEPT) { KEPT.add(pg); }
            processGroup = pg;
        }
        return processGroup;
    }

    /** Sums {@code t} over the ranks, in place; every rank gets the same bits. */
    public void allReduceSum(Tensor t) {
        if (backend == null) return;
        checkOpen();
        try (var scope = new PointerScope()) {
            long t0 = System.nanoTime();
            Tensor wire = backendName.equals("gloo") && !t.device().is_cpu() ? t.cpu() : t;
            wait(backend.allreduce(new TensorVector(wire)), "all-reduce");
            if (wire != t) t.copy_(wire);
            collectiveNanos += System.nanoTime() - t0;
        }
    }

    /** This rank's share [from, to) of n items split over the ranks as evenly as they go (work outside a training step). */
    public long[] share(long n) {
        return new long[]{n * rank() / size(), n * (rank() + 1) / size()};
    }

    /**
     * The whole [total,...] on every rank, from each rank's {@code part} at rows [from, from + part.size(0)): an
     * all-gather, as one all-reduce of zero-filled tensors (x + 0 is x, so every rank gets the values the ranks had).
     */
    public Tensor assemble(Tensor part, long from, long total) {
        if (backend == null) return part;
        long[] shape = Ops.shape(part);
        shape[0] = total;
        Tensor all = torch.zeros(shape).to(part.device(), part.scalar_type());                   // [total,...]
        all.narrow(0, from, part.size(0)).copy_(part);
        allReduceSum(all);
        return all;
    }

    /** Nanoseconds this rank has spent in all-reduces so far, waiting for the slowest rank included. */
    public long collectiveNanos() { return collectiveNanos; }

    /** Copies rank {@code root}'s {@code t} into every rank's, in place. */
    public void broadcast(Tensor t, int root) {
        if (backend == null) return;
        checkOpen();
        try (var scope = new PointerScope()) {
            Tensor wire = backendName.equals("gloo") && !t.device().is_cpu() ? t.cpu() : t;
            wait(backend.broadcast(new TensorVector(wire), new BroadcastOptions().rootRank(root)), "broadcast");
            if (wire != t) t.copy_(wire);
        }
    }

    /** Waits until every rank has called it. */
    public void barrier() {
        allReduceSum(new double[]{0});
    }

    /** Rank 0's {@code flag} on every rank: a decision that rank 0 alone can take (it alone reads the run's files). */
    public boolean fromRankZero(boolean flag) {
        return allReduceSum(new double[]{isMain() && flag ? 1 : 0})[0] > 0;
    }

    /** Whether {@code flag} is true on any rank: the ranks' decisions (stop now, skip this step) agree. */
    public boolean any(boolean flag) {
        return allReduceSum(new double[]{flag ? 1 : 0})[0] > 0;
    }

    /** The sum over the ranks of each of {@code values}, as float64. */
    public double[] allReduceSum(double[] values) {
        if (backend == null) return values.clone();
        try (var scope = new PointerScope()) {
            Tensor t = torch.from_blob(new DoublePointer(values), new long[]{values.length},
                    new TensorOptions(torch.ScalarType.Double)).clone();         // [n] float64 on the CPU
            allReduceSum(t);
            double[] out = new double[values.length];
            new DoublePointer(t.data_ptr()).capacity(out.length).get(out);
            java.lang.ref.Reference.reachabilityFence(t);                          // data_ptr() is a view into t
            return out;
        }
    }

    /**
     * The mean over the ranks of each statistic: for a per-sample mean over equal shards, the global batch's. A
     * statistic that some ranks left out (a loss that was not finite there) is the mean over those that have it.
     */
    public Map<String, Double> average(Map<String, Double> stats) {
        if (backend == null) return stats;
        String keys = String.join("\n", stats.keySet());
        double n = stats.size(), h = keys.hashCode() & 0xFFFFF;                    // 20 bits: sums stay exact in float64
        double[] probe = allReduceSum(new double[]{n, h, n * n, h * h});
        int w = size();
        // Σx = W·x and Σx² = W·x² hold on a rank only when every rank has the same x: all ranks decide alike
        boolean same = probe[0] == w * n && probe[1] == w * h && probe[2] == w * n * n && probe[3] == w * h * h;
        List<String> names = same ? new ArrayList<>(stats.keySet()) : unionOfKeys(stats);
        double[] sums = new double[2 * names.size()];                              // sums, then how many ranks had it
        for (int i = 0; i < names.size(); i++) {
            Double v = stats.get(names.get(i));
            if (v != null) { sums[i] = v; sums[names.size() + i] = 1; }
        }
        double[] total = allReduceSum(sums);
        Map<String, Double> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            double count = total[names.size() + i];
            if (count > 0) out.put(names.get(i), total[i] / count);
        }
        return out;
    }

    /** Every rank's statistics' names, through the store (only when they differ, which is rare). */
    private List<String> unionOfKeys(Map<String, Double> stats) {
        String prefix = "add4j/stats/" + (exchanges++) + "/";
        store.set(prefix + rank(), String.join("\n", stats.keySet()));
        TreeSet<String> union = new TreeSet<>();
        for (int r = 0; r < size(); r++) {
            String v = store.get_to_str(prefix + r);                               // waits for rank r's
            if (!v.isEmpty()) union.addAll(List.of(v.split("\n")));
        }
        return new ArrayList<>(union);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("rank " + rank() + ": the group was closed");
    }

    private void wait(org.bytedeco.pytorch.Work work, String what) {
        try {
            work._wait();
        } catch (RuntimeException e) {
            throw new Add4jException("rank " + rank() + ": " + what + " across " + size() + " ranks failed (did another rank stop?): " + firstLine(e), e);
        }
    }

    private static String firstLine(RuntimeException e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /**
     * Leaves the group; this thread's group is {@link #SINGLE} again. The process group is freed before the store,
     * here and not by the garbage collector: JavaCPP makes the TCPStore without an intrusive_ptr, so the process
     * group's reference to it does not keep it alive, and a store freed first left the group to free freed memory
     * later (glibc: "corrupted double-linked list", in a later test).
     */
    @Override public synchronized void close() {
        if (CURRENT.get() == this) CURRENT.set(SINGLE);
        if (backend == null || closed) return;
        closed = true;
        try {
            backend.shutdown();
        } catch (RuntimeException e) {
            // a peer that left first: nothing to tidy
        }
        backend.close();
        store.close();
    }
}
