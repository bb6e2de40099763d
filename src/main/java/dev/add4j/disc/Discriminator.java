package dev.add4j.disc;

import dev.add4j.diffusion.TextCond;
import dev.add4j.features.Vit;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * ADD's discriminator (add-method.md §5): DiffAugment, then the frozen feature network F (a ViT, eval mode, no
 * trainable weights) read at its taps, then the trainable heads, conditioned by projection on c_text (the pooled
 * MiniLM embedding of the caption) and c_img (F's CLS embedding of the real image), as {@link Cond} says.
 * With {@link TeacherFeatures} [not in ADD] the heads read the noised teacher's encoder in place of F; c_img stays F's.
 * With a trained backbone [not in ADD; the discriminator of a plain GAN; probe-disc --backbone-lr, measured no gain in
 * distill] the heads read a copy of F that learns with them, and R1 moves from the heads' inputs to the pixels; c_img
 * stays the frozen F's, so the condition does not drift.
 */
public final class Discriminator {
    private final Vit features;
    private final List<Integer> taps;
    private final Cond cond;
    private final DiffAugment.Policy augment;
    private final ProjectedDiscriminator heads;
    private final TeacherFeatures teacherFeatures;      // null: the heads read F (the paper)
    private final Vit backbone;                         // what the heads read: F itself, or F's trained copy
    private final boolean backboneTrains;

    /** @param features the frozen feature network; frozen here, whatever its state was */
    public Discriminator(Vit features, Cond cond, DiffAugment.Policy augment, long textDim) {
        this(features, cond, augment, textDim, null);
    }

    /** @param teacherFeatures the backbone of the heads in place of F's taps, or null for F's (the paper) */
    public Discriminator(Vit features, Cond cond, DiffAugment.Policy augment, long textDim, TeacherFeatures teacherFeatures) {
        this(features, cond, augment, textDim, teacherFeatures, false);
    }

    /** @param backboneTrains whether the heads read a copy of F that trains with them (not with teacher features) */
    public Discriminator(Vit features, Cond cond, DiffAugment.Policy augment, long textDim, TeacherFeatures teacherFeatures,
                         boolean backboneTrains) {
        if (backboneTrains && teacherFeatures != null)
            throw new IllegalArgumentException("a trained backbone is a copy of the feature ViT, not the teacher's encoder");
        this.teacherFeatures = teacherFeatures;
        this.features = features;
        this.backboneTrains = backboneTrains;
        features.train(false).requiresGrad(false);
        if (backboneTrains) {
            backbone = new Vit(features.config());
            backbone.to(features.parameterVector().get(0).device());
            features.copyTo(backbone);
            backbone.mathAttention(true).train(false).requiresGrad(true);      // R1 on pixels differentiates twice through it
        } else {
            backbone = features;
        }
        this.taps = features.defaultTaps();
        this.cond = cond;
        this.augment = augment;
        long condDim = (cond.text() ? textDim : 0) + (cond.image() ? features.width() : 0);
        this.heads = teacherFeatures == null ? new ProjectedDiscriminator(taps.size(), features.width(), condDim)
                : new ProjectedDiscriminator(teacherFeatures.heads(), teacherFeatures.width(), condDim);
    }

    /** The trainable heads. */
    public ProjectedDiscriminator heads() { return heads; }

    /** The trained copy of F the heads read, or null where they read the frozen F (the paper) or the teacher. */
    public Vit trainedBackbone() { return backboneTrains ? backbone : null; }

    /** Everything the discriminator's update trains: the heads, and the backbone where it trains. */
    public TensorVector parameters() {
        if (!backboneTrains) return heads.parameterVector();
        TensorVector all = new TensorVector();
        for (TensorVector v : List.of(heads.parameterVector(), backbone.parameterVector()))
            for (long i = 0; i < v.size(); i++) all.push_back(v.get(i));
        return all;
    }

    /** Gradients on or off for everything {@link #parameters} holds (off while the student learns). */
    public void requiresGrad(boolean on) {
        heads.requiresGrad(on);
        if (backboneTrains) backbone.requiresGrad(on);
    }

    /** The feature network's taps that feed the heads (F's; with teacher features, the teacher's blocks are read instead). */
    public List<Integer> taps() { return taps; }

    /** What the heads read, for logs. */
    public String backbone() { return teacherFeatures == null ? "feature ViT taps " + taps : "teacher encoder (" + teacherFeatures.heads() + " taps)"; }

    /**
     * The projection's condition: [c_text, c_img] concatenated (or one of them, or null for none).
     * @param x0 the real images the student's inputs were made from [B,C,H,W]
     */
    public Tensor condition(TextCond text, Tensor x0) { return condition(text, x0, null); }

    /**
     * The condition, with c_img zeroed for the samples where {@code seen} [B] (bool) is false, when the config's
     * cond asks for that ({@link Cond#imageOnlyIfSeen}); {@code seen} null: every sample sees its x0.
     */
    public Tensor condition(TextCond text, Tensor x0, Tensor seen) {
        if (!cond.text() && !cond.image()) return null;
        try (var g = new NoGradGuard()) {
            if (!cond.image()) return text.pooled();                                                 // [B,384]
            Tensor cImg = features.cls(x0);                                                          // [B,C]
            if (cond.imageOnlyIfSeen() && seen != null)
                cImg = cImg.mul(seen.view(-1, 1).to(cImg.device(), torch.ScalarType.Float));
            return cond.text() ? torch.cat(new TensorVector(text.pooled(), cImg), 1) : cImg;         // [B,384+C]
        }
    }

    /**
     * Each head's input [B,C,N] for a batch of images with their captions: augmented, through F, CLS added to the
     * patch tokens; or noised and through the teacher's encoder.
     */
    public List<Tensor> headInputs(Tensor images, TextCond text, Generator gen) {
        Tensor x = DiffAugment.apply(images, augment, gen);
        if (teacherFeatures != null) return teacherFeatures.headInputs(x, text, gen);
        List<Tensor> out = new ArrayList<>();
        return headInputsOf(x);
    }

    private List<Tensor> headInputsOf(Tensor augmented) {
        List<Tensor> out = new ArrayList<>();
        for (Tensor layer : backbone.features(augmented, taps)) out.add(ProjectedDiscriminator.headInput(layer));
        return out;
    }

    /** Every head's logits [B,N] for a batch of images; gradients flow back to the images. */
    public List<Tensor> logits(Tensor images, TextCond text, Tensor condition, Generator gen) {
        return heads.logits(headInputs(images, text, gen), condition);
    }

    /**
     * Real images' head inputs, and what R1 differentiates the real logits by (the leaves): with a frozen backbone
     * the head inputs themselves, computed without a graph (the paper: R1 on the heads' input features); with a
     * trained backbone the augmented pixels, the head inputs keeping their graph to them and to the backbone.
     */
    public record RealInputs(List<Tensor> headInputs, List<Tensor> r1Leaves) {}

    /** See {@link RealInputs}. */
    public RealInputs realInputs(Tensor x0, TextCond text, Generator gen) {
        if (backboneTrains) {
            Tensor x;
            try (var g = new NoGradGuard()) {
                x = DiffAugment.apply(x0, augment, gen).detach().contiguous();
            }
            x.requires_grad_(true);
            return new RealInputs(headInputsOf(x), List.of(x));
        }
        List<Tensor> out = new ArrayList<>();
        try (var g = new NoGradGuard()) {
            for (Tensor f : headInputs(x0, text, gen)) out.add(f.detach().contiguous());
        }
        for (Tensor f : out) f.requires_grad_(true);
        return new RealInputs(out, out);
    }
}
