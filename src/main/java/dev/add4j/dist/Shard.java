package dev.add4j.dist;

import dev.add4j.Add4jException;
import dev.add4j.nn.Ops;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * This rank's part of one training step: rows [rank·B/W, (rank+1)·B/W) of every global batch of B, W ranks. The
 * random draws of a step go through it ({@link #randn}, {@link #rand}, {@link #randint}): each rank draws the
 * global batch's values from the step's generator and keeps its rows, so the batch and its noise are those of one
 * process with batch B, and the generator is left where that process leaves it for the next draw.
 * <p>{@link #current()} is the thread's shard, set by the training loop around each step ({@link #enter});
 * outside a step it is {@link #WHOLE}, whose draws are libtorch's own calls, unchanged.
 * <p>A draw's first dimension must be the batch's (per sample, or per group of samples).
 */
public final class Shard {
    /** The whole batch: a job of one, or anything outside a training step. */
    public static final Shard WHOLE = new Shard(Group.SINGLE);

    private static final ThreadLocal<Shard> CURRENT = ThreadLocal.withInitial(() -> WHOLE);

    private final Group group;

    private Shard(Group group) { this.group = group; }

    /** The thread's shard: {@link #WHOLE} outside a step of a job of several ranks. */
    public static Shard current() { return CURRENT.get(); }

    /** {@code group}'s shard of this rank, for work split over the ranks outside a training step (the ODE pairs). */
    public static Shard of(Group group) { return group.size() == 1 ? WHOLE : new Shard(group); }

    /** Makes {@code group}'s shard the thread's until the returned scope closes (the training loop, around a step). */
    public static Scope enter(Group group) {
        Shard before = CURRENT.get();
        CURRENT.set(of(group));
        return () -> CURRENT.set(before);
    }

    /** A shard's time as the thread's; closing it puts the previous one back. */
    public interface Scope extends AutoCloseable { @Override void close(); }

    public Group group() { return group; }
    public int rank() { return group.rank(); }
    /** W: the ranks the batch is split over. */
    public int ranks() { return group.size(); }

    /** This rank's rows of a global batch [B,...], B a multiple of the ranks. */
    public Tensor rows(Tensor global) {
        if (ranks() == 1) return global;
        long b = global.size(0);
        if (b % ranks() != 0)
            throw new Add4jException("a batch of " + b + " does not split over " + ranks() + " ranks: make --batch a multiple of " + ranks());
        long n = b / ranks();
        return global.narrow(0, rank() * n, n);
    }

    /** Standard normal values of this rank's {@code shape} (its rows of the global draw), on the CPU. */
    public Tensor randn(Generator gen, long... shape) {
        return rows(torch.randn(global(shape), new GeneratorOptional(gen)));
    }

    /** Uniform values in [0, 1) of this rank's {@code shape}, on the CPU. */
    public Tensor rand(Generator gen, long... shape) {
        return rows(torch.rand(global(shape), new GeneratorOptional(gen)));
    }

    /** Integers in [low, high) of this rank's {@code shape}, on the CPU. */
    public Tensor randint(long low, long high, long[] shape, Generator gen) {
        return rows(torch.randint(low, high, global(shape), new GeneratorOptional(gen)));
    }

    /** Integers in [0, high) of this rank's {@code shape}, on the CPU. */
    public Tensor randint(long high, long[] shape, Generator gen) {
        return rows(torch.randint(high, global(shape), new GeneratorOptional(gen)));
    }

    /** The global batch on every rank from each rank's {@code rows} of it ({@link Group#assemble}). */
    public Tensor gather(Tensor rows) {
        return group.assemble(rows, rank() * rows.size(0), ranks() * rows.size(0));
    }

    /**
     * This rank's rows of a view-major global batch [V·B,...] (V views of the batch's B images, one view after the
     * other): its rows of each view, view-major [V·B/W,...].
     */
    public Tensor viewRows(Tensor global, int views) {
        if (ranks() == 1) return global;
        long perView = global.size(0) / views;
        if (perView * views != global.size(0) || perView % ranks() != 0)
            throw new Add4jException(views + " views of a batch of " + global.size(0) / Math.max(1, views) + " do not split over " + ranks() + " ranks");
        long b = perView / ranks();
        TensorVector parts = new TensorVector();
        for (int v = 0; v < views; v++) parts.push_back(global.narrow(0, v * perView + rank() * b, b));
        return torch.cat(parts, 0);
    }

    /** The view-major global batch [V·B,...] on every rank from each rank's view-major {@code rows} [V·B/W,...] of it. */
    public Tensor gatherViews(Tensor rows, int views) {
        if (ranks() == 1) return rows;
        long[] s = Ops.shape(rows);
        long b = s[0] / views;
        long[] split = new long[s.length + 2], merged = s.clone();
        split[0] = ranks();
        split[1] = views;
        split[2] = b;
        System.arraycopy(s, 1, split, 3, s.length - 1);
        merged[0] = (long) views * ranks() * b;
        return gather(rows).reshape(split).transpose(0, 1).reshape(merged);   // [W,V,b,...] -> [V,W,b,...] -> [V·B,...]
    }

    /**
     * The rows of every rank on every rank, each rank's {@code rows} [n_r,...] after those of the ranks before it: a
     * gather of shares of different sizes (the patches a random mask hid). Returns the whole and this rank's offset.
     */
    public Gathered gatherUneven(Tensor rows) {
        if (ranks() == 1) return new Gathered(rows, 0, rows.size(0));
        double[] counts = new double[ranks()];
        counts[rank()] = rows.size(0);
        counts = group.allReduceSum(counts);
        long from = 0, total = 0;
        for (int r = 0; r < ranks(); r++) {
            if (r < rank()) from += (long) counts[r];
            total += (long) counts[r];
        }
        return new Gathered(group.assemble(rows, from, total), from, total);
    }

    /** Rows gathered from every rank: all of them [total,...], this rank's at [from, from + its count). */
    public record Gathered(Tensor all, long from, long total) {}

    /** The global draw's shape: this rank's, its first dimension times the ranks. */
    private long[] global(long[] shape) {
        long[] g = shape.clone();
        g[0] *= ranks();
        return g;
    }
}
