package dev.add4j.features;

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
     */
    public record Config(int prototypes, int headHidden, int bottleneck, double studentTemp, double teacherTempStart,
                         double teacherTemp, double teacherTempWarmup, double centerMomentum, double teacherMomentum,
                         int localViews, double freezeLastLayer) {
        public Config {
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
        public static Config defaults() { return new Config(1024, 512, 64, 0.1, 0.04, 0.04, 0.3, 0.9, 0.996, 4, 0.01); }

        /** A small head for tests. */
        public static Config tiny() { return new Config(64, 64, 16, 0.1, 0.04, 0.04, 0.3, 0.9, 0.996, 2, 0.0); }

        /** The same settings with {@code n} local views. */
        public Config withLocalViews(int n) {
            return new Config(prototypes, headHidden, bottleneck, studentTemp, teacherTempStart, teacherTemp,
                    teacherTempWarmup, centerMomentum, teacherMomentum, n, freezeLastLayer);
        }
    }

    private final Config cfg;
    private final Augment augment;
    private final double clipGrad;
    private final Vit studentVit, teacherVit;
    private final DinoHead studentHead, teacherHead;
    private final Tensor center;                       // [1,K], updated in place under no-grad
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
        for (var m : List.of(studentVit, studentHead, teacherVit, teacherHead)) m.to(device);
        teacherVit.requiresGrad(false);
        teacherHead.requiresGrad(false);
        pair(teacherVit.namedParameters().values(), studentVit.namedParameters().values());
        pair(teacherHead.namedParameters().values(), studentHead.namedParameters().values());
        center = torch.zeros(new long[]{1, cfg.prototypes()}, Ops.floatOn(device));
        center.retainReference(); // lives as long as this step, not the caller's scope
        optimizer = new PretrainOptimizer(List.of(studentVit, studentHead), weightDecay);
    }

    private void pair(java.util.Collection<Tensor> teacher, java.util.Collection<Tensor> student) {
        var t = teacher.iterator();
        for (Tensor s : student) emaPairs.add(new Tensor[]{t.next(), s});
    }

    /** The settings. */
    public Config config() { return cfg; }

    /** The student backbone (trained by gradients). */
    public Vit student() { return studentVit; }

    /** The student's head (tests look at its prototypes). */
    DinoHead studentHead() { return studentHead; }

    /** The EMA teacher backbone: DINO's output network. */
    @Override public Vit backbone() { return teacherVit; }

    @Override
    public Stats step(Tensor images, Tensor labels, At at) {
        try (var scope = new PointerScope()) {                             // every tensor made below is freed here
            long b = images.size(0);
            // two global views through both networks, local views through the student only
            Tensor global = torch.cat(new TensorVector(augment.globalView(images), augment.globalView(images)), 0); // [2B,C,S,S]
            Tensor teacherOut;
            try (var g = new NoGradGuard()) {
                teacherOut = teacherHead.forward(teacherVit.cls(global));                                  // [2B,K]
            }
            Tensor studentOut = studentHead.forward(studentVit.cls(global));                               // [2B,K]
            if (cfg.localViews() > 0) {
                TensorVector locals = new TensorVector();
                for (int i = 0; i < cfg.localViews(); i++) locals.push_back(augment.localView(images));
                Tensor local = studentHead.forward(studentVit.cls(torch.cat(locals, 0)));                 // [L*B,K]
                studentOut = torch.cat(new TensorVector(studentOut, local), 0);                            // [(2+L)B,K]
            }
            Tensor loss = loss(teacherOut, studentOut, center, b, at.teacherTemp(), cfg.studentTemp());  // []

            optimizer.zeroGrad();
            loss.backward();
            // DINO holds the prototypes fixed early on by dropping their gradient: AdamW then skips them entirely
            // (no weight decay, no moment update), which zeroing the gradient would not do
            if (at.freezeLastLayer()) studentHead.prototypes().mutable_grad().reset();
            optimizer.clipAndStep(at.lr(), clipGrad);

            Tensor probs;
            try (var g = new NoGradGuard()) {
                for (Tensor[] p : emaPairs) p[0].lerp_(p[1], Ops.s(1 - at.teacherMomentum())); // t = m t + (1-m) s
                probs = teacherOut.sub(center).div(Ops.s(at.teacherTemp())).softmax(-1);           // [2B,K], as in the loss
                center.mul_(Ops.s(cfg.centerMomentum()))
                        .add_(teacherOut.mean(new long[]{0}, true, new org.bytedeco.pytorch.ScalarTypeOptional()),
                                Ops.s(1 - cfg.centerMomentum()));
            }
            return new Stats(Ops.f(loss), Ops.f(entropy(probs).mean()),
                    Ops.f(entropy(probs.mean(new long[]{0}, false, new org.bytedeco.pytorch.ScalarTypeOptional()))), Double.NaN);
        }
    }

    /**
     * DINO's loss: the cross-entropy H(P_t, P_s) = -Σ_k P_t log P_s averaged over the batch and over every pair of a
     * teacher view (global) and a different student view.
     * @param teacherOut teacher logits of the 2 global views, view-major [2B,K]
     * @param studentOut student logits of all views, the same 2 global views first, view-major [VB,K]
     * @param center     the centre subtracted from the teacher logits [1,K]
     * @param b          batch size B
     * @return the loss []
     */
    public static Tensor loss(Tensor teacherOut, Tensor studentOut, Tensor center, long b, double teacherTemp, double studentTemp) {
        long views = studentOut.size(0) / b;
        Tensor pt = teacherOut.sub(center).div(Ops.s(teacherTemp)).softmax(-1).detach();             // [2B,K]
        Tensor logPs = studentOut.div(Ops.s(studentTemp)).log_softmax(-1);                           // [VB,K]
        Tensor total = null;
        int pairs = 0;
        for (int t = 0; t < 2; t++) {
            Tensor ptv = pt.narrow(0, t * b, b);                                                     // [B,K]
            for (int s = 0; s < views; s++) {
                if (s == t) continue;                                                                // same view: no signal
                Tensor h = ptv.mul(logPs.narrow(0, s * b, b)).sum(new long[]{-1}).neg().mean();     // []
                total = total == null ? h : total.add(h);
                pairs++;
            }
        }
        return total.div(Ops.s(pairs));
    }

    /** Entropy in nats of each distribution along the last dimension: [...,K] -> [...]. */
    static Tensor entropy(Tensor p) {
        return p.mul(p.clamp_min(Ops.s(1e-12)).log()).sum(new long[]{-1}).neg();
    }

    @Override public void close() {
        optimizer.close();
        center.releaseReference();
    }
}
