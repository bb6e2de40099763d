package dev.add4j.serve;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.add4j.Add4jException;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.io.Images;
import dev.add4j.io.InitImages;
import dev.add4j.io.Json;
import dev.add4j.serve.GenerationService.BadRequest;
import dev.add4j.serve.GenerationService.Busy;
import dev.add4j.serve.GenerationService.Init;
import dev.add4j.serve.GenerationService.Request;
import dev.add4j.serve.GenerationService.Result;
import dev.add4j.serve.GenerationService.Role;
import dev.add4j.serve.GenerationService.Slot;
import dev.add4j.text.TextEncoder;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The HTTP side of {@code add4j serve} (Javalin on Jetty): the page and the API over a {@link GenerationService}.
 * <ul>
 *   <li>{@code GET /} (and {@code /app.js}, {@code /style.css}): the page, from fixed classpath resources read at
 *       start; no request path reaches the file system or the classpath.</li>
 *   <li>{@code POST /api/generate} JSON {@code {prompt, steps, seed, n, model, init_image, strength}} (all optional)
 *       gives {@code {images: [base64 PNG...], ms_per_image, ms_total, steps, seed, model, batch_images}} (and
 *       {@code strength} for image-to-image). {@code init_image} is a base64 PNG or JPEG of at most 1 MB and
 *       1024 x 1024 pixels, decoded in memory, never written to disk.</li>
 *   <li>{@code GET /api/generate.png?prompt=&steps=&seed=&n=&model=}: the same images as one PNG grid.</li>
 *   <li>{@code GET /api/info}: the models, their samplers and limits, and prompt examples from their data.</li>
 * </ul>
 * Errors are JSON {@code {"error": "..."}}: 400 for a bad request (Jetty's own refusals of malformed HTTP too), 503
 * with {@code Retry-After} when the queue is full, 500 when sampling failed; never 500 for what a client sent. A
 * client too slow to send its request is cut off ({@link Timeouts}).
 */
public final class Server implements AutoCloseable {
    /** Defaults of a request that leaves a field out: 4 images, seed 0, the student at 1 step (the teacher at 25). */
    public static final int DEFAULT_N = 4, DEFAULT_STUDENT_STEPS = 1, DEFAULT_TEACHER_STEPS = 25;
    /** Teacher steps the page offers for its comparison [choice]: DDIM at 4 is poor, 25 good, 50 the reference. */
    public static final List<Integer> COMPARE_STEPS = List.of(4, 25, 50);
    /** Prompt examples the page offers. */
    public static final int MAX_EXAMPLES = 12;
    /** Longest wait for a result before a 503 [choice]: a full queue of 16-image, 50-step teacher requests on a CPU. */
    static final long RESULT_TIMEOUT_S = 300;

    private static final String WEB = "/dev/add4j/serve/web/";
    /** The page's files: path -> (resource, content type). Nothing else is served. */
    private static final Map<String, String[]> PAGE = Map.of(
            "/", new String[]{"index.html", "text/html; charset=utf-8"},
            "/app.js", new String[]{"app.js", "text/javascript; charset=utf-8"},
            "/style.css", new String[]{"style.css", "text/css; charset=utf-8"});
    private static final Set<String> PNG_PARAMS = Set.of("prompt", "steps", "seed", "n", "model");
    private static final String JSON = "application/json";
    /** Largest request body: a 1 MB image in base64 (4/3 of it) and the other fields fit [choice: 2x that]. */
    static final int MAX_BODY = 8 * (InitImages.MAX_BYTES / 3) + 64 * 1024;
    /** Strength of an image-to-image request that leaves it out [choice: halfway, the image's shape and new detail]. */
    public static final double DEFAULT_STRENGTH = 0.5;

    /**
     * How long a client may take to send a request, and stay silent [choices]. A browser or curl sends its headers
     * in one packet, so 10 s is slack for a slow link; a body is at most {@link #MAX_BODY} (2.9 MB), and 60 s for it
     * is 0.4 Mbit/s; idle (no byte either way, e.g. a client that stops reading the answer) is Jetty's default 30 s,
     * which Jetty does not apply while a request is being handled, so generating may take longer.
     */
    record Timeouts(Duration header, Duration body, Duration idle) {
        static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(10), Duration.ofSeconds(60), Duration.ofSeconds(30));
    }

    /**
     * The body of {@code POST /api/generate}; a missing field takes its default, an unknown one is an error, and so
     * is a null one: written (by {@code ServeBench}), a null field is left out.
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    record GenerateBody(String prompt, Integer steps, Long seed, Integer n, String model,
                        @JsonProperty("init_image") String initImage, Double strength) {
        GenerateBody(String prompt, Integer steps, Long seed, Integer n, String model) {
            this(prompt, steps, seed, n, model, null, null);
        }
    }

    private final GenerationService service;
    private final Javalin app;

    private Server(GenerationService service, Javalin app) {
        this.service = service;
        this.app = app;
    }

    /**
     * Starts serving on {@code host:port}; port 0 picks a free one ({@link #port()}).
     * @param host the address to bind: 127.0.0.1 keeps the server to this machine
     */
    public static Server start(GenerationService service, String host, int port) {
        return start(service, host, port, List.of(), Timeouts.DEFAULT);
    }

    /**
     * As {@link #start(GenerationService, String, int)}, the page offering {@code examples} as prompts to try.
     * @param examples captions of the models' data (at most {@link #MAX_EXAMPLES} are shown)
     */
    public static Server start(GenerationService service, String host, int port, List<String> examples) {
        return start(service, host, port, examples, Timeouts.DEFAULT);
    }

    static Server start(GenerationService service, String host, int port, Timeouts timeouts) {
        return start(service, host, port, List.of(), timeouts);
    }

    /** As above with these timeouts (tests shorten them). */
    static Server start(GenerationService service, String host, int port, List<String> examples, Timeouts timeouts) {
        if (port < 0 || port > 65535) throw new Add4jException("--port must be in 0..65535, got " + port);
        Map<String, byte[]> files = new LinkedHashMap<>();
        PAGE.forEach((path, r) -> files.put(path, resource(r[0])));
        Routes routes = new Routes(service, List.copyOf(examples.subList(0, Math.min(MAX_EXAMPLES, examples.size()))));
        Javalin app = Javalin.create(cfg -> {
            cfg.startup.showJavalinBanner = false;
            cfg.startup.showOldJavalinVersionWarning = false;
            cfg.http.maxRequestSize = MAX_BODY;
            cfg.http.prefer405over404 = true;
            // Javalin's own connector, but with deadlines on a request's headers and body
            cfg.jetty.addConnector((jetty, http) -> {
                ServerConnector c = new ServerConnector(jetty, new ClientDeadlines(http, timeouts.header(), timeouts.body()));
                c.setHost(host);
                c.setPort(port);
                c.setIdleTimeout(timeouts.idle().toMillis());
                return c;
            });
            cfg.jetty.modifyServer(jetty -> jetty.setErrorHandler(new JsonErrors()));
            PAGE.forEach((path, r) -> cfg.routes.get(path, ctx -> page(ctx, files.get(path), r[1])));
            cfg.routes.get("/api/info", routes::info);
            cfg.routes.post("/api/generate", routes::generateJson);
            cfg.routes.get("/api/generate.png", routes::generatePng);
            cfg.routes.exception(BadRequest.class, (e, ctx) -> error(ctx, 400, e.getMessage()));
            cfg.routes.exception(Busy.class, (e, ctx) -> {
                ctx.header("Retry-After", Integer.toString(e.retryAfterSeconds()));
                error(ctx, 503, e.getMessage());
            });
            // Javalin's own refusals in the same JSON shape as ours; a body over MAX_BODY can only be an init_image
            // over its limit: a 400 naming the field, like the others
            cfg.routes.exception(HttpResponseException.class, (e, ctx) -> {
                if (e.getStatus() == 413) error(ctx, 400, String.format(java.util.Locale.ROOT,
                        "init_image: the request is over %,d bytes; the image must be at most %,d bytes", MAX_BODY, InitImages.MAX_BYTES));
                else error(ctx, e.getStatus(), e.getMessage());
            });
            cfg.routes.exception(Exception.class, (e, ctx) -> {
                System.err.println("add4j serve: " + ctx.method() + " " + ctx.path() + " failed: " + e);
                error(ctx, 500, "internal error: " + e.getMessage());
            });
            cfg.routes.error(404, ctx -> error(ctx, 404, "not found: " + ctx.path()));
            cfg.routes.error(405, ctx -> error(ctx, 405, "method " + ctx.method() + " not allowed on " + ctx.path()));
        });
        try {
            app.start(host, port);
        } catch (RuntimeException e) {
            throw new Add4jException("cannot listen on " + host + ":" + port + ": " + rootMessage(e), e);
        }
        return new Server(service, app);
    }

    /** The port the server listens on. */
    public int port() { return app.port(); }

    /** The service behind this server. */
    public GenerationService service() { return service; }

    /** The page's address for {@code host}, e.g. http://127.0.0.1:8080/. */
    public String url(String host) {
        String h = host.contains(":") ? "[" + host + "]" : host;   // an IPv6 literal needs brackets in a URL
        return "http://" + h + ":" + port() + "/";
    }

    /** Stops the HTTP server; the caller closes the service. */
    @Override public void close() { app.stop(); }

    /** The route handlers: parse, submit, wait, answer. */
    private record Routes(GenerationService service, List<String> examples) {
        void info(Context ctx) {
            Map<String, Object> models = new LinkedHashMap<>();
            for (Role r : Role.values()) {
                Slot s = service.slot(r);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("file", s.fileName());
                m.put("kind", s.kind());
                m.put("sampler", s.sampler().cliName());
                m.put("max_steps", s.maxSteps());
                m.put("default_steps", r == Role.STUDENT ? DEFAULT_STUDENT_STEPS : DEFAULT_TEACHER_STEPS);
                models.put(r.wire(), m);
            }
            Map<String, Object> limits = new LinkedHashMap<>();
            limits.put("max_chars", TextEncoder.MAX_CHARS);
            limits.put("max_tokens", TextEncoder.MAX_TOKENS - 2);
            limits.put("max_n", GenerationService.MAX_N);
            limits.put("queue", service.queueCapacity());
            limits.put("max_batch_images", GenerationService.MAX_BATCH_IMAGES);
            limits.put("init_image_max_bytes", InitImages.MAX_BYTES);
            limits.put("init_image_max_side", InitImages.MAX_SIDE);
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("models", models);
            out.put("limits", limits);
            out.put("compare_steps", COMPARE_STEPS);
            out.put("image_size", service.imageModel().imageSize());
            out.put("channels", service.imageModel().channels());
            out.put("default_strength", DEFAULT_STRENGTH);
            out.put("device", service.deviceName());
            out.put("examples", examples);
            json(ctx, 200, out);
        }

        void generateJson(Context ctx) {
            String body;
            try {
                body = ctx.body();
            } catch (HttpResponseException e) {
                throw e;   // Javalin's 413 for a body over MAX_BODY
            } catch (Exception e) {
                // a malformed chunk, a body shorter than its Content-Length, a client cut off: the client's doing
                throw new BadRequest("body: cannot read the request body (" + rootMessage(e) + ")");
            }
            GenerateBody b;
            try {
                b = body.isBlank() ? new GenerateBody(null, null, null, null, null) : Json.readStrictOptional(body, "json", GenerateBody.class);
            } catch (Add4jException e) {
                throw new BadRequest(e.getMessage()); // "json: field 'steps': expected an integer, got 1.5", "json: not valid JSON at ..."
            }
            if (b == null) throw new BadRequest("json: expected an object like {\"prompt\": \"a sneaker\", \"steps\": 1}");
            Result r = await(service.submit(request(b.prompt(), b.steps(), b.seed(), b.n(), b.model(), b.initImage(), b.strength())));
            List<String> images = new ArrayList<>();
            for (var img : r.images()) images.add(Base64.getEncoder().encodeToString(Images.pngBytes(img)));
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("images", images);
            out.put("ms_per_image", round(r.msPerImage()));
            out.put("ms_total", round(r.msTotal()));
            out.put("steps", r.steps());
            out.put("seed", r.seed());
            out.put("model", r.model().wire());
            out.put("batch_images", r.batchImages());
            if (r.strength() != null) out.put("strength", r.strength());
            json(ctx, 200, out);
        }

        void generatePng(Context ctx) {
            Map<String, List<String>> q = ctx.queryParamMap();
            for (String k : q.keySet())
                if (!PNG_PARAMS.contains(k)) throw new BadRequest("unknown parameter '" + k + "'; expected " + String.join(", ", List.of("prompt", "steps", "seed", "n", "model")));
            String prompt = q.containsKey("prompt") ? ctx.queryParam("prompt") : null;
            Result r = await(service.submit(request(prompt, intParam(ctx, "steps"), longParam(ctx, "seed"),
                    intParam(ctx, "n"), ctx.queryParam("model"), null, null)));
            int cols = (int) Math.ceil(Math.sqrt(r.images().size()));
            ctx.header("X-Ms-Per-Image", Double.toString(round(r.msPerImage())));
            ctx.header("Cache-Control", "no-store");
            ctx.contentType("image/png").result(Images.pngBytes(Images.grid(r.images(), cols, 4)));
        }

        /**
         * A request with defaults for missing fields. Image-to-image: strength 0.5 by default, and steps by default
         * the role's, raised to the fewest that run a step at that strength (the student's 1 becomes 2 at 0.5).
         */
        Request request(String prompt, Integer steps, Long seed, Integer n, String model, String initImage, Double strength) {
            Role role = model == null ? Role.STUDENT : Role.parse(model);
            int defSteps = role == Role.STUDENT ? DEFAULT_STUDENT_STEPS : DEFAULT_TEACHER_STEPS;
            Init init = null;
            if (initImage == null) {
                if (strength != null) throw new BadRequest("strength needs an init_image (image-to-image)");
            } else {
                double s = strength == null ? DEFAULT_STRENGTH : strength;
                if (steps == null && s > 0) defSteps = Math.max(defSteps, (int) Math.ceil(1 / s - 1e-6));
                init = new Init(decodeInitImage(initImage), s);
            }
            return new Request(prompt == null ? "" : prompt, steps == null ? defSteps : steps, seed == null ? 0 : seed,
                    n == null ? DEFAULT_N : n, role, init);
        }
    }

    /** The init_image field: base64 of a PNG or JPEG within the limits, decoded in memory. */
    static java.awt.image.BufferedImage decodeInitImage(String base64) {
        if (base64.length() > 4L * ((InitImages.MAX_BYTES + 2) / 3))   // its bytes would be over the limit: no decoding
            throw new BadRequest(String.format(java.util.Locale.ROOT, "init_image: over %,d bytes (%,d characters of base64)", InitImages.MAX_BYTES, base64.length()));
        byte[] bytes;
        try {
            bytes = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new BadRequest("init_image: not valid base64 (" + e.getMessage() + "); send the file's bytes in base64, without a data: prefix");
        }
        try {
            return InitImages.decode(bytes, "init_image", InitImages.MAX_BYTES, InitImages.MAX_SIDE);
        } catch (Add4jException e) {
            throw new BadRequest(e.getMessage());
        }
    }

    /** Waits for the worker; a failed batch becomes the exception the handlers map to a status. */
    private static Result await(CompletableFuture<Result> f) {
        try {
            return f.get(RESULT_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new Busy("no result within " + RESULT_TIMEOUT_S + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Busy("interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        }
    }

    private static Integer intParam(Context ctx, String name) {
        String v = ctx.queryParam(name);
        if (v == null) return null;
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw new BadRequest(name + " must be an integer, got '" + v + "'");
        }
    }

    private static Long longParam(Context ctx, String name) {
        String v = ctx.queryParam(name);
        if (v == null) return null;
        try {
            return Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw new BadRequest(name + " must be an integer (a long), got '" + v + "'");
        }
    }

    private static void page(Context ctx, byte[] body, String type) {
        // the page loads only its own files; images arrive as data: URLs
        ctx.header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'");
        ctx.header("X-Content-Type-Options", "nosniff");
        ctx.header("Cache-Control", "no-cache");
        ctx.contentType(type).result(body);
    }

    private static void json(Context ctx, int status, Object value) {
        ctx.status(status).contentType(JSON).result(Json.compact(value));
    }

    private static void error(Context ctx, int status, String message) {
        json(ctx, status, Map.of("error", message == null ? "(no message)" : message));
    }

    /** Jetty's own refusals (a malformed request line, header or body framing) in the routes' JSON shape, not HTML. */
    private static final class JsonErrors extends ErrorHandler {
        @Override protected void generateResponse(org.eclipse.jetty.server.Request request, org.eclipse.jetty.server.Response response,
                                                  int status, String message, Throwable cause, Callback callback) {
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, JSON);
            response.write(true, ByteBuffer.wrap(errorJson(status, message)), callback);
        }

        private static byte[] errorJson(int status, String message) {
            String m = message == null || message.isBlank() ? HttpStatus.getMessage(status) : message;
            return Json.compact(Map.of("error", m)).getBytes(StandardCharsets.UTF_8);
        }
    }

    private static double round(double ms) { return Math.round(ms * 100) / 100.0; }

    private static byte[] resource(String name) {
        try (InputStream in = Server.class.getResourceAsStream(WEB + name)) {
            if (in == null) throw new IllegalStateException("classpath resource " + WEB + name + " missing from the build");
            return in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + WEB + name + ": " + e.getMessage(), e);
        }
    }

    private static String rootMessage(Throwable e) {
        while (e.getCause() != null) e = e.getCause();
        return e.getMessage() == null ? e.toString() : e.getMessage();
    }
}
