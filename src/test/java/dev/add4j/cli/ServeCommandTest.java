package dev.add4j.cli;

import dev.add4j.TorchRuntime;
import dev.add4j.io.ModelFile;
import dev.add4j.nn.UNet;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ServeCommandTest {
    @TempDir static Path shared;
    static Path tinyModel;

    @BeforeAll static void init() {
        TorchRuntime.init();
        tinyModel = shared.resolve("tiny.safetensors");
        try (var scope = new PointerScope()) {
            torch.manual_seed(0);
            ModelFile.save(tinyModel, new UNet(UNet.Config.tiny()), "teacher", Map.of("add4j.test", "ServeCommandTest"));
        }
    }

    @Test void serveListensOnLoopbackPort8080AndSamplesTheShippedModelsByDefault() {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs();
        assertEquals("127.0.0.1", cmd.host);
        assertEquals(8080, cmd.port);
        assertNull(cmd.model, "resolved at start: the student file if it exists, else the teacher");
        assertNull(cmd.teacher, "resolved at start: the dataset's");
        assertEquals("fmnist", cmd.dataset);
        assertEquals(Path.of("models/teacher-emoji.safetensors"), Dataset.parse("emoji").teacher());
        assertEquals(Path.of("models/student-fmnist.safetensors"), Dataset.parse("fmnist").student());
    }

    @Test void serveWithABadPortOrAMissingModelExitsWith2AndOneErrorLine(@TempDir Path dir) {
        assertEquals("error: --port must be in 0..65535, got 70000",
                MainTest.run("serve", "--model", tinyModel.toString(), "--teacher", tinyModel.toString(), "--port", "70000").badInput());
        Path missing = dir.resolve("missing.safetensors");
        String line = MainTest.run("serve", "--model", missing.toString(), "--teacher", tinyModel.toString(), "--port", "0",
                "--device", "cpu").badInput();
        assertTrue(line.contains("missing.safetensors"), line);
    }

    @Test void thePagesPromptExamplesAreTheDatasetsCaptions(@TempDir Path dir) {
        String fashion = serveBench("--dataset", "fmnist");
        assertTrue(fashion.contains("  prompt examples: a photo of a t-shirt; a photo of a pair of trousers;"), fashion);
        Path folder = dev.add4j.data.FolderFixture.write(dir.resolve("shapes"), 40);
        String shapes = serveBench("--dataset", "emoji", "--data", folder.toString());
        String line = shapes.lines().filter(l -> l.startsWith("  prompt examples: ")).findFirst().orElseThrow();
        String[] examples = line.substring("  prompt examples: ".length()).split("; ");
        assertEquals(12, examples.length, line);
        for (String e : examples) assertTrue(e.matches("a (red|green|blue|yellow|purple) (circle|square|triangle|ring)|(circle|square|triangle|ring), \\w+"), e);
        assertEquals(line, serveBench("--dataset", "emoji", "--data", folder.toString()).lines()
                .filter(l -> l.startsWith("  prompt examples: ")).findFirst().orElseThrow(), "a seeded choice");
        assertEquals("error: --dataset: expected fmnist or emoji, got 'mnist'",
                MainTest.run("serve", "--dataset", "mnist", "--model", tinyModel.toString(), "--teacher", tinyModel.toString()).badInput());
    }

    /** serve's console output for one benchmark request with the tiny model in both roles. */
    private static String serveBench(String... extra) {
        var args = new java.util.ArrayList<>(java.util.List.of("serve", "--model", tinyModel.toString(), "--teacher", tinyModel.toString(),
                "--port", "0", "--device", "cpu", "--bench", "1"));
        args.addAll(java.util.List.of(extra));
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, Main.execute(args.toArray(String[]::new)));
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test void serveStartsPrintsItsUrlAndAnswersTheBenchmarksRequests() {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("serve", "--model", tinyModel.toString(), "--teacher", tinyModel.toString(), "--port", "0",
                    "--device", "cpu", "--bench", "5");
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, out);
        assertTrue(out.matches("(?s)add4j serve: http://127\\.0\\.0\\.1:\\d+/\n.*"), out);
        assertTrue(out.contains("no student yet: a teacher stands in"), out);
        assertTrue(out.matches("(?s).*bench: 5 sequential requests .* p50 \\d+\\.\\d ms, p95 \\d+\\.\\d ms.*"), out);
    }
}
