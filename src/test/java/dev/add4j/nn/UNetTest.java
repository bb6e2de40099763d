package dev.add4j.nn;

import dev.add4j.TorchRuntime;
import dev.add4j.data.FashionMnist;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.AdamOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class UNetTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    /** A text condition for {@code b} samples: tokens [B,5,384], mask [B,5] with the last two positions padding, pooled [B,384]. */
    static Tensor[] cond(int b) {
        Tensor mask = torch.ones(b, 5);
        mask.narrow(1, 3, 2).zero_();
        return new Tensor[]{torch.randn(b, 5, 384), mask, torch.randn(b, 384)};
    }

    static Tensor forward(UNet net, Tensor x, Tensor t, Tensor[] c) { return net.forward(x, t, c[0], c[1], c[2]); }

    @Test void encoderChannelsNameTheWidthOfEachEncoderMap() {
        for (UNet.Config c : java.util.List.of(UNet.Config.tiny(), UNet.Config.fmnist())) {
            try (var scope = new org.bytedeco.javacpp.PointerScope(); var g = new org.bytedeco.pytorch.NoGradGuard()) {
                UNet net = new UNet(c);
                var maps = net.encoderFeatures(org.bytedeco.pytorch.global.torch.zeros(2, 1, 32, 32), org.bytedeco.pytorch.global.torch.zeros(2).to(org.bytedeco.pytorch.global.torch.ScalarType.Long),
                        org.bytedeco.pytorch.global.torch.zeros(2, 3, c.textDim()), org.bytedeco.pytorch.global.torch.ones(2, 3), org.bytedeco.pytorch.global.torch.zeros(2, c.textDim()));
                assertEquals(maps.stream().map(m -> (int) m.size(1)).toList(), net.encoderChannels());
            }
        }
    }

    /**
     * A small CPU batch without gradients runs on channels-last copies of the convolution weights (Layers.Conv2d):
     * the same output as the plain layout to float tolerance, handed back contiguous, and following the weights
     * when they change in place (an optimiser step, the EMA).
     */
    @Test void smallBatchesWithoutGradientsGiveThePlainLayoutsOutputAndFollowWeightChanges() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            UNet net = new UNet(UNet.Config.tiny().withImageChannels(3));
            try (var g = new org.bytedeco.pytorch.NoGradGuard()) {
                for (Tensor p : net.namedParameters().values()) p.add_(torch.randn(p.sizes()).mul(Ops.s(0.05)));
            }
            Tensor x = torch.randn(2, 3, 32, 32), t = Ops.fromLongs(new long[]{999, 400}, 2);
            Tensor[] c = cond(2);
            for (int round = 0; round < 2; round++) {
                Tensor plain = forward(net, x, t, c).detach();                  // gradients on: the weights as they are
                Tensor small;
                try (var g = new org.bytedeco.pytorch.NoGradGuard()) { small = forward(net, x, t, c); }
                assertTrue(small.is_contiguous(), "x0 comes back in the usual layout");
                double diff = Ops.f(small.sub(plain).abs().max()), scale = Ops.f(plain.abs().max());
                assertTrue(diff <= 1e-5 * Math.max(1, scale), "round " + round + ": max |diff| " + diff);
                try (var g = new org.bytedeco.pytorch.NoGradGuard()) {   // an in-place update, as Adam and the EMA make
                    for (Tensor p : net.namedParameters().values()) p.mul_(Ops.s(0.9));
                }
            }
        }
    }

    @Test void outputShapeEqualsInputShapeForTheTinyConfig() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(1);
            UNet net = new UNet(UNet.Config.tiny());
            for (long[] shape : new long[][]{{2, 1, 32, 32}, {3, 1, 16, 16}}) {
                Tensor x = torch.randn(shape);
                Tensor v = forward(net, x, Ops.fromLongs(new long[(int) shape[0]], shape[0]), cond((int) shape[0]));
                assertArrayEquals(shape, Ops.shape(v));
            }
        }
    }

    @Test void zeroInitialisedOutputLayerMakesVZeroAtInit() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(2);
            UNet net = new UNet(UNet.Config.tiny());
            Tensor v = forward(net, torch.randn(2, 1, 32, 32), Ops.fromLongs(new long[]{10, 900}, 2), cond(2));
            assertEquals(0.0, Ops.f(v.abs().max()));
        }
    }

    @Test void forwardRejectsInputsOfTheWrongShapeNamingTheTensor() {
        try (var scope = new PointerScope()) {
            UNet net = new UNet(UNet.Config.tiny());
            var e = assertThrows(IllegalArgumentException.class,
                    () -> forward(net, torch.randn(2, 3, 32, 32), Ops.fromLongs(new long[2], 2), cond(2)));
            assertEquals("x: expected [*,1,*,*], got [2,3,32,32]", e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> forward(net, torch.randn(2, 1, 32, 32), Ops.fromLongs(new long[2], 2), cond(3)));
            assertTrue(e.getMessage().startsWith("tokens: expected [2,*,384]"), e.getMessage());
        }
    }

    /** One step of v-regression towards a random target; returns the loss. */
    static double step(UNet net, Adam opt, Tensor x, Tensor t, Tensor[] c, Tensor target) {
        try (var scope = new PointerScope()) {
            Tensor loss = forward(net, x, t, c).sub(target).square().mean();
            opt.zero_grad();
            loss.backward();
            // the trainers' policy: a step with a non-finite gradient is skipped (README, "Notes for developers")
            if (Double.isFinite(torch.clip_grad_norm_(net.parameterVector(), Float.MAX_VALUE))) opt.step();
            return Ops.f(loss);
        }
    }

    static List<String> withGradient(UNet net, boolean nonZero) {
        List<String> out = new ArrayList<>();
        try (var scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : net.namedParameters().entrySet()) {
                Tensor g = e.getValue().grad();
                if (g.defined() && (!nonZero || Ops.f(g.abs().max()) > 0)) out.add(e.getKey());
            }
        }
        return out;
    }

    @Test void everyParameterIsInTheGraphAndGetsANonZeroGradientOnceTheZeroInitialisedLayersOpen() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(3);
            UNet net = new UNet(UNet.Config.tiny());
            List<String> all = new ArrayList<>(net.namedParameters().keySet());
            Adam opt = new Adam(net.parameterVector(), new AdamOptions(1e-3));
            Tensor x = torch.randn(2, 1, 16, 16), t = Ops.fromLongs(new long[]{100, 700}, 2), target = torch.randn(2, 1, 16, 16);
            Tensor[] c = cond(2);
            step(net, opt, x, t, c, target);
            assertEquals(all, withGradient(net, false), "every parameter is in the graph: no undefined gradient");
            // Zero-initialised layers (conv_out, each ResBlock's conv2, attention projections) block the gradient to
            // what lies behind them until an optimiser step has made them non-zero: conv_out opens after step 1,
            // the residual branches after step 2, so the third backward reaches every parameter.
            step(net, opt, x, t, c, target);
            step(net, opt, x, t, c, target);
            List<String> missing = new ArrayList<>(all);
            missing.removeAll(withGradient(net, true));
            assertEquals(List.of(), missing, "parameters whose gradient is still zero");
            opt.close();
        }
    }

    @Test void configRejectsBaseChannelsNotAMultipleOf16() {
        for (int bad : new int[]{0, 8, 24, 40}) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new UNet.Config(1, bad, List.of(1, 2), 1, List.of(1), 2, 384));
            assertEquals("UNet: baseChannels must be a positive multiple of 16, got " + bad, e.getMessage());
        }
        assertEquals(32, new UNet.Config(1, 32, List.of(1, 2), 1, List.of(1), 2, 384).baseChannels());
    }

    @Test void theConfigsParameterCountIsTheBuiltNetworksWithoutBuildingIt() {
        try (var scope = new PointerScope()) {
            for (UNet.Config c : List.of(UNet.Config.tiny(), UNet.Config.fmnist(),
                    new UNet.Config(3, 32, List.of(1, 2, 3, 4), 3, List.of(0, 3), 8, 64)))
                assertEquals(new UNet(c).parameterCount(), c.parameterCount(), c.toString());
        }
    }

    @Test void configRejectsEachFieldOutsideItsLimitNamingIt() {
        String[][] cases = {{"heads", "0"}, {"heads", "3"}, {"resBlocks", "17"}, {"imageChannels", "0"}, {"textDim", "0"}}; // field, value
        for (String[] c : cases) {
            int v = Integer.parseInt(c[1]);
            var e = assertThrows(IllegalArgumentException.class, () -> new UNet.Config(
                    c[0].equals("imageChannels") ? v : 1, 16, List.of(1, 2), c[0].equals("resBlocks") ? v : 1, List.of(1),
                    c[0].equals("heads") ? v : 2, c[0].equals("textDim") ? v : 384));
            assertTrue(e.getMessage().contains(c[0]), e.getMessage());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> new UNet.Config(1, 1024, List.of(4, 4, 4, 4, 4, 4), 16, List.of(), 1, 384));
        assertTrue(e.getMessage().contains("parameters, at most"), e.getMessage());
    }

    @Test void configRejectsEmptyChannelMultsAndZeroResBlocks() {
        assertThrows(IllegalArgumentException.class, () -> new UNet.Config(1, 16, List.of(), 1, List.of(), 2, 384));
        assertThrows(IllegalArgumentException.class, () -> new UNet.Config(1, 16, List.of(1), 0, List.of(), 2, 384));
    }

    @Test void aTinyUNetOverfitsFourFixedImagesAtAFixedTimestep() {
        // 4 images, fixed t and noise, 150 Adam steps: a network that can learn at all drives this loss down >10x
        try (var scope = new PointerScope()) {
            torch.manual_seed(4);
            UNet net = new UNet(UNet.Config.tiny());
            Adam opt = new Adam(net.parameterVector(), new AdamOptions(2e-3));
            Tensor x0 = FashionMnist.images(FashionMnist.load("embedded", true), new int[]{0, 1, 2, 3}); // [4,1,32,32]
            Tensor eps = torch.randn(4, 1, 32, 32);
            double alpha = Math.sqrt(0.5), sigma = Math.sqrt(0.5);                                  // a mid timestep
            Tensor xT = x0.mul(Ops.s(alpha)).add(eps.mul(Ops.s(sigma)));
            Tensor v = eps.mul(Ops.s(alpha)).sub(x0.mul(Ops.s(sigma)));
            Tensor t = Ops.fromLongs(new long[]{500, 500, 500, 500}, 4);
            Tensor[] c = cond(4);
            double first = step(net, opt, xT, t, c, v), last = first;
            for (int i = 1; i < 150; i++) last = step(net, opt, xT, t, c, v);
            System.out.printf("UNetTest overfit: loss %.4f -> %.4f (%.1fx)%n", first, last, first / last);
            assertTrue(last < first / 10, "loss " + first + " -> " + last);
            opt.close();
        }
    }
}
