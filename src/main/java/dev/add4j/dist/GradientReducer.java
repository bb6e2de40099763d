package dev.add4j.dist;

import org.bytedeco.pytorch.BoolVector;
import org.bytedeco.pytorch.Reducer;
import org.bytedeco.pytorch.SizeTStringMap;
import org.bytedeco.pytorch.SizeTVector;
import org.bytedeco.pytorch.SizeTVectorVector;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

import java.util.ArrayList;
import java.util.List;

/**
 * The data-parallel gradient averaged during the backward pass, as PyTorch's DistributedDataParallel does it: c10d's
 * own Reducer hooks every parameter's gradient accumulator, and each bucket of gradients is all-reduced (and divided by
 * the ranks) as soon as its last gradient is ready, while autograd computes the rest. Buckets follow the parameters in
 * reverse, the order in which a backward pass makes their gradients. Every parameter must get a gradient in every
 * backward pass on every rank (DDP's find_unused_parameters off), and each pass starts with {@link #backward}.
 * In a job of one it is plain {@code loss.backward()}.
 *
 * <p>Used where it pays: on NCCL, whose all-reduces run on a stream of their own beside the backward kernels (DDP's
 * design). On CPU ranks the all-reduce competes with the backward pass for the same cores: measured on 2 cores, 2
 * ranks x 1 thread, 60 teacher steps at batch 64, two rounds, 1.26 and 1.16 it/s against 1.27 and 1.40 it/s for
 * {@link Gradients#average} after the backward pass (README, "Several processes and machines"), so gloo jobs keep
 * that. Trainers with several backward passes into one parameter set (distill's student and heads) keep it too.
 */
public final class GradientReducer implements AutoCloseable {
    /**
     * Largest bucket [choice]: DDP's default is 25 MB (1 MB for the first); add4j's networks hold 2-20 MB of
     * gradients, so 1 MB buckets let the first all-reduces start early in the backward pass.
     */
    public static final long BUCKET_BYTES = 1 << 20;

    private final Reducer reducer;      // null in a job of one

    private GradientReducer(Reducer reducer) { this.reducer = reducer; }

    /**
     * A reducer of {@code params}' gradients over {@code group}'s ranks where overlapping pays (NCCL), else plain
     * backward passes whose gradients {@link Gradients#average} averages; made alike on every rank.
     */
    public static GradientReducer of(Group group, TensorVector params) {
        return group.backendName().equals("nccl") ? overlapping(group, params) : new GradientReducer(null);
    }

    /** A reducer that averages during the backward pass on any backend (tests run it on gloo). */
    static GradientReducer overlapping(Group group, TensorVector params) {
        if (group.size() == 1) return new GradientReducer(null);
        SizeTVectorVector buckets = new SizeTVectorVector();
        for (List<Integer> b : buckets(params, BUCKET_BYTES)) {
            SizeTVector v = new SizeTVector();
            for (int i : b) v.push_back(i);
            buckets.push_back(v);
        }
        boolean[] sparse = new boolean[(int) params.size()];
        return new GradientReducer(new Reducer(params, buckets, group.processGroup(), new BoolVector(sparse), BUCKET_BYTES,
                false, false, new SizeTStringMap(), BUCKET_BYTES, false, false));
    }

    /** Parameter indices in buckets of at most {@code cap} bytes (at least one parameter each), last parameter first. */
    static List<List<Integer>> buckets(TensorVector params, long cap) {
        List<List<Integer>> out = new ArrayList<>();
        List<Integer> cur = new ArrayList<>();
        long bytes = 0;
        for (int i = (int) params.size() - 1; i >= 0; i--) {
            Tensor p = params.get(i);
            long b = p.numel() * p.element_size();
            if (!cur.isEmpty() && bytes + b > cap) {
                out.add(cur);
                cur = new ArrayList<>();
                bytes = 0;
            }
            cur.add(i);
            bytes += b;
        }
        if (!cur.isEmpty()) out.add(cur);
        return out;
    }

    /** Whether gradients are averaged over several ranks here. */
    public boolean active() { return reducer != null; }

    /** {@code loss.backward()}, the parameters' gradients averaged over the ranks when it returns. */
    public void backward(Tensor loss) {
        if (reducer != null) reducer.prepare_for_backward(new TensorVector(loss));
        loss.backward();
    }

    /** Removes the hooks; call before the group closes. */
    @Override public void close() {
        if (reducer != null) reducer.close();
    }
}
