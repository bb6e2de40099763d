package dev.add4j.features;

import dev.add4j.nn.Ops;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Weighted k-nearest-neighbour classification on frozen features, DINO's evaluation (Caron et al. 2021, §4.1,
 * after Wu et al. 2018): each test image votes with its k most cosine-similar training images, each vote weighted
 * exp(similarity / T). Says whether a feature network separates the classes without training anything on top.
 */
public final class Knn {
    private Knn() {}

    /** DINO's neighbour count. */
    public static final int K = 20;
    /** DINO's vote temperature. */
    public static final double TEMPERATURE = 0.07;

    /**
     * Unit-length CLS embeddings of {@code images}, computed without gradients in batches of {@code batch}.
     * @param images [N,C,S,S] in [-1,1]
     * @return [N,width] on the images' device, each row of l2 norm 1
     */
    public static Tensor embed(Vit vit, Tensor images, int batch) {
        long n = images.size(0);
        Tensor out = torch.zeros(new long[]{n, vit.width()}, Ops.floatOn(images.device()));                 // [N,width]
        for (long i = 0; i < n; i += batch) {
            long m = Math.min(batch, n - i);
            try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                out.narrow(0, i, m).copy_(DinoHead.unit(vit.cls(images.narrow(0, i, m))));                   // [m,width]
            }
        }
        return out;
    }

    /**
     * Accuracy of weighted k-NN voting.
     * @param trainFeatures unit-length features of the labelled bank [N,D]
     * @param trainLabels   their classes [N] (int64)
     * @param testFeatures  unit-length features to classify [M,D]
     * @param testLabels    their true classes [M] (int64)
     * @return the fraction of test images whose vote matches their label
     */
    public static double accuracy(Tensor trainFeatures, Tensor trainLabels, Tensor testFeatures, Tensor testLabels,
                                  int k, double temperature, int classes) {
        long m = testFeatures.size(0), n = trainFeatures.size(0);
        int kk = (int) Math.min(k, n);
        long correct = 0;
        for (long i = 0; i < m; i += 256) { // 256 queries at a time keep the similarity matrix small
            long q = Math.min(256, m - i);
            try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                Tensor sim = testFeatures.narrow(0, i, q).mm(trainFeatures.t());                              // [q,N]
                T_TensorTensor_T top = sim.topk(kk, 1, true, true);
                Tensor weights = top.get0().div(Ops.s(temperature)).exp();                                     // [q,k]
                Tensor neighbours = trainLabels.index_select(0, top.get1().flatten()).reshape(q, kk);          // [q,k]
                Tensor votes = torch.one_hot(neighbours, classes).to(torch.ScalarType.Float)
                        .mul(weights.unsqueeze(-1)).sum(new long[]{1});                                        // [q,classes]
                Tensor predicted = votes.argmax(new org.bytedeco.pytorch.LongOptional(1), false);             // [q]
                correct += predicted.eq(testLabels.narrow(0, i, q)).sum().item_long();
            }
        }
        return (double) correct / m;
    }

    /** k-NN accuracy (k = 20, T = 0.07) of {@code vit}'s CLS features: embeds both sets, then {@link #accuracy}. */
    public static double accuracy(Vit vit, Tensor trainImages, Tensor trainLabels, Tensor testImages, Tensor testLabels, int classes) {
        try (var scope = new PointerScope()) {
            Tensor train = embed(vit, trainImages, 256), test = embed(vit, testImages, 256);
            return accuracy(train, trainLabels, test, testLabels, K, TEMPERATURE, classes);
        }
    }
}
