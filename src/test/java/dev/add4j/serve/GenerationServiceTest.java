package dev.add4j.serve;

import dev.add4j.TorchRuntime;
import dev.add4j.diffusion.Samplers;
import dev.add4j.serve.GenerationService.BadRequest;
import dev.add4j.serve.GenerationService.Busy;
import dev.add4j.serve.GenerationService.Request;
import dev.add4j.serve.GenerationService.Result;
import dev.add4j.serve.GenerationService.Role;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.*;

class GenerationServiceTest {
    @TempDir static Path dir;
    static Path studentFile, teacherFile;
    static TextEncoder text;
    static GenerationService service;

    @BeforeAll static void init() {
        TorchRuntime.init();
        studentFile = TinyModels.student(dir);
        teacherFile = TinyModels.teacher(dir);
        text = TinyModels.text();
        service = GenerationService.load(studentFile, teacherFile, text, new Device("cpu"), 8);
    }

    @AfterAll static void close() {
        service.close();
    }

    static Result generate(GenerationService s, Request r) throws Exception {
        return s.submit(r).get(60, TimeUnit.SECONDS);
    }

    static Request student(String prompt, int steps, long seed, int n) { return new Request(prompt, steps, seed, n, Role.STUDENT); }

    /** Grey levels of one image, row-major. */
    static int[] pixels(BufferedImage img) {
        return img.getRaster().getPixels(0, 0, img.getWidth(), img.getHeight(), (int[]) null);
    }

    static String refused(Request r) {
        return assertThrows(BadRequest.class, () -> service.submit(r)).getMessage();
    }

    @Test void anEmptyPromptIsValidAndGivesUnconditionalImagesOf32By32() throws Exception {
        Result r = generate(service, student("", 1, 0, 2));
        assertEquals(2, r.images().size());
        for (BufferedImage img : r.images()) {
            assertEquals(32, img.getWidth());
            assertEquals(32, img.getHeight());
        }
        assertTrue(r.msPerImage() > 0 && r.msTotal() >= r.msPerImage(), r.toString());
    }

    @Test void aPromptOverTheCharacterOrTheTokenLimitIsRefusedNamingTheLimit() {
        String m = refused(student("x".repeat(TextEncoder.MAX_CHARS + 1), 1, 0, 1));
        assertTrue(m.contains("201 characters") && m.contains("at most 200"), m);
        m = refused(student("a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f", 1, 0, 1)); // 32 one-letter words
        assertTrue(m.contains("32 tokens") && m.contains("at most 30"), m);
        assertTrue(refused(new Request(null, 1, 0, 1, Role.STUDENT)).contains("prompt is missing"));
    }

    @Test void stepsOutside1To4ForTheStudentOr1To50ForTheTeacherAreRefused() {
        assertEquals("steps must be in 1..4 for the student, got 0", refused(student("a shirt", 0, 0, 1)));
        assertEquals("steps must be in 1..4 for the student, got 5", refused(student("a shirt", 5, 0, 1)));
        assertEquals("steps must be in 1..50 for the teacher, got 51", refused(new Request("a shirt", 51, 0, 1, Role.TEACHER)));
        assertDoesNotThrow(() -> service.validate(new Request("a shirt", 50, 0, 1, Role.TEACHER)));
    }

    @Test void nOutside1To16IsRefused() {
        assertEquals("n must be in 1..16, got 0", refused(student("a shirt", 1, 0, 0)));
        assertEquals("n must be in 1..16, got 17", refused(student("a shirt", 1, 0, 17)));
        assertDoesNotThrow(() -> service.validate(student("a shirt", 1, 0, 16)));
    }

    @Test void theSameRequestGivesTheSameImagesAndAnotherSeedOthers() throws Exception {
        Request req = student("a pair of trousers", 2, 7, 3);
        Result a = generate(service, req), b = generate(service, req);
        for (int i = 0; i < 3; i++) assertArrayEquals(pixels(a.images().get(i)), pixels(b.images().get(i)), "image " + i);
        Result other = generate(service, student("a pair of trousers", 2, 100, 1));
        assertFalse(java.util.Arrays.equals(pixels(a.images().get(0)), pixels(other.images().get(0))), "seed 100 differs from seed 7");
        assertFalse(java.util.Arrays.equals(pixels(a.images().get(0)), pixels(a.images().get(1))), "image 1 has its own seed");
    }

    @Test void imageIOfARequestIsTheImageOfSeedPlusIAlone() throws Exception {
        Result three = generate(service, student("a bag", 3, 40, 3));
        Result alone = generate(service, student("a bag", 3, 42, 1));
        // a larger batch may round floats differently; a grey level at most 1 apart is the same image
        int[] p = pixels(three.images().get(2)), q = pixels(alone.images().get(0));
        for (int i = 0; i < p.length; i++) assertTrue(Math.abs(p[i] - q[i]) <= 1, "pixel " + i + ": " + p[i] + " vs " + q[i]);
    }

    @Test void aStudentFileSamplesWithAddAndATeacherFileWithDdimEachWithItsRolesStepLimit() {
        assertEquals(Samplers.Kind.ADD, service.slot(Role.STUDENT).sampler());
        assertEquals("student", service.slot(Role.STUDENT).kind());
        assertEquals(4, service.slot(Role.STUDENT).maxSteps());
        assertEquals(Samplers.Kind.DDIM, service.slot(Role.TEACHER).sampler());
        assertEquals(50, service.slot(Role.TEACHER).maxSteps());
        // no student shipped yet: a teacher file in the student role samples with DDIM, still 1-4 steps, loaded once
        try (var s = GenerationService.load(teacherFile, teacherFile, text, new Device("cpu"), 2)) {
            assertEquals(Samplers.Kind.DDIM, s.slot(Role.STUDENT).sampler());
            assertEquals("teacher", s.slot(Role.STUDENT).kind());
            assertEquals(4, s.slot(Role.STUDENT).maxSteps());
            assertSame(s.slot(Role.STUDENT).loaded(), s.slot(Role.TEACHER).loaded());
        }
    }

    @Test void aFullQueueRefusesAtOnceAndWaitingRequestsWithTheSameModelAndStepsShareOneForwardPass() throws Exception {
        CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
        AtomicBoolean first = new AtomicBoolean(true);
        Runnable hold = () -> {   // holds the worker on its first batch, so requests pile up behind it
            if (!first.getAndSet(false)) return;
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        GenerationService held = new GenerationService(service.slot(Role.STUDENT), service.slot(Role.TEACHER), text, new Device("cpu"), 3, hold);
        try {
            CompletableFuture<Result> a = held.submit(student("a coat", 1, 0, 1));
            assertTrue(entered.await(30, TimeUnit.SECONDS));
            CompletableFuture<Result> b = held.submit(student("a coat", 1, 10, 2));
            CompletableFuture<Result> c = held.submit(new Request("a dress", 2, 20, 1, Role.TEACHER));
            CompletableFuture<Result> d = held.submit(student("a sandal", 1, 30, 3));
            assertEquals(3, held.queued());
            Busy busy = assertThrows(Busy.class, () -> held.submit(student("a coat", 1, 0, 1)));
            assertTrue(busy.getMessage().contains("3 requests are already waiting"), busy.getMessage());
            release.countDown();
            assertEquals(1, a.get(60, TimeUnit.SECONDS).batchImages());
            assertEquals(5, b.get(60, TimeUnit.SECONDS).batchImages(), "b and d: student at 1 step, one pass");
            assertEquals(5, d.get(60, TimeUnit.SECONDS).batchImages());
            assertEquals(3, d.get().images().size());
            assertEquals(1, c.get(60, TimeUnit.SECONDS).batchImages(), "the teacher request runs alone");
            // batching changes no image beyond float rounding: d's first image as if alone
            int[] batched = pixels(d.get().images().get(0)), alone = pixels(generate(service, student("a sandal", 1, 30, 1)).images().get(0));
            for (int i = 0; i < alone.length; i++) assertTrue(Math.abs(batched[i] - alone[i]) <= 1, "pixel " + i);
        } finally {
            release.countDown();
            held.close();
        }
    }

    @Test void closingFailsWaitingRequestsAndRefusesNewOnes() throws Exception {
        CountDownLatch entered = new CountDownLatch(1), release = new CountDownLatch(1);
        GenerationService s = new GenerationService(service.slot(Role.STUDENT), service.slot(Role.TEACHER), text, new Device("cpu"), 2, () -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();   // close() interrupts the worker: let the batch finish
            }
        });
        CompletableFuture<Result> running = s.submit(student("a coat", 1, 0, 1));
        assertTrue(entered.await(30, TimeUnit.SECONDS));
        CompletableFuture<Result> waiting = s.submit(student("a shirt", 2, 0, 1));
        s.close();
        assertEquals(1, running.get(60, TimeUnit.SECONDS).images().size(), "the batch being sampled completes");
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> waiting.get(60, TimeUnit.SECONDS));
        assertInstanceOf(Busy.class, e.getCause());
        assertThrows(Busy.class, () -> s.submit(student("a coat", 1, 0, 1)));
    }

    static BufferedImage square(int side) {
        BufferedImage img = new BufferedImage(side, side, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = side / 4; y < 3 * side / 4; y++) for (int x = side / 4; x < 3 * side / 4; x++) img.getRaster().setSample(x, y, 0, 200);
        return img;
    }

    @Test void imageToImageAtStrengthOneGivesTheTextToImageImagesOfTheSameSeeds() throws Exception {
        for (Role role : Role.values()) {
            Result t2i = generate(service, new Request("a sneaker", 4, 9, 2, role));
            Result i2i = generate(service, new Request("a sneaker", 4, 9, 2, role, new GenerationService.Init(square(48), 1.0)));
            for (int i = 0; i < 2; i++) assertArrayEquals(pixels(t2i.images().get(i)), pixels(i2i.images().get(i)), role + ", image " + i);
            assertEquals(1.0, i2i.strength());
            assertNull(t2i.strength());
        }
    }

    @Test void imageToImageAtStrengthZeroGivesTheInputAveragedTo32By32() throws Exception {
        Result r = generate(service, new Request("a bag", 4, 0, 1, Role.STUDENT, new GenerationService.Init(square(64), 0.0)));
        assertArrayEquals(pixels(square(32)), pixels(r.images().get(0)));   // 64 px squares average 2x2 to the 32 px one
    }

    @Test void imageToImageOutsideTheStrengthRuleIsRefusedWithTheRulesMessage() {
        var init = new GenerationService.Init(square(32), 0.5);
        String m = refused(new Request("a bag", 1, 0, 1, Role.STUDENT, init));
        assertTrue(m.startsWith("steps x strength must be >= 1") && m.contains("1 x 0.5"), m);
        assertEquals("strength must be in 0..1, got -0.5", refused(new Request("a bag", 2, 0, 1, Role.STUDENT, new GenerationService.Init(square(32), -0.5))));
        assertDoesNotThrow(() -> service.validate(new Request("a bag", 2, 0, 1, Role.STUDENT, init)));
    }

    @Test void resultsCarryTheirRequestsStepsSeedAndModel() throws Exception {
        Result r = generate(service, new Request("an ankle boot", 3, -5, 2, Role.TEACHER));
        assertEquals(List.of(3, -5L, Role.TEACHER, 2), List.of(r.steps(), r.seed(), r.model(), r.images().size()));
    }

    @Test void nativeObjectsMadeForRequestsAreFreedWithTheirBatchSoMemoryStaysFlat() throws Exception {
        for (int i = 0; i < 3; i++) generate(service, student("a sneaker", 2, i, 2));   // warm-up: caches, lazy natives
        long settled = settledNativeCount(), start = Pointer.totalCount();
        for (int i = 0; i < 12; i++) generate(service, student("a sneaker", 2, i, 2));
        // freed when the batch's scope closes, not later by the garbage collector: without the scope these 12
        // requests left 3,000 to 6,000 native objects for the collector (measured), with it a handful
        long unscoped = Pointer.totalCount() - start;
        assertTrue(unscoped <= 24, unscoped + " native objects outlived their batch over 12 requests");
        // and nothing is kept for good: a leak of one object a request would show as 12
        long after = settledNativeCount();
        assertTrue(after <= settled + 3, "live native objects: " + settled + " before 12 requests, " + after + " after");
    }

    /** JavaCPP's count of live native objects, after the garbage collector has freed what only it holds. */
    static long settledNativeCount() throws InterruptedException {
        long n = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(50);
            n = Math.min(n, Pointer.totalCount());
        }
        return n;
    }
}
