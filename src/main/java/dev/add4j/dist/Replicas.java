package dev.add4j.dist;

import dev.add4j.nn.Module;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Networks that every rank holds a copy of. Each rank builds its networks from the same seed, or reads them from the
 * same checkpoint, so the copies already agree; one broadcast at the start of a run makes sure of it (a network
 * initialised from another thread's draws, a checkpoint read while rank 0 rewrote it), as DDP does.
 */
public final class Replicas {
    private Replicas() {}

    /** Copies rank 0's float32 parameters and buffers of {@code modules} into every rank's, in one broadcast. */
    public static void fromRankZero(Group group, Map<String, ? extends Module> modules) {
        if (group.size() == 1 || modules.isEmpty()) return;
        try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            List<Tensor> all = new ArrayList<>();                          // scalar_type(): a fresh enum object, intern() the constant
            for (Module m : new TreeMap<>(modules).values()) {             // by name: Map.of's order differs between JVMs
                for (Tensor t : m.namedParameters().values()) if (t.scalar_type().intern() == torch.ScalarType.Float) all.add(t);
                for (Tensor t : m.namedBuffers().values()) if (t.scalar_type().intern() == torch.ScalarType.Float) all.add(t);
            }
            Tensor[] flat = new Tensor[all.size()];
            for (int i = 0; i < flat.length; i++) flat[i] = all.get(i).reshape(-1);
            Tensor buffer = torch.cat(new TensorVector(flat));                                              // [P]
            group.broadcast(buffer, 0);
            long at = 0;
            for (Tensor t : all) {
                t.copy_(buffer.narrow(0, at, t.numel()).view_as(t));
                at += t.numel();
            }
        }
    }
}
