package dev.add4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.TorchRuntime;
import dev.add4j.io.Json;
import dev.add4j.serve.GenerationService.Role;
import dev.add4j.text.TextEncoder;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

class ServerTest {
    @TempDir static Path dir;
    static TextEncoder text;
    static GenerationService service;
    static Server server;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll static void init() {
        TorchRuntime.init();
        text = TinyModels.text();
        service = GenerationService.load(TinyModels.student(dir), TinyModels.teacher(dir), text, new Device("cpu"), 8);
        server = Server.start(service, "127.0.0.1", 0, List.of("a photo of a bag", "a sneaker"));
    }

    @AfterAll static void close() {
        server.close();
        service.close();
    }

    static URI uri(Server s, String pathAndQuery) { return URI.create("http://127.0.0.1:" + s.port() + pathAndQuery); }

    static HttpResponse<byte[]> get(String pathAndQuery) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(uri(server, pathAndQuery)).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static HttpResponse<String> post(Server s, String json) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(uri(s, "/api/generate")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static String type(HttpResponse<?> r) { return r.headers().firstValue("Content-Type").orElse(""); }

    static BufferedImage png(byte[] bytes) throws IOException { return ImageIO.read(new ByteArrayInputStream(bytes)); }

    /** Asserts a JSON error with this status and returns its message. */
    static String jsonError(int status, HttpResponse<String> r) {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(type(r).startsWith("application/json"), type(r));
        JsonNode error = Json.tree(r.body()).get("error");
        assertNotNull(error, r.body());
        return error.asText();
    }

    @Test void thePageAndItsTwoFilesAreServedWithTheirContentTypes() throws Exception {
        var page = get("/");
        assertEquals(200, page.statusCode());
        assertTrue(type(page).startsWith("text/html"), type(page));
        String html = new String(page.body(), StandardCharsets.UTF_8);
        assertTrue(html.contains("id=\"prompt\"") && html.contains("/app.js") && html.contains("/style.css"), html);
        assertTrue(page.headers().firstValue("Content-Security-Policy").isPresent());
        assertTrue(type(get("/app.js")).startsWith("text/javascript"));
        var css = get("/style.css");
        assertTrue(type(css).startsWith("text/css"));
        assertTrue(new String(css.body(), StandardCharsets.UTF_8).contains("image-rendering: pixelated"));
    }

    @Test void postGenerateGivesNBase64PngsOf32By32AndItsTimings() throws Exception {
        var r = post(server, "{\"prompt\": \"a photo of a sneaker\", \"steps\": 2, \"seed\": 5, \"n\": 3, \"model\": \"student\"}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(type(r).startsWith("application/json"));
        JsonNode j = Json.tree(r.body());
        assertEquals(3, j.get("images").size());
        for (JsonNode b64 : j.get("images")) {
            BufferedImage img = png(Base64.getDecoder().decode(b64.asText()));
            assertEquals(32, img.getWidth());
            assertEquals(32, img.getHeight());
        }
        assertTrue(j.get("ms_per_image").asDouble() > 0 && j.get("ms_total").asDouble() > 0, r.body());
        assertEquals(2, j.get("steps").asInt());
        assertEquals(5, j.get("seed").asLong());
        assertEquals("student", j.get("model").asText());
    }

    @Test void aRequestRepeatedOverHttpGivesTheSameImages() throws Exception {
        String body = "{\"prompt\": \"a shirt\", \"steps\": 1, \"seed\": 123456789012, \"n\": 2}";
        assertEquals(Json.tree(post(server, body).body()).get("images"), Json.tree(post(server, body).body()).get("images"));
    }

    @Test void badRequestsGet400WithAJsonErrorThatSaysWhatWasWrong() throws Exception {
        assertEquals("steps must be in 1..4 for the student, got 5", jsonError(400, post(server, "{\"prompt\": \"a\", \"steps\": 5}")));
        assertEquals("steps must be in 1..4 for the student, got 0", jsonError(400, post(server, "{\"steps\": 0}")));
        assertEquals("n must be in 1..16, got 17", jsonError(400, post(server, "{\"prompt\": \"a\", \"n\": 17}")));
        assertTrue(jsonError(400, post(server, "{\"prompt\": \"" + "x".repeat(201) + "\"}")).startsWith("prompt too long: 201 characters"));
        assertTrue(jsonError(400, post(server, "{\"model\": \"turbo\"}")).contains("\"student\" or \"teacher\""));
        assertTrue(jsonError(400, post(server, "{\"promt\": \"typo\"}")).contains("unknown field 'promt'"));
        assertTrue(jsonError(400, post(server, "{\"seed\": \"abc\"}")).contains("seed"));
        assertTrue(jsonError(400, post(server, "not json")).contains("not valid JSON"));
        assertTrue(jsonError(400, post(server, "null")).contains("expected an object"));
        assertTrue(jsonError(400, post(server, "{\"prompt\": \"" + "x".repeat(100_000) + "\"}")).startsWith("prompt too long: 100000"));
    }

    @Test void jsonFieldsOfTheWrongTypeGet400NamingTheFieldInsteadOfBeingCoerced() throws Exception {
        String[][] cases = {
                {"{\"steps\": 1.5}", "json: field 'steps': expected an integer, got 1.5"},
                {"{\"steps\": \"2\"}", "json: field 'steps': expected an integer, got \"2\""},
                {"{\"n\": true}", "json: field 'n': expected an integer, got a boolean"},
                {"{\"seed\": 1e3}", "json: field 'seed': expected an integer, got 1000.0"},
                {"{\"prompt\": 123}", "json: field 'prompt': expected a string, got 123"},
                {"{\"prompt\": null}", "json: field 'prompt': null is not allowed; leave the field out for its default"},
                {"{\"prompt\": [\"a bag\"]}", "json: field 'prompt': expected a string, got a list"},
                {"{\"model\": false}", "json: field 'model': expected a string, got false"},
                {"{\"init_image\": 5}", "json: field 'init_image': expected a string, got 5"},
                {"{\"strength\": \"0.5\"}", "json: field 'strength': expected a number, got \"0.5\""},
                {"{\"steps\": 99999999999}", "json: field 'steps': expected an integer in -2147483648..2147483647, got 99999999999"},
                {"[{\"prompt\": \"a bag\"}]", "json: expected an object, got a list"},
        };
        for (String[] c : cases) assertEquals(c[1], jsonError(400, post(server, c[0])), c[0]);
        assertTrue(jsonError(400, post(server, "{\"prompt\": \"a\", \"prompt\": \"b\"}")).contains("Duplicate field 'prompt'"));
        assertEquals("json: more after the end of the JSON value", jsonError(400, post(server, "{\"n\": 1} {\"n\": 2}")));
        // a body written from the record (ServeBench's) leaves its null fields out, so the server takes it
        String written = Json.compact(new Server.GenerateBody("a bag", null, null, 1, null));
        assertEquals("{\"prompt\":\"a bag\",\"n\":1}", written);
        assertEquals(200, post(server, written).statusCode());
    }

    static String base64Png(BufferedImage img) throws IOException {
        var out = new java.io.ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return Base64.getEncoder().encodeToString(out.toByteArray());
    }

    /** A 64 x 64 grey sketch: a light square on black. */
    static BufferedImage sketch() {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 16; y < 48; y++) for (int x = 16; x < 48; x++) img.getRaster().setSample(x, y, 0, 230);
        return img;
    }

    @Test void anInitImageGivesImageToImageAtItsStrengthWhichTheAnswerEchoes() throws Exception {
        String init = base64Png(sketch());
        var r = post(server, "{\"prompt\": \"a bag\", \"steps\": 4, \"seed\": 3, \"n\": 2, \"init_image\": \"" + init + "\", \"strength\": 0.25}");
        JsonNode j = Json.tree(r.body());
        assertEquals(200, r.statusCode(), r.body());
        assertEquals(2, j.get("images").size());
        assertEquals(0.25, j.get("strength").asDouble());
        assertEquals(4, j.get("steps").asInt());
        // strength 0 gives the input back, converted to 32 x 32 (an average of 2 x 2 pixels: 230 stays 230)
        j = Json.tree(post(server, "{\"n\": 1, \"init_image\": \"" + init + "\", \"strength\": 0}").body());
        BufferedImage back = png(Base64.getDecoder().decode(j.get("images").get(0).asText()));
        assertEquals(230, back.getRaster().getSample(15, 15, 0));
        assertEquals(0, back.getRaster().getSample(7, 7, 0));
        // left out: strength 0.5, and the student's default steps raised from 1 to 2 so that a step runs
        j = Json.tree(post(server, "{\"n\": 1, \"init_image\": \"" + init + "\"}").body());
        assertEquals(0.5, j.get("strength").asDouble());
        assertEquals(2, j.get("steps").asInt());
        assertFalse(Json.tree(post(server, "{\"n\": 1}").body()).has("strength"), "text-to-image has no strength");
    }

    @Test void aBadInitImageOrStrengthGets400NamingTheField() throws Exception {
        String init = base64Png(sketch());
        assertTrue(jsonError(400, post(server, "{\"init_image\": \"not base64!\"}")).startsWith("init_image: not valid base64"));
        assertTrue(jsonError(400, post(server, "{\"init_image\": \"data:image/png;base64," + init + "\"}")).startsWith("init_image: not valid base64"));
        var gif = new java.io.ByteArrayOutputStream();
        ImageIO.write(sketch(), "gif", gif);
        assertEquals("init_image: only PNG or JPEG images are accepted (the bytes are neither)",
                jsonError(400, post(server, "{\"init_image\": \"" + Base64.getEncoder().encodeToString(gif.toByteArray()) + "\"}")));
        assertEquals("init_image: 1025x2 pixels, at most 1024x1024", jsonError(400, post(server,
                "{\"init_image\": \"" + base64Png(new BufferedImage(1025, 2, BufferedImage.TYPE_BYTE_GRAY)) + "\"}")));
        byte[] big = new byte[(1 << 20) + 3];                                       // over 1 MB, refused before decoding
        assertTrue(jsonError(400, post(server, "{\"init_image\": \"" + Base64.getEncoder().encodeToString(big) + "\"}"))
                .startsWith("init_image: over 1,048,576 bytes"));
        assertTrue(jsonError(400, post(server, "{\"init_image\": \"" + "A".repeat(Server.MAX_BODY) + "\"}"))   // over the body limit
                .startsWith("init_image: the request is over"));
        assertEquals("strength needs an init_image (image-to-image)", jsonError(400, post(server, "{\"strength\": 0.5}")));
        assertEquals("strength must be in 0..1, got 1.5", jsonError(400, post(server, "{\"init_image\": \"" + init + "\", \"strength\": 1.5}")));
        assertTrue(jsonError(400, post(server, "{\"steps\": 1, \"init_image\": \"" + init + "\", \"strength\": 0.5}"))
                .startsWith("steps x strength must be >= 1"));
    }

    @Test void anEmptyBodyTakesTheDefaultsFourUnconditionalImagesFromTheStudentAtOneStep() throws Exception {
        JsonNode j = Json.tree(post(server, "").body());
        assertEquals(4, j.get("images").size());
        assertEquals(1, j.get("steps").asInt());
        assertEquals("student", j.get("model").asText());
    }

    @Test void generatePngGivesOnePngGridOfTheImages() throws Exception {
        var r = get("/api/generate.png?prompt=" + URLEncoder.encode("a bag & a coat", StandardCharsets.UTF_8) + "&steps=3&seed=2&n=4&model=teacher");
        assertEquals(200, r.statusCode(), new String(r.body(), StandardCharsets.UTF_8));
        assertEquals("image/png", type(r));
        BufferedImage grid = png(r.body());
        // 2x2 images of 32 px scaled 4 times, 2 px gaps: 2 * (128 + 2) + 2
        assertEquals(262, grid.getWidth());
        assertEquals(262, grid.getHeight());
    }

    @Test void badQueryParametersGet400WithAJsonError() throws Exception {
        var r = HTTP.send(HttpRequest.newBuilder(uri(server, "/api/generate.png?steps=two")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("steps must be an integer, got 'two'", jsonError(400, r));
        r = HTTP.send(HttpRequest.newBuilder(uri(server, "/api/generate.png?model=teacher&steps=51")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("steps must be in 1..50 for the teacher, got 51", jsonError(400, r));
        r = HTTP.send(HttpRequest.newBuilder(uri(server, "/api/generate.png?file=/etc/passwd")).build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(jsonError(400, r).startsWith("unknown parameter 'file'"));
    }

    @Test void infoListsBothRolesWithTheirSamplersAndTheLimits() throws Exception {
        var r = get("/api/info");
        assertEquals(200, r.statusCode());
        JsonNode j = Json.tree(new String(r.body(), StandardCharsets.UTF_8));
        assertEquals("add", j.at("/models/student/sampler").asText());
        assertEquals(4, j.at("/models/student/max_steps").asInt());
        assertEquals("ddim", j.at("/models/teacher/sampler").asText());
        assertEquals(50, j.at("/models/teacher/max_steps").asInt());
        assertEquals("tiny-teacher.safetensors", j.at("/models/teacher/file").asText(), "a file name, not the server's path");
        assertEquals(TextEncoder.MAX_CHARS, j.at("/limits/max_chars").asInt());
        assertEquals(16, j.at("/limits/max_n").asInt());
        assertEquals(8, j.at("/limits/queue").asInt());
        assertEquals("[\"a photo of a bag\",\"a sneaker\"]", j.get("examples").toString(), "the page's prompt examples");
    }

    @Test void noRequestPathReachesFilesOrOtherClasspathResources() throws Exception {
        for (String path : List.of("/index.html", "/dev/add4j/serve/web/index.html", "/simplelogger.properties",
                "/api/../pom.xml", "/%2e%2e/pom.xml", "/models/teacher-fmnist.safetensors", "/app.js/..%2f..%2fpom.xml")) {
            var r = get(path);
            assertTrue(r.statusCode() == 404 || r.statusCode() == 400, path + " gave " + r.statusCode());
        }
        var r = HTTP.send(HttpRequest.newBuilder(uri(server, "/nothing")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("not found: /nothing", jsonError(404, r));
    }

    @Test void theServerListensOnLoopbackOnlyWhenBoundTo127001() throws Exception {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.port()), 2000);
        }
        List<InetAddress> others = new ArrayList<>();
        for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces()))
            if (nif.isUp() && !nif.isLoopback())
                for (InetAddress a : Collections.list(nif.getInetAddresses())) if (a instanceof Inet4Address) others.add(a);
        for (InetAddress a : others)
            try (Socket s = new Socket()) {
                assertThrows(IOException.class, () -> s.connect(new InetSocketAddress(a, server.port()), 2000),
                        "reachable on " + a.getHostAddress());
            }
    }

    @Test void aFullQueueGets503WithRetryAfterAndAJsonError() throws Exception {
        CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
        AtomicBoolean first = new AtomicBoolean(true);
        var held = new GenerationService(service.slot(Role.STUDENT), service.slot(Role.TEACHER), text, new Device("cpu"), 1, () -> {
            if (!first.getAndSet(false)) return;
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try (Server s = Server.start(held, "127.0.0.1", 0)) {
            String body = "{\"prompt\": \"a coat\", \"n\": 1}";
            CompletableFuture<HttpResponse<String>> running = CompletableFuture.supplyAsync(() -> send(s, body));
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            CompletableFuture<HttpResponse<String>> waiting = CompletableFuture.supplyAsync(() -> send(s, body));
            for (int i = 0; i < 300 && held.queued() < 1; i++) Thread.sleep(10);
            var refused = post(s, body);
            assertTrue(jsonError(503, refused).contains("already waiting"));
            assertEquals("1", refused.headers().firstValue("Retry-After").orElse(""));
            release.countDown();
            assertEquals(200, running.get(60, TimeUnit.SECONDS).statusCode());
            assertEquals(200, waiting.get(60, TimeUnit.SECONDS).statusCode());
        } finally {
            release.countDown();
            held.close();
        }
    }

    /** What a client on a raw socket got: the bytes before the server closed the connection, and when it closed. */
    record Raw(String response, long closedAfterMs) {
        int status() { return response.startsWith("HTTP/1.1 ") ? Integer.parseInt(response.substring(9, 12)) : -1; }

        String body() { return response.substring(response.indexOf("\r\n\r\n") + 4); }
    }

    /**
     * Sends {@code head} at once and then {@code slow} one byte every {@code gapMs} (from another thread, until the
     * server closes), and reads until the server closes the connection.
     */
    static Raw raw(Server s, String head, String slow, int gapMs) throws Exception {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), s.port())) {
            socket.setSoTimeout(30_000);                                  // a server that never closes fails the test
            long t0 = System.nanoTime();
            var out = socket.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            Thread writer = new Thread(() -> {
                try {
                    for (byte b : slow.getBytes(StandardCharsets.ISO_8859_1)) {
                        Thread.sleep(gapMs);
                        out.write(b);
                    }
                } catch (IOException | InterruptedException e) {
                    // the server closed the connection, or the test is over
                }
            });
            writer.setDaemon(true);
            writer.start();
            var got = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = socket.getInputStream().read(buf)) >= 0; ) got.write(buf, 0, n);
            } catch (java.net.SocketException e) {
                // a reset: closed while this side was still writing
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            writer.interrupt();
            return new Raw(got.toString(StandardCharsets.ISO_8859_1), ms);
        }
    }

    static final String POST_HEAD = "POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";

    @Test void malformedHttpGets400WithAJsonErrorNever500() throws Exception {
        String[][] cases = {   // request, start of the error
                {POST_HEAD + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", "body: cannot read the request body"},
                {POST_HEAD + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX\r\n0\r\n\r\n", "body: cannot read the request body"},
                {POST_HEAD + "Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding and Content-Length"},
                {POST_HEAD + "Content-Length: -1\r\n\r\n{}", "Invalid Content-Length Value"},
                {"GET /api/info HTTP/1.1\r\nHost: localhost\r\nNo Colon\r\n\r\n", "Illegal character"},
                {"NONSENSE\r\n\r\n", ""},
        };
        for (String[] c : cases) {
            Raw r = raw(server, c[0], "", 0);
            assertEquals(400, r.status(), c[0] + " gave " + r.response());
            assertTrue(r.response().contains("Content-Type: application/json"), r.response());
            assertTrue(Json.tree(r.body()).get("error").asText().startsWith(c[1]), r.response());
        }
    }

    /** Timeouts short enough for a test: headers in 0.5 s, a body in 1 s, 1 s idle. */
    static final Server.Timeouts SHORT = new Server.Timeouts(java.time.Duration.ofMillis(500), java.time.Duration.ofMillis(1000),
            java.time.Duration.ofMillis(1000));

    /** Runs {@code client} while checking that the server answers others meanwhile; returns what the client got. */
    static Raw whileOthersAreServed(Server s, java.util.concurrent.Callable<Raw> client) throws Exception {
        CompletableFuture<Raw> slow = CompletableFuture.supplyAsync(() -> {
            try {
                return client.call();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(200);
        assertFalse(slow.isDone(), "the slow client is still connected");
        var info = HTTP.send(HttpRequest.newBuilder(uri(s, "/api/info")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, info.statusCode());
        return slow.get(30, TimeUnit.SECONDS);
    }

    @Test void aClientThatSendsItsHeadersSlowlyOrNothingIsCutOffWhileOthersAreServed() throws Exception {
        try (Server s = Server.start(service, "127.0.0.1", 0, SHORT)) {
            // a byte every 50 ms: never 1 s apart (Jetty's idle timeout), but the headers would take 4 s
            Raw r = whileOthersAreServed(s, () -> raw(s, "", "GET /api/info HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + "a".repeat(30) + "\r\n\r\n", 50));
            assertEquals("", r.response(), "cut off without an answer");
            assertTrue(r.closedAfterMs() >= 400 && r.closedAfterMs() < 2500, r.closedAfterMs() + " ms");
            r = raw(s, "", "", 0);                                                       // connects, sends nothing
            assertTrue(r.closedAfterMs() >= 400 && r.closedAfterMs() < 2500, r.closedAfterMs() + " ms");
            assertEquals(200, HTTP.send(HttpRequest.newBuilder(uri(s, "/api/info")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        }
    }

    @Test void aClientThatStopsMidBodyOrTricklesItIsCutOffWhileOthersAreServed() throws Exception {
        try (Server s = Server.start(service, "127.0.0.1", 0, SHORT)) {
            String body = "{\"prompt\": \"" + "a".repeat(86) + "\"}";                       // 100 bytes
            String head = POST_HEAD + "Content-Length: " + body.length() + "\r\n\r\n";
            // stops after 10 bytes: the idle timeout (1 s) ends it, as a 400 if anything
            Raw stopped = whileOthersAreServed(s, () -> raw(s, head + body.substring(0, 10), "", 0));
            assertTrue(stopped.closedAfterMs() >= 800 && stopped.closedAfterMs() < 3000, stopped.closedAfterMs() + " ms");
            assertTrue(stopped.response().isEmpty() || stopped.status() == 400, stopped.response());
            // a byte every 50 ms: never idle, but the body would take 5 s; the body deadline (1 s) cuts it off
            Raw trickled = whileOthersAreServed(s, () -> raw(s, head, body, 50));
            assertTrue(trickled.closedAfterMs() >= 800 && trickled.closedAfterMs() < 3000, trickled.closedAfterMs() + " ms");
            assertTrue(trickled.response().isEmpty() || trickled.status() == 400, trickled.response());
            assertEquals(200, post(s, "{\"n\": 1}").statusCode());
        }
    }

    @Test void theDeadlinesSpareARequestHandledLongerThanAllOfThemAndAKeptAliveConnection() throws Exception {
        var slow = new GenerationService(service.slot(Role.STUDENT), service.slot(Role.TEACHER), text, new Device("cpu"), 2, () -> {
            try {
                Thread.sleep(2000);                                         // twice the longest deadline
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try (Server s = Server.start(slow, "127.0.0.1", 0, SHORT)) {
            assertEquals(200, post(s, "{\"n\": 1}").statusCode());
            // five requests on one connection, 300 ms apart: 1.5 s in all, each one's headers well within 0.5 s
            try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), s.port())) {
                socket.setSoTimeout(10_000);
                var in = new java.io.DataInputStream(socket.getInputStream());
                for (int i = 0; i < 5; i++) {
                    Thread.sleep(300);
                    socket.getOutputStream().write("GET /api/info HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    String head = "";
                    while (!head.endsWith("\r\n\r\n")) head += (char) in.readUnsignedByte();
                    assertTrue(head.startsWith("HTTP/1.1 200"), head);
                    var length = java.util.regex.Pattern.compile("(?i)Content-Length: (\\d+)").matcher(head);
                    assertTrue(length.find(), head);
                    in.readFully(new byte[Integer.parseInt(length.group(1))]);
                }
            }
        } finally {
            slow.close();
        }
    }

    private static HttpResponse<String> send(Server s, String body) {
        try {
            return post(s, body);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
