package dev.add4j.nn;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ModuleTest {
    @BeforeAll static void init() { TorchRuntime.init(); }

    /** Two layers under dotted names: "in.weight", "in.bias", "out.weight", "out.bias", "scale". */
    static final class TwoLayers extends Module {
        TwoLayers() {
            child("in", new Layers.Linear(3, 4));
            child("out", new Layers.Linear(4, 2));
            param("scale", torch.ones(2));
        }
    }

    static Map<String, Tensor> weightsOf(Module m) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        m.namedParameters().forEach((k, v) -> w.put(k, v.detach().clone()));
        return w;
    }

    @Test void parametersHaveDottedNamesInRegistrationOrder() {
        try (var scope = new PointerScope()) {
            var m = new TwoLayers();
            assertEquals(java.util.List.of("scale", "in.weight", "in.bias", "out.weight", "out.bias"),
                    java.util.List.copyOf(m.namedParameters().keySet()));
            assertEquals(3 * 4 + 4 + 4 * 2 + 2 + 2, m.parameterCount());
        }
    }

    @Test void loadCopiesEveryWeightByName() {
        try (var scope = new PointerScope()) {
            torch.manual_seed(1);
            var a = new TwoLayers();
            torch.manual_seed(2);
            var b = new TwoLayers();
            b.load(weightsOf(a), "test");
            a.namedParameters().forEach((k, v) -> assertTrue(v.equal(b.namedParameters().get(k)), k));
        }
    }

    @Test void loadRejectsMissingNamesListingThem() {
        try (var scope = new PointerScope()) {
            var m = new TwoLayers();
            Map<String, Tensor> w = weightsOf(m);
            w.remove("out.bias");
            var e = assertThrows(Add4jException.class, () -> m.load(w, "model.safetensors"));
            assertEquals("model.safetensors: weights do not match the network: missing [out.bias], unexpected none", e.getMessage());
        }
    }

    @Test void loadRejectsUnexpectedNamesListingThem() {
        try (var scope = new PointerScope()) {
            var m = new TwoLayers();
            Map<String, Tensor> w = weightsOf(m);
            w.put("extra.weight", torch.zeros(1));
            var e = assertThrows(Add4jException.class, () -> m.load(w, "model.safetensors"));
            assertEquals("model.safetensors: weights do not match the network: missing none, unexpected [extra.weight]", e.getMessage());
        }
    }

    @Test void loadShortensLongListsOfNames() {
        try (var scope = new PointerScope()) {
            var e = assertThrows(Add4jException.class, () -> new TwoLayers().load(Map.of(), "f"));
            assertTrue(e.getMessage().contains("missing [scale, in.weight, in.bias] and 2 more"), e.getMessage());
        }
    }

    @Test void loadRejectsAWeightOfTheWrongShapeNamingItAndBothShapes() {
        try (var scope = new PointerScope()) {
            var m = new TwoLayers();
            Map<String, Tensor> w = weightsOf(m);
            w.put("in.weight", torch.zeros(4, 5));
            var e = assertThrows(Add4jException.class, () -> m.load(w, "model.safetensors"));
            assertEquals("model.safetensors: 'in.weight' has shape [4, 5], the network needs [4, 3]", e.getMessage());
        }
    }
}
