package dev.add4j.cli;

import dev.add4j.io.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The shipped emoji models (models/README.md, "The emoji set's models") on the emoji in the jar: the student in one
 * step draws colour images, and it is far closer to the held-out emoji than its teacher in one step, by the shipped
 * eval net. The full numbers (n 2000 on data/emoji) are eval's, recorded beside the models.
 */
class ShippedEmojiModelsTest {
    @Test void theStudentInOneStepDrawsColourAndBeatsItsTeacherInOneStep(@TempDir Path dir) throws Exception {
        double student = oneStepFid(dir.resolve("student"), "models/student-emoji.safetensors");
        double teacher = oneStepFid(dir.resolve("teacher"), "models/teacher-emoji.safetensors");
        System.out.printf("shipped emoji models, 1-step FID on the jar's 80 held-out emoji: student %.3f, teacher %.3f%n", student, teacher);
        assertTrue(student < 0.7 * teacher, "1-step FID: student " + student + ", teacher " + teacher);

        BufferedImage img = ImageIO.read(dir.resolve("student/grid-steps-1.png").toFile());
        long coloured = 0, pixels = (long) img.getWidth() * img.getHeight();
        for (int y = 0; y < img.getHeight(); y++)
            for (int x = 0; x < img.getWidth(); x++) {
                int p = img.getRGB(x, y), r = p >> 16 & 255, g = p >> 8 & 255, b = p & 255;
                if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 40) coloured++;
            }
        assertTrue(coloured > pixels / 10, coloured + " of " + pixels + " pixels coloured");
    }

    /** eval's 1-step FID of a shipped model against the 80 held-out emoji in the jar, 80 images, seed 0. */
    private static double oneStepFid(Path out, String model) throws Exception {
        CliRun r = CliRun.of("eval", "--model", model, "--steps", "1", "--n", "80", "--data", "embedded-emoji",
                "--eval-net", "models/evalnet-emoji.safetensors", "--device", "cpu", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        return Json.tree(Files.readString(out.resolve("metrics.json"))).get("rows").get(0).get("fid").asDouble();
    }
}
