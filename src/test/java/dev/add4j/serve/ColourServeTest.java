package dev.add4j.serve;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.io.Json;
import com.fasterxml.jackson.databind.JsonNode;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.*;

/** {@code serve} with an RGB 64 px model: the page's info, RGB PNGs, and uploads converted to the model's shape (issue 20). */
class ColourServeTest {
    @TempDir Path dir;

    @Test void anRgbModelServesRgbPngsAtItsSizeAndConvertsAGreyUploadToRgb() throws Exception {
        TorchRuntime.init();
        Path student = TinyModels.model(dir.resolve("s.safetensors"), "student", 3, 64);
        Path teacher = TinyModels.model(dir.resolve("t.safetensors"), "teacher", 3, 64);
        try (GenerationService service = GenerationService.load(student, teacher, TinyModels.text(), new Device("cpu"), 4)) {
            Server server = Server.start(service, "127.0.0.1", 0);
            try {
                var info = ServerTest.HTTP.send(java.net.http.HttpRequest.newBuilder(ServerTest.uri(server, "/api/info")).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                JsonNode i = Json.tree(info.body());
                assertEquals(64, i.get("image_size").asInt());
                assertEquals(3, i.get("channels").asInt());
                JsonNode j = Json.tree(ServerTest.post(server, "{\"prompt\": \"a red circle\", \"steps\": 1, \"n\": 2}").body());
                BufferedImage img = ServerTest.png(Base64.getDecoder().decode(j.get("images").get(0).asText()));
                assertEquals(64, img.getWidth());
                assertEquals(3, img.getRaster().getNumBands());
                // a grey 20 x 20 upload at strength 0 comes back as the model's input: 64 x 64 RGB with equal bands
                BufferedImage grey = new BufferedImage(20, 20, BufferedImage.TYPE_BYTE_GRAY);
                for (int y = 0; y < 20; y++) for (int x = 0; x < 20; x++) grey.getRaster().setSample(x, y, 0, 200);
                j = Json.tree(ServerTest.post(server, "{\"n\": 1, \"init_image\": \"" + ServerTest.base64Png(grey) + "\", \"strength\": 0}").body());
                BufferedImage back = ServerTest.png(Base64.getDecoder().decode(j.get("images").get(0).asText()));
                assertEquals(64, back.getWidth());
                assertEquals(3, back.getRaster().getNumBands());
                for (int b = 0; b < 3; b++) assertEquals(200, back.getRaster().getSample(30, 30, b), "band " + b);
            } finally {
                server.close();
            }
        }
    }

    @Test void aStudentAndTeacherOfDifferentShapesAreRefusedInOneLine() {
        Path student = TinyModels.model(dir.resolve("s.safetensors"), "student", 3, 32);
        Path teacher = TinyModels.model(dir.resolve("t.safetensors"), "teacher", 1, 32);
        String m = assertThrows(Add4jException.class, () -> GenerationService.load(student, teacher, TinyModels.text(), new Device("cpu"), 4)).getMessage();
        assertEquals("the teacher t.safetensors is 1 x 32 px but the student s.safetensors is 3 x 32 px: channels and image size must agree", m);
    }
}
