package dev.add4j.cli;

import dev.add4j.io.Json;
import dev.add4j.io.ModelAverage;
import dev.add4j.io.ModelFile;
import dev.add4j.io.Provenance;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AverageCommandTest {
    @TempDir Path dir;

    private Path model(String name, String kind, UNet.Config cfg, long seed) {
        return model(name, kind, cfg, seed, "models/teacher-fmnist.safetensors");
    }

    private Path model(String name, String kind, UNet.Config cfg, long seed, String teacher) {
        Path file = dir.resolve(name);
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            torch.manual_seed(seed);
            UNet net = new UNet(cfg);
            for (Tensor p : net.namedParameters().values()) p.add_(torch.randn(Ops.shape(p)).mul(Ops.s(0.1)));
            ModelFile.save(file, net, kind, Map.of(ModelFile.STUDENT_TIMESTEPS, "999,749,499,249", "add4j.teacher", teacher));
        }
        return file;
    }

    @Test
    void theAverageIsTheMeanOfTheWeightsAndNamesItsInputs() throws Exception {
        Path a = model("a.safetensors", "student", UNet.Config.tiny(), 1);
        Path b = model("b.safetensors", "student", UNet.Config.tiny(), 2);
        Path c = model("c.safetensors", "student", UNet.Config.tiny(), 3);
        Path out = dir.resolve("soup.safetensors");
        CliRun run = CliRun.of("average", "--out", out.toString(), a.toString(), b.toString(), c.toString());
        assertEquals(0, run.code(), run.err());
        try (var scope = new PointerScope()) {
            var ta = SafeTensors.read(a).tensors();
            var tb = SafeTensors.read(b).tensors();
            var tc = SafeTensors.read(c).tensors();
            var soup = SafeTensors.read(out);
            assertEquals(ta.keySet(), soup.tensors().keySet());
            for (String k : ta.keySet()) {
                Tensor mean = ta.get(k).add(tb.get(k)).add(tc.get(k)).div(Ops.s(3));
                // the file is fp16: the mean rounded to half precision
                double err = Ops.f(soup.tensors().get(k).sub(mean).abs().max());
                double scale = Math.max(1e-3, Ops.f(mean.abs().max()));
                assertTrue(err <= scale * 1e-3, k + ": off by " + err);
            }
            Map<String, String> meta = soup.metadata();
            assertEquals("student", meta.get(ModelFile.KIND));
            assertEquals("999,749,499,249", meta.get(ModelFile.STUDENT_TIMESTEPS));
            assertTrue(meta.get("add4j.command").startsWith("add4j average"));
            assertEquals("models/teacher-fmnist.safetensors", meta.get("add4j.teacher"));
            var members = Json.tree(meta.get(ModelAverage.AVERAGE_OF));
            assertEquals(3, members.size());
            assertEquals(Provenance.sha256(b), members.get(1).get("sha256").asText());
            // and it loads as a model
            assertTrue(ModelFile.load(out, new Device("cpu")).isStudent());
        }
    }

    @Test
    void weightsGiveTheWeightedMeanAndANegativeOneExtrapolates() {
        Path a = model("a.safetensors", "student", UNet.Config.tiny(), 1);
        Path b = model("b.safetensors", "student", UNet.Config.tiny(), 2);
        Path out = dir.resolve("past-b.safetensors");
        CliRun run = CliRun.of("average", "--weights", "1.5,-0.5", "--out", out.toString(), b.toString(), a.toString());
        assertEquals(0, run.code(), run.err());
        try (var scope = new PointerScope()) {
            var ta = SafeTensors.read(a).tensors();
            var tb = SafeTensors.read(b).tensors();
            var soup = SafeTensors.read(out);
            for (String k : ta.keySet()) {
                Tensor expected = tb.get(k).mul(Ops.s(1.5)).sub(ta.get(k).mul(Ops.s(0.5)));
                double err = Ops.f(soup.tensors().get(k).sub(expected).abs().max());
                double scale = Math.max(1e-3, Ops.f(expected.abs().max()));
                assertTrue(err <= scale * 1e-3, k + ": off by " + err);
            }
            var members = Json.tree(soup.metadata().get(ModelAverage.AVERAGE_OF));
            assertEquals(1.5, members.get(0).get("weight").asDouble());
            assertEquals(-0.5, members.get(1).get("weight").asDouble());
        }
        Path bad = dir.resolve("bad.safetensors");
        assertTrue(CliRun.of("average", "--weights", "0.5,0.6", "--out", bad.toString(), a.toString(), b.toString()).badInput().contains("sum to 1"));
        assertTrue(CliRun.of("average", "--weights", "1", "--out", bad.toString(), a.toString(), b.toString()).badInput().contains("2 model files"));
        assertTrue(CliRun.of("average", "--weights", "NaN,1", "--out", bad.toString(), a.toString(), b.toString()).badInput().contains("finite"));
        assertFalse(Files.exists(bad));
    }

    @Test
    void badInputsGiveOneLineAndWriteNothing() throws Exception {
        Path a = model("a.safetensors", "student", UNet.Config.tiny(), 1);
        Path b = model("b.safetensors", "student", UNet.Config.tiny(), 2);
        Path teacher = model("t.safetensors", "teacher", UNet.Config.tiny(), 3);
        Path wider = model("w.safetensors", "student", new UNet.Config(1, 32, List.of(1, 2), 1, List.of(1), 2, 384), 4);
        Path out = dir.resolve("soup.safetensors");

        assertTrue(CliRun.of("average", "--out", out.toString(), a.toString()).badInput().contains("FILE"));
        assertTrue(CliRun.of("average", "--out", out.toString(), a.toString(), teacher.toString()).badInput().contains("add4j.kind"));
        assertTrue(CliRun.of("average", "--out", out.toString(), a.toString(), wider.toString()).badInput().contains("add4j.unet"));
        assertTrue(CliRun.of("average", "--out", out.toString(), a.toString(), a.toString()).badInput().contains("twice"));
        Path notModel = Files.writeString(dir.resolve("x.safetensors"), "not a safetensors file");
        CliRun.of("average", "--out", out.toString(), a.toString(), notModel.toString()).badInput();
        assertFalse(Files.exists(out));

        Files.writeString(out, "keep me");
        assertTrue(CliRun.of("average", "--out", out.toString(), a.toString(), b.toString()).badInput().contains("already exists"));
        assertEquals("keep me", Files.readString(out));
    }

    @Test
    void anEntryTheInputsDisagreeOnIsDropped() {
        Path a = model("a.safetensors", "student", UNet.Config.tiny(), 1, "one-teacher.safetensors");
        Path b = model("b.safetensors", "student", UNet.Config.tiny(), 2, "another-teacher.safetensors");
        Path out = dir.resolve("soup.safetensors");
        assertEquals(0, CliRun.of("average", "--out", out.toString(), a.toString(), b.toString()).code());
        try (var scope = new PointerScope()) {
            Map<String, String> meta = SafeTensors.read(out).metadata();
            assertFalse(meta.containsKey("add4j.teacher"), meta.toString());
            assertEquals("student", meta.get(ModelFile.KIND));
        }
    }
}
