package dev.add4j.serve;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Arrays;

/**
 * Latency of one image through the HTTP API, as a client sees it: sequential {@code POST /api/generate} requests
 * (n = 1, a fixed prompt, a new seed each), after a warm-up; prints p50 and p95 of the round trip and the server's
 * own ms per image (sampling) and ms total (queue included). With an init image every request is image-to-image:
 * the same PNG or JPEG in each body, decoded by the server each time, as a page's sketch would be. Used by
 * {@code add4j serve --bench N}.
 */
public final class ServeBench {
    private ServeBench() {}

    /** The numbers of one run, in milliseconds. */
    public record Stats(int requests, double p50, double p95, double mean, double serverP50, double serverTotalP50) {}

    /** Sends {@code warmup} then {@code requests} requests to the server at {@code base} and prints the result. */
    public static Stats run(URI base, String model, int steps, String prompt, int warmup, int requests, PrintStream out) {
        return run(base, model, steps, prompt, null, null, warmup, requests, out);
    }

    /**
     * As above, image-to-image when {@code initImage} (the file's bytes) is not null.
     * @param strength the requests' strength; null for the server's default
     */
    public static Stats run(URI base, String model, int steps, String prompt, byte[] initImage, Double strength,
                            int warmup, int requests, PrintStream out) {
        if (requests < 1) throw new Add4jException("--bench must be >= 1, got " + requests);
        HttpClient client = HttpClient.newHttpClient();
        String init = initImage == null ? null : java.util.Base64.getEncoder().encodeToString(initImage);
        double[] rt = new double[requests], server = new double[requests], serverTotal = new double[requests];
        for (int i = -warmup; i < requests; i++) {
            String body = Json.compact(new Server.GenerateBody(prompt, steps, 1000L + i, 1, model, init, initImage == null ? null : strength));
            HttpRequest req = HttpRequest.newBuilder(base.resolve("/api/generate"))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
            long t0 = System.nanoTime();
            HttpResponse<String> resp;
            try {
                resp = client.send(req, HttpResponse.BodyHandlers.ofString());
            } catch (IOException e) {
                throw new Add4jException("bench: request failed: " + e.getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Add4jException("bench: interrupted");
            }
            double ms = (System.nanoTime() - t0) / 1e6;
            if (resp.statusCode() != 200) throw new Add4jException("bench: HTTP " + resp.statusCode() + ": " + resp.body());
            if (i >= 0) {
                rt[i] = ms;
                var j = Json.tree(resp.body());
                server[i] = j.get("ms_per_image").asDouble();
                serverTotal[i] = j.get("ms_total").asDouble();
            }
        }
        Stats s = new Stats(requests, percentile(rt, 50), percentile(rt, 95), Arrays.stream(rt).average().orElse(0), percentile(server, 50), percentile(serverTotal, 50));
        String kind = initImage == null ? "text-to-image" : String.format("image-to-image, a %,d-byte image, strength %s", initImage.length,
                strength == null ? "default" : strength);
        out.printf("bench: %d sequential requests (%s, %s, %d step%s, n=1, prompt \"%s\", after %d warm-up): "
                        + "round trip p50 %.1f ms, p95 %.1f ms, mean %.1f ms; server p50: ms_per_image %.1f, ms_total %.1f%n",
                requests, kind, model, steps, steps == 1 ? "" : "s", prompt, warmup, s.p50(), s.p95(), s.mean(), s.serverP50(), s.serverTotalP50());
        return s;
    }

    /** Nearest-rank percentile (p in 0..100) of the values. */
    static double percentile(double[] values, double p) {
        double[] v = values.clone();
        Arrays.sort(v);
        int rank = (int) Math.ceil(p / 100.0 * v.length);
        return v[Math.max(0, Math.min(v.length - 1, rank - 1))];
    }
}
