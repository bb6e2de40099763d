package dev.add4j.serve;

import dev.add4j.Add4jException;
import dev.add4j.TorchRuntime;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.ImageToImage;
import dev.add4j.diffusion.Noise;
import dev.add4j.diffusion.Precision;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.io.Images;
import dev.add4j.io.InitImages;
import dev.add4j.io.ModelFile;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntUnaryOperator;

/**
 * The generation side of {@code add4j serve}, without HTTP: validates requests, queues them, and samples them on
 * one worker thread (libtorch work stays on one thread; its scope stack and no-grad mode are thread-local).
 * <ul>
 *   <li>Two roles: {@link Role#STUDENT}, the fast model the page samples as the user types (1-4 steps; until a
 *       student is shipped it is a teacher file, sampled with DDIM), and {@link Role#TEACHER}, the comparison
 *       (1-50 steps, DDIM).</li>
 *   <li>A bounded queue: when {@link #queueCapacity()} requests already wait, {@link #submit} throws {@link Busy}
 *       at once instead of making every caller wait longer.</li>
 *   <li>Batching: the worker takes the oldest request and every waiting one with the same role, steps and
 *       image-to-image strength (up to {@link #MAX_BATCH_IMAGES} images), and samples them in one forward pass a step.</li>
 *   <li>Image-to-image ({@link ImageToImage}): a request may carry an input image and a strength; the image is
 *       converted to the model's input on the worker, like every other tensor.</li>
 *   <li>Image i of a request uses noise seed {@code seed + i}, its own generator ({@link Noise}), so the same
 *       request gives the same images, whatever it was batched with (up to float rounding of a larger batch).</li>
 *   <li>Every tensor of a batch lives in a {@link PointerScope} closed with the batch; only Java pictures leave.</li>
 * </ul>
 * Thread-safe. The caller owns the {@link TextEncoder} and closes it after this service.
 */
public final class GenerationService implements AutoCloseable {
    /** Images per request, at most. */
    public static final int MAX_N = 16;
    /** Steps of the student role, at most: ADD's student is trained for 1-4 (add-method.md §7). */
    public static final int MAX_STUDENT_STEPS = 4;
    /** Steps of the teacher role, at most: 50 is the teacher's reference quality [choice]. */
    public static final int MAX_TEACHER_STEPS = 50;
    /** Requests that may wait at once, by default [choice]: 8 keeps the worst wait near a second for 1-step images. */
    public static final int DEFAULT_QUEUE = 8;
    /** Images in one forward pass, at most [choice]: bounds memory when many requests batch together. */
    public static final int MAX_BATCH_IMAGES = 64;

    /** Which model a request asks for. */
    public enum Role {
        STUDENT, TEACHER;

        /** The name used in the API: "student" or "teacher". */
        public String wire() { return name().toLowerCase(Locale.ROOT); }

        /** Parses "student" or "teacher". */
        public static Role parse(String s) {
            for (Role r : values()) if (r.wire().equals(s)) return r;
            throw new BadRequest("model must be \"student\" or \"teacher\", got \"" + s + "\"");
        }
    }

    /**
     * A model the service samples, and how.
     * @param fileName the model file's name (no directory: a client need not know the server's paths)
     * @param kind     what the file is, "student" or "teacher" (the student role holds a teacher until a student ships)
     */
    public record Slot(Role role, ModelFile.Loaded loaded, String fileName, String kind, Samplers.Kind sampler, int maxSteps) {
        /** How this slot samples at {@code steps}: {@link SamplingPlan}, as {@code add4j sample} and {@code eval} do. */
        public SamplingPlan plan(int steps) { return loaded.plan(steps, sampler); }
    }

    /**
     * One validated request: {@code n} images of {@code prompt} at {@code steps} steps, seeds {@code seed},
     * {@code seed+1}, ...; from {@code init} (image-to-image) where it is not null.
     */
    public record Request(String prompt, int steps, long seed, int n, Role model, Init init) {
        /** A text-to-image request. */
        public Request(String prompt, int steps, long seed, int n, Role model) { this(prompt, steps, seed, n, model, null); }

        /** The strength, or null for text-to-image: requests batch together only when it is equal. */
        Double strength() { return init == null ? null : init.strength(); }
    }

    /** The input of an image-to-image request: a decoded picture (any size, converted on the worker) and the strength. */
    public record Init(BufferedImage image, double strength) {}

    /**
     * What a request gave.
     * @param images      its images, 32x32 grey, in seed order
     * @param msPerImage  sampling time of the batch it ran in, divided by the batch's images
     * @param msTotal     from {@link #submit} to the result: waiting in the queue included
     * @param batchImages images in the forward pass it shared (its own n when it ran alone)
     */
    public record Result(List<BufferedImage> images, double msPerImage, double msTotal, int steps, long seed, Role model, int batchImages,
                         Double strength) {}

    /** A request the service refuses because of what it asks (an HTTP 400). */
    public static final class BadRequest extends Add4jException {
        public BadRequest(String message) { super(message); }
    }

    /** The queue is full (an HTTP 503): try again after {@link #retryAfterSeconds()}. */
    public static final class Busy extends RuntimeException {
        public Busy(String message) { super(message); }
        public int retryAfterSeconds() { return 1; }
    }

    private record Job(Request request, long submitted, CompletableFuture<Result> result) {}

    private final Slot student, teacher;
    private final TextEncoder text;
    private final Device device;
    private final String deviceName;
    private final int capacity;
    private final BlockingQueue<Job> queue;
    private final Runnable beforeBatch;
    private final Precision precision;   // the UNet's number format, both roles
    private final Thread worker;
    private volatile boolean closed;
    private volatile IntUnaryOperator threadsFor;   // libtorch threads for a batch of so many images; null: as set
    private int threadsNow;                         // the worker's: what it last set
    // prompts are at most MAX_CHARS long, so 1024 of them hold well under a megabyte
    private final Map<String, Integer> tokenCounts = new LinkedHashMap<>(64, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<String, Integer> e) { return size() > 1024; }
    };

    /**
     * Starts the worker.
     * @param queueCapacity requests that may wait (the one being sampled not counted), at least 1
     */
    public GenerationService(Slot student, Slot teacher, TextEncoder text, Device device, int queueCapacity) {
        this(student, teacher, text, device, queueCapacity, () -> {});
    }

    /** As the public constructor; {@code beforeBatch} runs on the worker before each batch (tests hold the worker with it). */
    GenerationService(Slot student, Slot teacher, TextEncoder text, Device device, int queueCapacity, Runnable beforeBatch) {
        this(student, teacher, text, device, queueCapacity, beforeBatch, Precision.FP32);
    }

    private GenerationService(Slot student, Slot teacher, TextEncoder text, Device device, int queueCapacity, Runnable beforeBatch,
                              Precision precision) {
        if (queueCapacity < 1) throw new Add4jException("queue capacity must be >= 1, got " + queueCapacity);
        if (student.role() != Role.STUDENT || teacher.role() != Role.TEACHER)
            throw new IllegalArgumentException("slots: expected a student and a teacher role, got " + student.role() + ", " + teacher.role());
        VPredictionModel t = teacher.loaded().model();         // the page shows both side by side, an upload converted once
        ModelFile.requireSameShape(student.loaded().model(), "the student " + student.fileName(), t.channels(), t.imageSize(), "the teacher " + teacher.fileName());
        this.student = student;
        this.teacher = teacher;
        this.text = text;
        this.device = device;
        try (var scope = new PointerScope()) {
            this.deviceName = device.str().getString();   // once: str() allocates native memory
        }
        this.capacity = queueCapacity;
        this.queue = new ArrayBlockingQueue<>(queueCapacity);
        this.beforeBatch = beforeBatch;
        this.precision = precision;
        this.worker = new Thread(this::work, "add4j-generate");
        worker.setDaemon(true);
        worker.start();
    }

    /**
     * Loads the two model files (once when they are the same file) and sizes each role by what the file is:
     * a student samples with ADD, a teacher with DDIM.
     */
    public static GenerationService load(Path studentFile, Path teacherFile, TextEncoder text, Device device, int queueCapacity) {
        return load(studentFile, teacherFile, text, device, queueCapacity, Precision.FP32);
    }

    /** As above, the UNet's passes in {@code precision}. */
    public static GenerationService load(Path studentFile, Path teacherFile, TextEncoder text, Device device, int queueCapacity,
                                         Precision precision) {
        ModelFile.Loaded s = ModelFile.load(studentFile, device);
        ModelFile.Loaded t = studentFile.toAbsolutePath().normalize().equals(teacherFile.toAbsolutePath().normalize())
                ? s : ModelFile.load(teacherFile, device);
        return new GenerationService(slot(Role.STUDENT, s, studentFile), slot(Role.TEACHER, t, teacherFile), text, device, queueCapacity,
                () -> {}, precision);
    }

    /**
     * The slot of a loaded model in a role: the sampler and timesteps follow the file ({@link SamplingPlan}: ADD on
     * a student's own timesteps, DDIM on trailing ones for a teacher), the step limit the role.
     */
    public static Slot slot(Role role, ModelFile.Loaded loaded, Path file) {
        Samplers.Kind sampler = loaded.plan(1).sampler();
        int max = role == Role.STUDENT ? MAX_STUDENT_STEPS : MAX_TEACHER_STEPS;
        return new Slot(role, loaded, file.getFileName().toString(), loaded.kind(), sampler, max);
    }

    /**
     * Samples a batch of {@code images} on {@code threadsFor.applyAsInt(images)} libtorch threads from now on (set by the
     * worker thread before the batch; {@link ServeThreads}).
     */
    public void sampleThreads(IntUnaryOperator threadsFor) { this.threadsFor = threadsFor; }

    /** The slot that serves {@code role}. */
    public Slot slot(Role role) { return role == Role.STUDENT ? student : teacher; }

    /** The images both roles make (their channels and side agree). */
    public VPredictionModel imageModel() { return student.loaded().model(); }

    /** Requests that may wait at once. */
    public int queueCapacity() { return capacity; }

    /** Requests waiting now (the one being sampled not counted). */
    public int queued() { return queue.size(); }

    /** The device the models run on, e.g. "cpu". */
    public String deviceName() { return deviceName; }

    /**
     * Checks a request and returns it; "" is a valid prompt (the unconditional image).
     * @throws BadRequest naming the field, the limit and the value
     */
    public Request validate(Request r) {
        if (r.model() == null) throw new BadRequest("model is missing: \"student\" or \"teacher\"");
        if (r.prompt() == null) throw new BadRequest("prompt is missing; use \"\" for no prompt");
        if (r.prompt().length() > TextEncoder.MAX_CHARS)
            throw new BadRequest("prompt too long: " + r.prompt().length() + " characters, at most " + TextEncoder.MAX_CHARS);
        int tokens = tokenCount(r.prompt());
        if (tokens > TextEncoder.MAX_TOKENS - 2)
            throw new BadRequest("prompt too long: " + tokens + " tokens, at most " + (TextEncoder.MAX_TOKENS - 2));
        int max = slot(r.model()).maxSteps();
        if (r.steps() < 1 || r.steps() > max)
            throw new BadRequest("steps must be in 1.." + max + " for the " + r.model().wire() + ", got " + r.steps());
        if (r.n() < 1 || r.n() > MAX_N) throw new BadRequest("n must be in 1.." + MAX_N + ", got " + r.n());
        if (r.init() != null) {
            if (r.init().image() == null) throw new BadRequest("init_image is missing");
            try {
                ImageToImage.timesteps(slot(r.model()).plan(r.steps()).timesteps(), r.init().strength());
            } catch (IllegalArgumentException e) {
                throw new BadRequest(e.getMessage());   // "strength must be in 0..1", "steps x strength must be >= 1 ..."
            }
        }
        return r;
    }

    /** The prompt's token count, remembered: a page asks for the same prompt again with each seed or steps change. */
    private int tokenCount(String prompt) {
        synchronized (tokenCounts) {
            Integer n = tokenCounts.get(prompt);
            if (n != null) return n;
        }
        int n = text.tokenCount(prompt);   // a few ms on a busy CPU: outside the lock
        synchronized (tokenCounts) {
            tokenCounts.put(prompt, n);
        }
        return n;
    }

    /**
     * Validates and queues a request; the future completes on the worker.
     * @throws BadRequest for a request outside the limits
     * @throws Busy when {@link #queueCapacity()} requests already wait
     */
    public CompletableFuture<Result> submit(Request r) {
        validate(r);
        if (closed) throw new Busy("the server is stopping");
        Job job = new Job(r, System.nanoTime(), new CompletableFuture<>());
        if (!queue.offer(job))
            throw new Busy("busy: " + capacity + " requests are already waiting; try again shortly");
        if (closed && queue.remove(job)) throw new Busy("the server is stopping"); // close() may have drained the queue already
        return job.result();
    }

    /** The worker: the oldest request and those that can share its forward pass, until closed. */
    private void work() {
        while (!closed) {
            Job first;
            try {
                first = queue.take();
            } catch (InterruptedException e) {
                break;
            }
            List<Job> batch = gather(first);
            try {
                beforeBatch.run();
                run(batch);
            } catch (RuntimeException | Error e) {
                // one failed batch must not stop the worker; its requests get the error (an HTTP 500)
                for (Job j : batch) j.result().completeExceptionally(e);
            }
        }
        Busy stopping = new Busy("the server is stopping");
        for (Job j; (j = queue.poll()) != null; ) j.result().completeExceptionally(stopping);
    }

    /** {@code first} and the waiting requests with the same role, steps and strength, oldest first, up to MAX_BATCH_IMAGES. */
    private List<Job> gather(Job first) {
        List<Job> batch = new ArrayList<>(List.of(first));
        int images = first.request().n();
        for (Iterator<Job> it = queue.iterator(); it.hasNext(); ) {
            Job j = it.next();
            Request r = j.request();
            if (r.model() == first.request().model() && r.steps() == first.request().steps()
                    && Objects.equals(r.strength(), first.request().strength()) && images + r.n() <= MAX_BATCH_IMAGES) {
                it.remove(); // this thread is the only consumer, so the job cannot be taken twice
                batch.add(j);
                images += r.n();
            }
        }
        return batch;
    }

    /** Samples one batch of jobs that share role, steps and strength, and completes their futures. */
    private void run(List<Job> batch) {
        Request head = batch.get(0).request();
        Slot slot = slot(head.model());
        List<String> prompts = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        for (Job j : batch)
            for (int i = 0; i < j.request().n(); i++) {
                prompts.add(j.request().prompt());
                seeds.add(j.request().seed() + i);
            }
        int b = prompts.size();
        IntUnaryOperator policy = threadsFor;
        if (policy != null) {
            int threads = policy.applyAsInt(b);   // once per batch
            if (threads != threadsNow) TorchRuntime.setThreads(threadsNow = threads);
        }
        long t0 = System.nanoTime();
        List<BufferedImage> images;
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {   // every tensor of this batch is freed here
            TextEncoder.Embedding e = text.encode(prompts);
            TextCond c = new TextCond(e.tokens(), e.mask(), e.pooled()).to(device);
            Noise noise = new Noise(seeds.stream().mapToLong(Long::longValue).toArray());
            VPredictionModel model = slot.loaded().model();
            SamplingPlan plan = slot.plan(head.steps()).with(precision);
            Denoiser d = plan.denoiser(model);
            Tensor x0;
            if (head.init() == null) {
                Tensor xT = noise.like(torch.empty(model.imageShape(b))).to(device, torch.ScalarType.Float);       // [B,C,S,S]
                x0 = plan.sample(d, model.schedule(), xT, c, noise);
            } else {
                List<Tensor> inits = new ArrayList<>();
                for (Job j : batch) {
                    Tensor one = InitImages.toModel(j.request().init().image(), model.channels(), model.imageSize()); // [1,C,S,S]
                    for (int i = 0; i < j.request().n(); i++) inits.add(one);
                }
                Tensor init = torch.cat(new TensorVector(inits.toArray(new Tensor[0])), 0).to(device, torch.ScalarType.Float); // [B,C,S,S]
                x0 = plan.imageToImage(d, model.schedule(), head.init().strength(), init, c, noise);
            }
            images = Images.each(x0.cpu());                                                                            // [B,C,S,S]
        }
        long done = System.nanoTime();
        double msPerImage = (done - t0) / 1e6 / b;
        int from = 0;
        for (Job j : batch) {
            Request r = j.request();
            List<BufferedImage> own = List.copyOf(images.subList(from, from + r.n()));
            from += r.n();
            j.result().complete(new Result(own, msPerImage, (done - j.submitted()) / 1e6, r.steps(), r.seed(), r.model(), b, r.strength()));
        }
    }

    /** Stops taking requests, fails those still waiting, and stops the worker (after the batch it is sampling). */
    @Override public void close() {
        closed = true;
        worker.interrupt();
        try {
            worker.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Busy stopping = new Busy("the server is stopping");
        for (Job j; (j = queue.poll()) != null; ) j.result().completeExceptionally(stopping);
    }
}
