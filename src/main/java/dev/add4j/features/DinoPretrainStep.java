package dev.add4j.features;

import dev.add4j.Add4jException;
import dev.add4j.dist.Shard;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * One iteration of DINO self-distillation (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision
 * Transformers", Algorithm 1): a student ViT + head learns to match, on every other view of an image, the sharpened
 * and centred output of an EMA teacher on the global views. No labels are used.
 *
 * <pre>
 *   g1, g2 = global views (32 px), l1..lL = local views (16 px)
 *   P_t(v) = softmax((teacher(v) - centre) / tau_t)          v in {g1, g2}, no gradient
 *   P_s(v) = softmax(student(v) / tau_s)                     every view
 *   loss   = mean over pairs (t, s) of views, t global, s != t, of  H(P_t(t), P_s(s))
 *   student <- AdamW step;  teacher <- m teacher + (1 - m) student;  centre <- 0.9 centre + 0.1 mean(teacher(g))
 * </pre>
 * Centring keeps one prototype from dominating; sharpening (tau_t &lt; tau_s) keeps the output from going uniform:
 * together they avoid collapse without negatives.
 *
 * <p>Reading the numbers: the loss first rises towards ln K, as centring flattens the initially sharp random teacher,
 * and falls only later (DINO's own curves start near ln K). Health is H(teacher) clearly below H(mean): the teacher is
 * confident per image (low per-sample entropy) yet spreads images over many prototypes (high batch-mean entropy);
 * H(mean) near 0 is collapse onto one prototype, H(teacher) near ln K a uniform teacher that teaches nothing.
 */
public final class DinoPretrainStep implements PretrainStep {

    /**
     * DINO's hyper-parameters. Schedule ends (teacher temperature, EMA momentum) are applied by the loop.
     * @param prototypes          K, outputs of the head (DINO: 65536; 1024 here [choice]: 10 classes, 60k images)
     * @param headHidden          the head's MLP width (DINO: 2048; 512 here [choice])
     * @param bottleneck          the head's bottleneck width (DINO: 256; 64 here [choice])
     * @param studentTemp         tau_s (DINO: 0.1)
     * @param teacherTempStart    tau_t at step 0 (DINO: 0.04)
     * @param teacherTemp         tau_t after the warm-up (DINO: 0.04 for ViT-S; up to 0.07)
     * @param teacherTempWarmup   fraction of the steps over which tau_t goes linearly from start to final (DINO: 30 of 100 epochs)
     * @param centerMomentum      EMA momentum of the centre (DINO: 0.9)
     * @param teacherMomentum     EMA momentum of the teacher at step 0, rising to 1 on a cosine (DINO: 0.996)
     * @param localViews          number of 16 px local views per image (DINO: 10 of 96 px; 4 here [choice])
     * @param freezeLastLayer     fraction of the steps during which the prototypes get no update (DINO: the first epoch of 100)
     * @param maskedTokenWeight   weight of iBOT's masked-token loss (Zhou et al. 2022: 1), 0 for DINO alone
     * @param maskRatioMin        smallest fraction of a global view's patches hidden from the student (iBOT: 0.1)
     * @param maskRatioMax        largest such fraction (iBOT: 0.5)
     * @param sinkhorn            the teacher's targets from 3 Sinkhorn-Knopp iterations over the batch (DINOv2, after SwAV)
     *                            instead of centring: every prototype gets an equal share of the batch from step 0
     * @param koleoWeight         weight of DINOv2's KoLeo term on the student's global CLS embeddings, which spreads
     *                            them apart (DINOv2: 0.1), 0 for none
     * @param contrastiveWeight   weight of an InfoNCE term between the student's and the EMA teacher's head embeddings of
     *                            the two global views, the other images of the batch as negatives (MoCo v3, Chen et al.
     *                            2021, without its predictor) [choice], 0 for none
     */
    public record Config(int prototypes, int headHidden, int bottleneck, double studentTemp, double teacherTempStart,
                         double teacherTemp, double teacherTempWarmup, double centerMomentum, double teacherMomentum,
                         int localViews, double freezeLastLayer, double maskedTokenWeight, double maskRatioMin,
                         double maskRatioMax, boolean sinkhorn, double koleoWeight, double contrastiveWeight) {
        public Config {
            if (contrastiveWeight < 0) throw new IllegalArgumentException("contrastiveWeight must be >= 0, got " + contrastiveWeight);
            if (koleoWeight < 0) throw new IllegalArgumentException("DINOv2: koleoWeight must be >= 0, got " + koleoWeight);
            if (maskedTokenWeight < 0 || !(maskRatioMin >= 0 && maskRatioMin <= maskRatioMax && maskRatioMax < 1))
                throw new IllegalArgumentException("iBOT: maskedTokenWeight must be >= 0 and 0 <= maskRatioMin <= maskRatioMax < 1, got "
                        + maskedTokenWeight + ", " + maskRatioMin + ", " + maskRatioMax);
            if (prototypes < 2 || headHidden < 1 || bottleneck < 1)
                throw new IllegalArgumentException("DINO: prototypes must be >= 2, headHidden and bottleneck >= 1, got "
                        + prototypes + ", " + headHidden + ", " + bottleneck);
            if (studentTemp <= 0 || teacherTempStart <= 0 || teacherTemp <= 0)
                throw new IllegalArgumentException("DINO: temperatures must be positive, got student " + studentTemp
                        + ", teacher " + teacherTempStart + " -> " + teacherTemp);
            if (teacherTempWarmup < 0 || teacherTempWarmup > 1 || freezeLastLayer < 0 || freezeLastLayer > 1)
                throw new IllegalArgumentException("DINO: teacherTempWarmup and freezeLastLayer are fractions of the steps in [0,1], got "
                        + teacherTempWarmup + " and " + freezeLastLayer);
            if (centerMomentum < 0 || centerMomentum >= 1 || teacherMomentum < 0 || teacherMomentum > 1)
                throw new IllegalArgumentException("DINO: centerMomentum must be in [0,1) and teacherMomentum in [0,1], got "
                        + centerMomentum + " and " + teacherMomentum);
            if (localViews < 0) throw new IllegalArgumentException("DINO: localViews must be >= 0, got " + localViews);
        }

        /** DINO's ViT-S settings, scaled down where marked. */
        public static Config defaults() { return new Config(1024, 512, 64, 0.1, 0.04, 0.04, 0.3, 0.9, 0.996, 4, 0.01, 0, 0.1, 0.5, false, 0, 0); }

        /** A small head for tests. */
        public static Config tiny() { return new Config(64, 64, 16, 0.1, 0.04, 0.04, 0.3, 0.9, 0.996, 2, 0.0, 0, 0.1, 0.5, false, 0, 0); }

        /** The same settings with {@code n} local views. */
        public Config withLocalViews(int n) {
            return new Config(prototypes, headHidden, bottleneck, studentTemp, teacherTempStart, teacherTemp,
                    teacherTempWarmup, centerMomentum, teacherMomentum, n, freezeLastLayer, maskedTokenWeight, maskRatioMin, maskRatioMax, sinkhorn, koleoWeight, contrastiveWeight);
        }

        /** The same settings with iBOT's masked-token loss at {@code weight} (0: off). */
        public Config withMaskedTokens(double weight) {
            return new Config(prototypes, headHidden, bottleneck, studentTemp, teacherTempStart, teacherTemp,
                    teacherTempWarmup, centerMomentum, teacherMomentum, localViews, freezeLastLayer, weight, maskRatioMin, maskRatioMax, sinkhorn, koleoWeight, contrastiveWeight);
        }

        /** DINOv2's additions to these settings: Sinkhorn-Knopp targets ({@code sinkhorn}) and KoLeo at {@code koleo}. */
        public Config withDinoV2(boolean sinkhornTargets, double koleo) {
            return new Config(prototypes, headHidden, bottleneck, studentTemp, teacherTempStart, teacherTemp,
                    teacherTempWarmup, centerMomentum, teacherMomentum, localViews, freezeLastLayer, maskedTokenWeight,
                    maskRatioMin, maskRatioMax, sinkhornTargets, koleo, contrastiveWeight);
        }

        /** The same settings with the InfoNCE term at {@code weight} (0: off). */
        public Config withContrastive(double weight) {
            return new Config(prototypes, headHidden, bottleneck, studentTemp, teacherTempStart, teacherTemp,
                    teacherTempWarmup, centerMomentum, teacherMomentum, localViews, freezeLastLayer, maskedTokenWeight,
                    maskRatioMin, maskRatioMax, sinkhorn, koleoWeight, weight);
        }

        /** The same settings with teacher and centre momenta {@code teacher} and {@code centre}. */
        public Config withMomenta(double teacher, double centre) {
            return new Config(prototypes, headHidden, bottleneck, studentTemp, teacherTempStart, teacherTemp,
                    teacherTempWarmup, centre, teacher, localViews, freezeLastLayer, maskedTokenWeight, maskRatioMin, maskRatioMax, sinkhorn, koleoWeight, contrastiveWeight);
        }
    }

    private final Config cfg;
    private final Augment augment;
    private final double clipGrad;
    private final Vit studentVit, teacherVit;
    private final DinoHead studentHead, teacherHead;
    private final Centres centres;                     // [1,K] each, updated in place under no-grad
    private final Tensor center, patchCenter;
    private final MaskToken maskToken;                 // iBOT's hidden-patch embedding, trained with the student
    private final List<Tensor[]> emaPairs = new ArrayList<>(); // {teacher param, student param}
    private final PretrainOptimizer optimizer;

    /**
     * Builds student and teacher (the teacher starts as a copy of the student and never gets gradients) on
     * {@code device}. Call outside any step scope: the networks and optimisers live as long as this object.
     */
    public DinoPretrainStep(Vit.Config vitCfg, Config cfg, Augment augment, double weightDecay, double clipGrad, Device device) {
        this.cfg = cfg;
        this.augment = augment;
        this.clipGrad = clipGrad;
        studentVit = new Vit(vitCfg);
        studentHead = new DinoHead(vitCfg.width(), cfg.headHidden(), cfg.bottleneck(), cfg.prototypes());
        teacherVit = new Vit(vitCfg);
        teacherHead = new DinoHead(vitCfg.width(), cfg.headHidden(), cfg.bottleneck(), cfg.prototypes());
        studentVit.copyTo(teacherVit);
        studentHead.copyTo(teacherHead);
        maskToken = new MaskToken(vitCfg.width());
        for (var m : List.of(studentVit, studentHead, teacherVit, teacherHead, maskToken)) m.to(device);
        teacherVit.requiresGrad(false);
        teacherHead.requiresGrad(false);
        pair(teacherVit.namedParameters().values(), studentVit.namedParameters().values());
        pair(teacherHead.namedParameters().values(), studentHead.namedParameters().values());
        centres = new Centres(cfg.prototypes());
        centres.to(device);
        center = centres.namedBuffers().get("cls");
        patchCenter = centres.namedBuffers().get("patch");
        optimizer = new PretrainOptimizer(cfg.maskedTokenWeight() > 0 ? List.of(studentVit, studentHead, maskToken)
                : List.of(studentVit, studentHead), weightDecay);
    }

    private void pair(java.util.Collection<Tensor> teacher, java.util.Collection<Tensor> student) {
        var t = teacher.iterator();
        for (Tensor s : student) emaPairs.add(new Tensor[]{t.next(), s});
    }

    /** The settings. */
    public Config config() { return cfg; }

    /** The student backbone (trained by gradients). */
    public Vit student() { return studentVit; }

    /** iBOT's hidden-patch embedding [1,1,C] (tests look at it). */
    Tensor maskToken() { return maskToken.token; }

    /** The student's head (tests look at its prototypes). */
    DinoHead studentHead() { return studentHead; }

    /** The EMA teacher backbone: DINO's output network. */
    @Override public Vit backbone() { return teacherVit; }

    @Override
    public Stats step(Tensor images, Tensor labels, At at) {
        try (var scope = new PointerScope()) {                             // every tensor made below is freed here
            long b = images.size(0);
            // on several ranks, this rank's b images of the global batch; the terms that couple a batch's images
            // (Sinkhorn's targets, iBOT's hidden patches, InfoNCE's negatives, KoLeo's neighbours) see the whole batch
            Shard shard = Shard.current();
            // two global views through both networks, local views through the student only
            Tensor global = torch.cat(new TensorVector(augment.globalView(images), augment.globalView(images)), 0); // [2B,C,S,S]
            boolean masked = cfg.maskedTokenWeight() > 0;
            long n = (long) studentVit.config().gridSide() * studentVit.config().gridSide();
            Tensor mask = masked ? augment.patchMask(2, 2 * b, n, cfg.maskRatioMin(), cfg.maskRatioMax())
                    .to(images.device(), torch.ScalarType.Bool) : null; // [2B,N] bool
            Tensor teacherTokens;
            try (var g = new NoGradGuard()) {
                teacherTokens = teacherVit.tokens(global);                                                 // [2B,1+N,C]
            }
            Tensor teacherEmbedded = teacherHead.embed(teacherTokens.select(1, 0)).detach();               // [2B,D]
            Tensor teacherOut = teacherHead.prototypeLogits(teacherEmbedded).detach();                     // [2B,K]
            Tensor targets = cfg.sinkhorn()                                                                 // [2B,K]
                    ? shard.viewRows(sinkhornKnopp(shard.gatherViews(teacherOut, 2), at.teacherTemp(), 3), 2)
                    : centred(teacherOut, center, at.teacherTemp());
            Tensor studentTokens = masked ? studentVit.tokens(global, mask, maskToken.token) : studentVit.tokens(global);
            Tensor studentCls = studentTokens.select(1, 0);                                                // [2B,C]
            Tensor studentEmbedded = studentHead.embed(studentCls);                                        // [2B,D]
            Tensor studentOut = studentHead.prototypeLogits(studentEmbedded);                              // [2B,K]
            if (cfg.localViews() > 0) {
                TensorVector locals = new TensorVector();
                for (int i = 0; i < cfg.localViews(); i++) locals.push_back(augment.localView(images));
                Tensor local = studentHead.forward(studentVit.cls(torch.cat(locals, 0)));                 // [L*B,K]
                studentOut = torch.cat(new TensorVector(studentOut, local), 0);                            // [(2+L)B,K]
            }
            Tensor loss = loss(targets, studentOut, b, cfg.studentTemp());                                // []
            Tensor teacherPatches = null, alone = null;   // alone: what only the gradient gets (KoLeo on several ranks)
            if (masked) {
                // iBOT: the student predicts, at each hidden patch, the teacher's output for the visible patch there
                long width = studentVit.width();
                Tensor hidden = mask.flatten().nonzero().squeeze(1);                                        // [M]
                Tensor tp;
                try (var g = new NoGradGuard()) {
                    tp = teacherHead.forward(teacherTokens.narrow(1, 1, n).reshape(2 * b * n, width).index_select(0, hidden)); // [M,K]
                }
                Tensor sp = studentHead.forward(studentTokens.narrow(1, 1, n).reshape(2 * b * n, width).index_select(0, hidden)); // [M,K]
                Shard.Gathered all = shard.gatherUneven(tp);                                                // the batch's [M,K]
                long mine = tp.size(0);
                if (mine > 0) {
                    Tensor pt = cfg.sinkhorn() ? sinkhornKnopp(all.all(), at.teacherTemp(), 3).narrow(0, all.from(), mine)
                            : centred(tp, patchCenter, at.teacherTemp());
                    // the mean over the batch's M hidden patches: this rank's share of it, times W (the ranks average)
                    double share = shard.ranks() * (double) mine / all.total();
                    loss = loss.add(maskedTokenLoss(pt, sp, cfg.studentTemp()), Ops.s(cfg.maskedTokenWeight() * share));
                }
                teacherPatches = all.all();
            }
            if (cfg.contrastiveWeight() > 0)
                loss = loss.add(infoNce(studentEmbedded, shard.gatherViews(teacherEmbedded, 2), b, shard.rank() * b, CONTRASTIVE_TEMPERATURE),
                        Ops.s(cfg.contrastiveWeight()));
            if (cfg.koleoWeight() > 0) {
                Tensor others = shard.ranks() > 1 ? shard.gatherViews(studentCls.detach(), 2) : null;         // [2B,C]
                long all = b * shard.ranks();
                for (int v = 0; v < 2; v++) {  // per view, as DINOv2
                    Tensor own = studentCls.narrow(0, v * b, b);
                    Tensor k = koleo(others == null ? own : withRows(others.narrow(0, v * all, all), own, shard.rank() * b)); // the batch's
                    loss = loss.add(k, Ops.s(cfg.koleoWeight() / 2));
                    // each rank differentiates the whole batch's KoLeo through its own rows only: W times it, averaged
                    // over the ranks, is its gradient; the logged loss counts it once
                    if (others != null) {
                        Tensor more = k.mul(Ops.s(cfg.koleoWeight() / 2 * (shard.ranks() - 1)));
                        alone = alone == null ? more : alone.add(more);
                    }
                }
            }

            optimizer.zeroGrad();
            (alone == null ? loss : loss.add(alone)).backward();
            // DINO holds the prototypes fixed early on by dropping their gradient: AdamW then skips them entirely
            // (no weight decay, no moment update), which zeroing the gradient would not do
            if (at.freezeLastLayer()) studentHead.prototypes().mutable_grad().reset();
            optimizer.clipAndStep(at.lr(), clipGrad);

            try (var g = new NoGradGuard()) {
                for (Tensor[] p : emaPairs) p[0].lerp_(p[1], Ops.s(1 - at.teacherMomentum())); // t = m t + (1-m) s
                center.mul_(Ops.s(cfg.centerMomentum()))
                        .add_(batchMean(shard, teacherOut), Ops.s(1 - cfg.centerMomentum()));  // the global batch's, as DINO's all-reduce
                if (teacherPatches != null && teacherPatches.size(0) > 0)
                    patchCenter.mul_(Ops.s(cfg.centerMomentum()))     // the batch's hidden patches, on every rank
                            .add_(teacherPatches.mean(new long[]{0}, true, new org.bytedeco.pytorch.ScalarTypeOptional()),
                                    Ops.s(1 - cfg.centerMomentum()));
            }
            return new Stats(Ops.f(loss), Ops.f(entropy(targets).mean()), Ops.f(entropy(batchMean(shard, targets).squeeze(0))), Double.NaN);
        }
    }

    /**
     * The mean over the rows of {@code x} [R,K] -> [1,K], over the global batch in a step of several ranks (equal
     * shards: the mean of the ranks' means).
     */
    private static Tensor batchMean(Shard shard, Tensor x) {
        Tensor m = x.mean(new long[]{0}, true, new org.bytedeco.pytorch.ScalarTypeOptional());                    // [1,K]
        if (shard.ranks() == 1) return m;
        shard.group().allReduceSum(m);
        return m.div_(Ops.s(shard.ranks()));
    }

    /** {@code all} [B,...] with rows [from, from + rows.size(0)) replaced by {@code rows}, which keep their gradient. */
    private static Tensor withRows(Tensor all, Tensor rows, long from) {
        long n = rows.size(0);
        return torch.cat(new TensorVector(all.narrow(0, 0, from), rows, all.narrow(0, from + n, all.size(0) - from - n)), 0);
    }

    /** DINO's targets: softmax((logits - centre) / tau_t). logits [R,K], centre [1,K] -> [R,K], no gradient. */
    public static Tensor centred(Tensor teacherLogits, Tensor centre, double temperature) {
        return teacherLogits.sub(centre).div(Ops.s(temperature)).softmax(-1).detach();
    }

    /**
     * SwAV's and DINOv2's targets: exp(logits / tau_t) scaled by alternating row and column normalisation, so that
     * the R rows share the K prototypes equally and each row sums to 1. logits [R,K] -> [R,K], no gradient.
     */
    public static Tensor sinkhornKnopp(Tensor teacherLogits, double temperature, int iterations) {
        try (var g = new NoGradGuard()) {
            long r = teacherLogits.size(0), k = teacherLogits.size(1);
            Tensor q = teacherLogits.sub(teacherLogits.max()).div(Ops.s(temperature)).exp();             // [R,K], max 1
            q = q.div(q.sum());
            for (int i = 0; i < iterations; i++) {
                q = q.div(q.sum(new long[]{0}, true, new org.bytedeco.pytorch.ScalarTypeOptional())).div(Ops.s(k)); // each prototype 1/K
                q = q.div(q.sum(new long[]{1}, true, new org.bytedeco.pytorch.ScalarTypeOptional())).div(Ops.s(r)); // each row 1/R
            }
            return q.mul(Ops.s(r));                                                                     // rows sum to 1
        }
    }

    /** MoCo v3's InfoNCE temperature. */
    static final double CONTRASTIVE_TEMPERATURE = 0.2;

    /**
     * InfoNCE between views (MoCo v3's symmetric loss): the student's embedding of view v must pick out the teacher's
     * embedding of the same image in the other view among the B images of the batch. Scaled by 2 tau, as MoCo v3.
     * Each of the student's rows is a term of its own (the teacher has no gradient), so a rank computes its b rows.
     * @param student unit-length embeddings of the 2 global views of b images, view-major [2b,D]
     * @param teacher the teacher's of all B images of the batch, same layout, no gradient [2B,D]
     * @param from    where the student's b images are among the B
     * @return the loss, the mean over the student's rows []
     */
    public static Tensor infoNce(Tensor student, Tensor teacher, long b, long from, double temperature) {
        long all = teacher.size(0) / 2;
        Tensor labels = torch.arange(Ops.s(from), Ops.s(from + b), new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long)).to(student.device(), torch.ScalarType.Long); // [b]
        Tensor total = null;
        for (int v = 0; v < 2; v++) {
            Tensor logits = student.narrow(0, v * b, b).mm(teacher.narrow(0, (1 - v) * all, all).t()).div(Ops.s(temperature)); // [b,B]
            Tensor ce = torch.cross_entropy_loss(logits, labels);
            total = total == null ? ce : total.add(ce);
        }
        return total.mul(Ops.s(temperature));                                                        // (ce0 + ce1) / 2 * 2 tau
    }

    /**
     * DINOv2's KoLeo regulariser (Sablayrolles et al. 2019): -mean_i log(distance of x_i to its nearest neighbour in the
     * batch), on unit-length rows; it falls as the embeddings spread out. x [B,C] -> [].
     */
    public static Tensor koleo(Tensor x) {
        Tensor u = DinoHead.unit(x);                                                                   // [B,C]
        long b = u.size(0);
        Tensor nearest;
        try (var g = new NoGradGuard()) {
            Tensor sim = u.mm(u.t()).sub(torch.eye(b, Ops.floatOn(u.device())).mul(Ops.s(3)));          // [B,B], self excluded
            nearest = sim.argmax(new org.bytedeco.pytorch.LongOptional(1), false);                    // [B]
        }
        Tensor d = u.sub(u.index_select(0, nearest)).pow(Ops.s(2)).sum(new long[]{1}).add(Ops.s(1e-16)).sqrt(); // [B]
        return d.add(Ops.s(1e-8)).log().neg().mean();
    }

    /**
     * DINO's loss: the cross-entropy H(P_t, P_s) = -Σ_k P_t log P_s averaged over the batch and over every pair of a
     * teacher view (global) and a different student view.
     * @param targets    the teacher's distributions P_t on the 2 global views, view-major [2B,K]
     * @param studentOut student logits of all views, the same 2 global views first, view-major [VB,K]
     * @param b          batch size B
     * @return the loss []
     */
    public static Tensor loss(Tensor targets, Tensor studentOut, long b, double studentTemp) {
        long views = studentOut.size(0) / b;
        Tensor logPs = studentOut.div(Ops.s(studentTemp)).log_softmax(-1);                           // [VB,K]
        Tensor total = null;
        int pairs = 0;
        for (int t = 0; t < 2; t++) {
            Tensor ptv = targets.narrow(0, t * b, b);                                                // [B,K]
            for (int s = 0; s < views; s++) {
                if (s == t) continue;                                                                // same view: no signal
                Tensor h = ptv.mul(logPs.narrow(0, s * b, b)).sum(new long[]{-1}).neg().mean();     // []
                total = total == null ? h : total.add(h);
                pairs++;
            }
        }
        return total.div(Ops.s(pairs));
    }

    /**
     * iBOT's masked-token loss: H(P_t, P_s) averaged over the hidden patches.
     * @param targets        the teacher's distributions at the hidden patches, from the unmasked view [M,K], M >= 1
     * @param studentPatches student logits at the same patches, from the masked view [M,K]
     * @return the loss []
     */
    public static Tensor maskedTokenLoss(Tensor targets, Tensor studentPatches, double studentTemp) {
        Tensor logPs = studentPatches.div(Ops.s(studentTemp)).log_softmax(-1);                       // [M,K]
        return targets.mul(logPs).sum(new long[]{-1}).neg().mean();
    }

    @Override public void reseed(long seed) { augment.reseed(seed); }

    @Override public dev.add4j.io.Checkpoint.Parts parts() {
        return new dev.add4j.io.Checkpoint.Parts(java.util.Map.of("student", studentVit, "student_head", studentHead,
                "teacher", teacherVit, "teacher_head", teacherHead, "mask_token", maskToken, "centres", centres),
                optimizer.parts(""));
    }

    /** DINO's running centres of the teacher's CLS and patch logits, buffers so that a checkpoint keeps them. */
    static final class Centres extends dev.add4j.nn.Module {
        Centres(long k) {
            buffer("cls", torch.zeros(1, k));                                                        // [1,K]
            buffer("patch", torch.zeros(1, k));                                                      // [1,K]
        }
    }

    /** iBOT's learned embedding of a hidden patch, a module so that the optimiser and {@code to(device)} see it. */
    static final class MaskToken extends dev.add4j.nn.Module {
        final Tensor token;
        MaskToken(long width) { token = param("mask_token", torch.zeros(1, 1, width)); }            // [1,1,C]
    }

    /** Entropy in nats of each distribution along the last dimension: [...,K] -> [...]. */
    static Tensor entropy(Tensor p) {
        return p.mul(p.clamp_min(Ops.s(1e-12)).log()).sum(new long[]{-1}).neg();
    }

    @Override public void close() {
        optimizer.close();
    }
}
