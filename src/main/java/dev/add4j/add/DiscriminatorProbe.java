package dev.add4j.add;

import dev.add4j.diffusion.TextCond;
import dev.add4j.disc.Cond;
import dev.add4j.disc.DiffAugment;
import dev.add4j.disc.Discriminator;
import dev.add4j.disc.TeacherFeatures;
import dev.add4j.features.Vit;
import dev.add4j.nn.Ops;
import dev.add4j.train.Optimizers;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Can ADD's discriminator heads, on a given frozen feature network, tell real images from a generator's? Fresh heads
 * are trained alone, exactly as {@link AddStep}'s discriminator update trains them (hinge + γR1, Adam lr 2e-3 betas
 * (0, 0.99), the same conditioning), on pairs of (real, fake) images; then their accuracy is measured on held-out
 * pairs that no update saw. A backbone on which the heads stay near 0.5 gives the student no signal.
 *
 * <p>Pair i holds a real image, a fake image and the caption the fake was made from; both images get the condition
 * {@link Discriminator#condition} makes from that caption and the real image, as in training, where the real and
 * the fake logits share the condition of the real batch. So the condition says nothing about which image is fake.
 * The fakes are made from pure noise, so a {@code text+img-if-seen} condition leaves c_img out everywhere.
 *
 * <p>Shapes: real, fake [N,1,32,32] in [-1,1] on the discriminator's device; text a condition of N samples.
 */
public final class DiscriminatorProbe {
    private DiscriminatorProbe() {}

    /** Training batches (the last ones) whose accuracy {@link Result#trainAccuracy} averages. */
    public static final int LAST_BATCHES = 10;

    /** Held-out images are scored in chunks of this many: big enough for whole batch-norm groups, small in memory. */
    static final int EVAL_CHUNK = 64;

    /**
     * N pairs: real image i and fake image i share the caption {@code text} i.
     * @param real [N,1,32,32]
     * @param fake [N,1,32,32]
     * @param text N captions (only {@link TextCond#pooled} is used)
     */
    public record Pairs(Tensor real, Tensor fake, TextCond text) {
        public Pairs {
            Ops.expectShape(fake, "fake", real.size(0), real.size(1), real.size(2), real.size(3));
            if (text.pooled().size(0) != real.size(0))
                throw new IllegalArgumentException("text: " + text.pooled().size(0) + " captions for " + real.size(0) + " pairs");
        }

        public int size() { return (int) real.size(0); }
    }

    /**
     * How the heads are trained: AddStep's discriminator settings, with {@code iterations} batches of {@code batch} pairs.
     * @param lr   Adam's learning rate (training: {@code --disc-lr}, 2e-3)
     * @param r1   R1's weight γ (training: {@code --r1}, 1e-5)
     * @param seed the heads' initialisation, the batches and the augmentations
     * @param backboneLr 0: the backbone is frozen (the paper); else a copy of it trains with the heads at this rate
     *                   and R1 is taken on the pixels ({@link Discriminator})
     */
    public record Settings(Cond cond, DiffAugment.Policy augment, int iterations, int batch, double lr, double r1, long seed,
                           double backboneLr) {
        public Settings {
            if (iterations < 1) throw new IllegalArgumentException("iterations must be >= 1, got " + iterations);
            if (batch < 2) throw new IllegalArgumentException("batch must be >= 2, got " + batch);
        }

        /** The paper's discriminator settings (AddConfig's defaults) for the given conditioning and augmentation. */
        public static Settings paper(Cond cond, DiffAugment.Policy augment, int iterations, int batch, long seed) {
            AddConfig d = AddConfig.paperDefaults(iterations, batch, seed);
            return new Settings(cond, augment, iterations, batch, d.optim().discLr(), d.paper().r1(), seed, 0);
        }

        public Settings withBackboneLr(double lr) { return new Settings(cond, augment, iterations, batch, this.lr, r1, seed, lr); }
    }

    /**
     * @param trainAccuracy   mean per-token accuracy of the last {@link #lastIterations} training batches, measured before
     *                        each update as AddStep's {@code d_acc} is
     * @param heldOutAccuracy per-token accuracy on the held-out pairs: real logits > 0 and fake logits < 0, over every
     *                        head's tokens
     * @param perHead         the same for each head, in tap order
     * @param lastIterations  how many training batches {@code trainAccuracy} averages
     */
    public record Result(double trainAccuracy, double heldOutAccuracy, List<Double> perHead, int lastIterations) {
        public Result { perHead = List.copyOf(perHead); }
    }

    /**
     * Trains fresh heads on {@code train} and measures them on {@code heldOut}. Nothing but the heads is trained; with
     * augmentation {@code none} the frozen network's outputs for the pairs are computed once and reused, which gives
     * what computing them per batch gives (the network is frozen and works per sample).
     */
    public static Result run(Vit features, Pairs train, Pairs heldOut, Settings s) { return run(features, null, train, heldOut, s); }

    /**
     * As {@link #run(Vit, Pairs, Pairs, Settings)}, with the heads on the teacher's encoder ({@code teacherFeatures}
     * not null; {@code features} then only gives c_img) in place of the ViT's taps.
     */
    public static Result run(Vit features, TeacherFeatures teacherFeatures, Pairs train, Pairs heldOut, Settings s) {
        try (var cell = new PointerScope()) {                  // the heads' optimiser and the cached features die here
            torch.manual_seed(s.seed());                       // the same fresh heads for every cell of one width
            boolean trains = s.backboneLr() > 0;
            Discriminator disc = new Discriminator(features, s.cond(), s.augment(), train.text().pooled().size(1), teacherFeatures, trains);
            disc.heads().to(train.real().device());
            // the teacher's features are drawn at a random noise level on every call, a trained backbone changes: nothing to cache
            boolean cache = teacherFeatures == null && !trains && !s.augment().colour() && !s.augment().translation() && !s.augment().cutout();
            Tensor condTrain = condition(disc, train);                                                 // [N,condDim]
            List<Tensor> realIn = cache ? headInputs(disc, train.real()) : null;                       // [N,C,T] per head
            List<Tensor> fakeIn = cache ? headInputs(disc, train.fake()) : null;
            TensorVector params = disc.parameters();
            Adam opt = Optimizers.adam(disc.heads().parameterVector(), s.lr(), 0.0, 0.99, 1e-8);       // as AddTrainer's
            if (trains) Optimizers.addGroup(opt, disc.trainedBackbone().parameterVector(), s.backboneLr());
            int last = Math.min(LAST_BATCHES, s.iterations());
            double accSum = 0;
            Random pick = new Random(s.seed());
            for (int it = 0; it < s.iterations(); it++) {
                try (var step = new PointerScope()) {          // every tensor of the iteration is freed here
                    Generator gen = torch.make_generator_cpu(s.seed() * 1_000_003L + it);
                    Tensor idx = indices(pick, s.batch(), train.size()).to(train.real().device(), torch.ScalarType.Long); // [B]
                    Tensor cond = condTrain == null ? null : condTrain.index_select(0, idx);            // [B,condDim]
                    // 4.7  L_D = hinge(real, fake) + gamma R1 on the heads' input features of the real images
                    TextCond text = train.text().select(idx);
                    Discriminator.RealInputs realInputs = cache ? leaves(select(realIn, idx))
                            : disc.realInputs(train.real().index_select(0, idx), text, gen);
                    List<Tensor> real = disc.heads().logits(realInputs.headInputs(), cond);             // [B,T] per head
                    List<Tensor> fake = cache ? disc.heads().logits(select(fakeIn, idx), cond)
                            : disc.logits(train.fake().index_select(0, idx), text, cond, gen);
                    Tensor lHinge = AddLosses.hingeD(real, fake);
                    Tensor lR1 = s.r1() > 0 ? AddLosses.r1Penalty(real, realInputs.r1Leaves()) : lHinge.mul(Ops.s(0));
                    if (it >= s.iterations() - last) accSum += accuracy(real, fake);
                    Optimizers.stepIfFinite(opt, lHinge.add(lR1.mul(Ops.s(s.r1()))), params);
                }
            }
            return heldOut(disc, heldOut, s, accSum / last, last);
        }
    }

    /** The heads' accuracy on every held-out pair, without updating anything (spectral norm's vectors included). */
    private static Result heldOut(Discriminator disc, Pairs p, Settings s, double trainAccuracy, int last) {
        int heads = disc.heads().heads();
        double[] right = new double[heads], total = new double[heads];
        disc.heads().train(false);
        try (var g = new NoGradGuard()) {
            Tensor cond = condition(disc, p);
            Generator gen = torch.make_generator_cpu(s.seed() * 1_000_003L - 1);   // one fixed stream for all cells
            for (int from = 0; from < p.size(); from += EVAL_CHUNK) {
                try (var chunk = new PointerScope()) {
                    int b = Math.min(EVAL_CHUNK, p.size() - from);
                    Tensor c = cond == null ? null : cond.narrow(0, from, b);
                    TextCond text = p.text().select(torch.arange(Ops.s(from), Ops.s(from + b)).to(p.real().device(), torch.ScalarType.Long));
                    List<Tensor> real = disc.logits(p.real().narrow(0, from, b), text, c, gen);       // [b,T] per head
                    List<Tensor> fake = disc.logits(p.fake().narrow(0, from, b), text, c, gen);
                    for (int k = 0; k < heads; k++) {
                        right[k] += Ops.f(real.get(k).gt(Ops.s(0)).sum()) + Ops.f(fake.get(k).lt(Ops.s(0)).sum());
                        total[k] += real.get(k).numel() + fake.get(k).numel();
                    }
                }
            }
        } finally {
            disc.heads().train(true);
        }
        List<Double> perHead = new ArrayList<>();
        double r = 0, t = 0;
        for (int k = 0; k < heads; k++) {
            perHead.add(right[k] / total[k]);
            r += right[k];
            t += total[k];
        }
        return new Result(trainAccuracy, r / t, perHead, last);
    }

    /** The shared condition of every pair, computed once (it does not depend on the augmentation); null for none. */
    private static Tensor condition(Discriminator disc, Pairs p) {
        // the fakes were made from pure noise: for text+img-if-seen no sample "saw" its real image
        if (disc.heads().condDim() == 0) return null;
        Tensor seen = torch.zeros(p.size()).to(p.real().device(), torch.ScalarType.Bool);               // [N]
        List<Tensor> parts = new ArrayList<>();
        for (int from = 0; from < p.size(); from += EVAL_CHUNK) {
            int b = Math.min(EVAL_CHUNK, p.size() - from);
            Tensor idx = torch.arange(Ops.s(from), Ops.s(from + b)).to(p.real().device(), torch.ScalarType.Long);
            int start = from;                                      // the ViT's intermediates die with each chunk
            Tensor c = Ops.inScope(() -> disc.condition(p.text().select(idx), p.real().narrow(0, start, b), seen.narrow(0, start, b)));
            parts.add(c);
        }
        return torch.cat(new TensorVector(parts.toArray(new Tensor[0])), 0);                           // [N,condDim]
    }

    /** The frozen network's head inputs for every image, without augmentation: one [N,C,T] per head. */
    private static List<Tensor> headInputs(Discriminator disc, Tensor images) {
        List<Tensor> chunks = new ArrayList<>();                                                         // [K,b,C,T] each
        try (var g = new NoGradGuard()) {
            for (int from = 0; from < images.size(0); from += EVAL_CHUNK) {
                Tensor chunk = images.narrow(0, from, Math.min(EVAL_CHUNK, images.size(0) - from));
                // the ViT's intermediates die with each chunk: kept, they took 20 GB for 8,192 images
                chunks.add(Ops.inScope(() -> torch.stack(new TensorVector(disc.headInputs(chunk, null, null).toArray(new Tensor[0])), 0)));
            }
        }
        Tensor all = torch.cat(new TensorVector(chunks.toArray(new Tensor[0])), 1);                      // [K,N,C,T]
        List<Tensor> out = new ArrayList<>();
        for (int k = 0; k < all.size(0); k++) out.add(all.select(0, k).contiguous());                    // [N,C,T]
        return out;
    }

    private static List<Tensor> select(List<Tensor> perHead, Tensor idx) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor f : perHead) out.add(f.index_select(0, idx));                                        // [B,C,T]
        return out;
    }

    /** Head inputs as leaves that require grad, for R1 (as {@link Discriminator#realInputs} makes them). */
    private static Discriminator.RealInputs leaves(List<Tensor> inputs) {
        for (Tensor f : inputs) f.requires_grad_(true);
        return new Discriminator.RealInputs(inputs, inputs);
    }

    /** {@code b} pair indices drawn uniformly (with replacement) from {@code n}. [B] int64 on the CPU. */
    private static Tensor indices(Random rng, int b, int n) {
        long[] idx = new long[b];
        for (int i = 0; i < b; i++) idx[i] = rng.nextInt(n);
        return Ops.fromLongs(idx, b);
    }

    /** AddStep's d_acc: real logits > 0 and fake logits < 0, over all heads' tokens. */
    static double accuracy(List<Tensor> real, List<Tensor> fake) {
        double right = 0, total = 0;
        for (int k = 0; k < real.size(); k++) {
            right += Ops.f(real.get(k).gt(Ops.s(0)).sum()) + Ops.f(fake.get(k).lt(Ops.s(0)).sum());
            total += real.get(k).numel() + fake.get(k).numel();
        }
        return right / total;
    }
}
