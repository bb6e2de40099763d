package dev.add4j.eval;

import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;

/**
 * Class accuracy, overall and per class: how often the {@link EvalNet} classifier recognises the class an image
 * was made for (or, on real test images, the class it belongs to).
 */
public final class ClassAccuracy {
    private ClassAccuracy() {}

    /**
     * @param overall  fraction of correct predictions over all N images
     * @param perClass fraction correct among the images of each class; NaN for a class with no images
     * @param counts   images per class
     */
    public record Result(double overall, List<Double> perClass, List<Long> counts) {
        public Result {
            perClass = List.copyOf(perClass);
            counts = List.copyOf(counts);
        }

        /** The lowest per-class accuracy among classes with images (the class the model serves worst). */
        public double worstClass() {
            return perClass.stream().filter(a -> !a.isNaN()).mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
        }
    }

    /**
     * Accuracy of class logits against labels.
     * @param logits [N,C] scores (the argmax is the prediction)
     * @param labels [N] integer labels in 0..C-1
     * @throws IllegalArgumentException for mismatched shapes or labels out of range
     */
    public static Result of(Tensor logits, Tensor labels) {
        if (logits.dim() != 2) throw new IllegalArgumentException("logits: expected [N,C], got " + MetricInputs.str(Ops.shape(logits)));
        try (var scope = new PointerScope()) {
            return ofPredictions(logits.argmax(new LongOptional(1), false), labels, (int) logits.size(1));
        }
    }

    /**
     * Accuracy of predicted classes against labels.
     * @param predictions [N] integer predictions
     * @param labels      [N] integer labels in 0..classes-1
     */
    public static Result ofPredictions(Tensor predictions, Tensor labels, int classes) {
        Ops.expectShape(predictions, "predictions", -1);
        Ops.expectShape(labels, "labels", predictions.size(0));
        if (predictions.size(0) == 0) throw new IllegalArgumentException("labels: no images");
        try (var scope = new PointerScope()) {
            Tensor y = labels.to(predictions.device(), torch.ScalarType.Long);                       // [N]
            long lo = y.min().item_long(), hi = y.max().item_long();
            if (lo < 0 || hi >= classes)
                throw new IllegalArgumentException("labels: expected values in 0.." + (classes - 1) + ", got " + lo + ".." + hi);
            Tensor correct = predictions.to(torch.ScalarType.Long).eq(y).to(torch.ScalarType.Double); // [N]
            Tensor oneHot = torch.one_hot(y, classes).to(torch.ScalarType.Double);                  // [N,C]
            float[] hits = Ops.toFloats(oneHot.t().mv(correct));                                 // [C], exact below 2^24
            float[] counts = Ops.toFloats(oneHot.sum(0));                                // [C]
            List<Double> perClass = new ArrayList<>();
            List<Long> n = new ArrayList<>();
            for (int c = 0; c < classes; c++) {
                perClass.add(counts[c] == 0 ? Double.NaN : (double) hits[c] / counts[c]);
                n.add((long) counts[c]);
            }
            return new Result(Ops.f(correct.mean()), perClass, n);
        }
    }
}
