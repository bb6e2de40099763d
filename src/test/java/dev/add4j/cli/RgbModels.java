package dev.add4j.cli;

import dev.add4j.eval.EvalNet;
import dev.add4j.features.Vit;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;

import java.nio.file.Path;
import java.util.Map;

/** Tiny random 3 x 32 px files for a command on a colour folder: a teacher, a feature ViT and an eval net without classes. */
record RgbModels(Path teacher, Path vit, Path evalNet) {
    static RgbModels write(Path dir) {
        RgbModels m = new RgbModels(dir.resolve("teacher-rgb.safetensors"), dir.resolve("vit-rgb.safetensors"), dir.resolve("net-rgb.safetensors"));
        try (var scope = new PointerScope()) {
            torch.manual_seed(4);
            ModelFile.save(m.teacher, new UNet(UNet.Config.tiny().withImageChannels(3)), "teacher", Map.of());
            new Vit(Vit.Config.tiny().withImage(3, 32)).save(m.vit, Map.of());
            new EvalNet(EvalNet.Config.tiny().withData(3, 0)).save(m.evalNet, Map.of());
        }
        return m;
    }
}
