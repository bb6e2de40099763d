package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.add.AddTrainer;
import dev.add4j.features.Vit;
import dev.add4j.io.ModelFile;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** {@code add4j distill} end to end with tiny random networks on the embedded data. */
class DistillCommandTest {
    @TempDir static Path shared;
    static Path teacher, start, features;

    @BeforeAll static void files() {
        TorchRuntime.init();
        try (var scope = new PointerScope()) {
            torch.manual_seed(5);
            teacher = shared.resolve("teacher.safetensors");
            ModelFile.save(teacher, new UNet(UNet.Config.tiny()), "teacher", Map.of());
            start = shared.resolve("start.safetensors");
            ModelFile.save(start, new UNet(UNet.Config.tiny()), "teacher", Map.of());
            features = shared.resolve("vit.safetensors");
            new Vit(Vit.Config.tiny()).save(features, Map.of());
        }
    }

    private static CliRun distill(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("distill", "--preset", "paper", "--data", "embedded", "--teacher", teacher.toString(),
                "--features", features.toString(), "--steps", "2", "--batch", "4", "--sample-every", "0", "--checkpoint-every", "1",
                "--device", "cpu", "--threads", "1", "--caption-cache", shared.resolve("captions.safetensors").toString(),
                "--out", out.toString()));
        a.addAll(List.of(extra));
        return CliRun.of(a.toArray(String[]::new));
    }

    @Test void aResumedRunStillNamesTheFileItStartedFrom(@TempDir Path dir) {
        Path out = dir.resolve("run");
        CliRun first = distill(out, "--init-from", start.toString(), "--max-minutes", "1e-9");      // stops after iteration 1
        assertEquals(0, first.code(), first.err() + first.out());
        CliRun second = distill(out, "--resume");
        assertEquals(0, second.code(), second.err() + second.out());
        assertTrue(second.out().contains("(init " + start + ")"), second.out());
        Map<String, String> meta = SafeTensors.read(out.resolve(AddTrainer.MODEL)).metadata();
        assertEquals(start.toString(), meta.get("add4j.init_from"));
    }
}
