package dev.add4j.features;

import dev.add4j.nn.Layers.Linear;
import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.List;

/**
 * One iteration of supervised pretraining, the baseline of the feature-network ablation (add-method.md §5,
 * Table 1a compares feature networks): a linear classifier on the ViT's CLS embedding, cross-entropy with the
 * class labels, on one augmented global view per image (the same augmentations as DINO).
 */
public final class SupervisedPretrainStep implements PretrainStep {
    private final Vit vit;
    private final Linear classifier;
    private final Augment augment;
    private final double clipGrad;
    private final PretrainOptimizer optimizer;

    /** Builds the network and its classifier on {@code device}; call outside any step scope. */
    public SupervisedPretrainStep(Vit.Config vitCfg, int classes, Augment augment, double weightDecay, double clipGrad, Device device) {
        this.augment = augment;
        this.clipGrad = clipGrad;
        vit = new Vit(vitCfg);
        classifier = new Linear(vitCfg.width(), classes);
        vit.to(device);
        classifier.to(device);
        optimizer = new PretrainOptimizer(List.of(vit, classifier), weightDecay);
    }

    @Override public Vit backbone() { return vit; }

    @Override public void reseed(long seed) { augment.reseed(seed); }

    @Override public dev.add4j.io.Checkpoint.Parts parts() {
        return new dev.add4j.io.Checkpoint.Parts(java.util.Map.of("vit", vit, "classifier", classifier), optimizer.parts(""));
    }

    @Override
    public Stats step(Tensor images, Tensor labels, At at) {
        try (var scope = new PointerScope()) {                             // every tensor made below is freed here
            Tensor logits = classifier.forward(vit.cls(augment.globalView(images)));                      // [B,classes]
            Tensor loss = torch.cross_entropy_loss(logits, labels);                                        // []
            optimizer.zeroGrad();
            loss.backward();
            optimizer.clipAndStep(at.lr(), clipGrad);
            double accuracy;
            try (var g = new NoGradGuard()) {
                accuracy = Ops.f(logits.argmax(new org.bytedeco.pytorch.LongOptional(1), false).eq(labels)
                        .to(torch.ScalarType.Float).mean());
            }
            return new Stats(Ops.f(loss), Double.NaN, Double.NaN, accuracy);
        }
    }

    @Override public void close() { optimizer.close(); }
}
