package dev.add4j.dist;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Ranks of a data-parallel job as threads of the test's JVM: each joins a gloo group on loopback (c10d allows
 * several in one process) and runs the body; collectives time out after a minute, so a failing rank fails the test
 * instead of hanging it.
 */
public final class Ranks {
    private Ranks() {}

    public static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** What {@code body} returned on each of {@code n} ranks, by rank. */
    public static <T> List<T> run(int n, Function<Group, T> body) throws Exception {
        int port = freePort();
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "rank");
            t.setDaemon(true);                  // a rank stuck in a collective must not keep the JVM alive
            return t;
        });
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                WorldEnv env = new WorldEnv(r, n, r, "127.0.0.1", port);
                futures.add(pool.submit(() -> {
                    try (Group g = Group.join(env, TIMEOUT, TIMEOUT, false)) {
                        return body.apply(g);
                    }
                }));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) {
                try {
                    out.add(f.get(10, TimeUnit.MINUTES));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof Exception c) throw c;
                    throw e;
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
