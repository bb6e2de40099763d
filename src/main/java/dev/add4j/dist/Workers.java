package dev.add4j.dist;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The worker processes of one machine in a data-parallel job: started together, their output forwarded line by line
 * with a "[rank R] " prefix, and taken down together. When one fails, the others are stopped at once (they would
 * otherwise wait at their next all-reduce until its timeout, an hour), so a job never hangs on a dead rank.
 */
public final class Workers {
    private Workers() {}

    /** One worker: its global rank, command line and the environment variables added to this process's. */
    public record Worker(int rank, List<String> command, Map<String, String> env) {}

    /**
     * Runs {@code workers} to the end.
     * @param grace how long a stopped worker may take to exit before it is killed
     * @return 0 when every worker exited with 0; else the exit code of the first that failed
     */
    public static int run(List<Worker> workers, PrintStream out, PrintStream err, Duration grace) throws InterruptedException {
        List<Process> procs = new ArrayList<>();
        List<Thread> pumps = new ArrayList<>();
        Thread stopAll = new Thread(() -> stop(procs, grace));                 // the launcher itself interrupted (Ctrl-C)
        Runtime.getRuntime().addShutdownHook(stopAll);
        try {
            for (Worker w : workers) {
                ProcessBuilder pb = new ProcessBuilder(w.command());
                pb.environment().putAll(w.env());
                pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
                Process p;
                try {
                    p = pb.start();
                } catch (IOException e) {
                    stop(procs, grace);
                    throw new UncheckedIOException("cannot start rank " + w.rank() + ": " + e.getMessage(), e);
                }
                procs.add(p);
                pumps.add(pump(p.getInputStream(), out, "[rank " + w.rank() + "] "));
                pumps.add(pump(p.getErrorStream(), err, "[rank " + w.rank() + "] "));
            }
            int failed = -1, code = 0;
            List<Integer> running = new ArrayList<>();
            for (int i = 0; i < procs.size(); i++) running.add(i);
            while (!running.isEmpty() && failed < 0) {
                for (int k = 0; k < running.size(); k++) {
                    Process p = procs.get(running.get(k));
                    if (p.isAlive()) continue;
                    int c = p.exitValue();
                    if (c != 0) {
                        failed = running.get(k);
                        code = c;
                        break;
                    }
                    running.remove(k--);
                }
                if (failed < 0 && !running.isEmpty()) Thread.sleep(50);
            }
            if (failed >= 0) {
                List<Integer> others = new ArrayList<>();
                for (int i : running) if (i != failed) others.add(workers.get(i).rank());
                for (Thread t : pumps.subList(2 * failed, 2 * failed + 2)) t.join(2000);   // its last words first
                err.println("add4j launch: rank " + workers.get(failed).rank() + " " + how(code)
                        + (others.isEmpty() ? "" : "; stopping rank" + (others.size() > 1 ? "s " : " ") + others.toString().replaceAll("[\\[\\]]", "")));
                stop(procs, grace);
            }
            for (Thread t : pumps) t.join(2000);
            return code;
        } finally {
            stop(procs, grace);
            try {
                Runtime.getRuntime().removeShutdownHook(stopAll);
            } catch (IllegalStateException e) {
                // the JVM is shutting down: the hook is running
            }
        }
    }

    /** "exited with code 2", or "was killed (signal 9)" for a code a signal gave. */
    static String how(int code) {
        return code > 128 && code < 160 ? "was killed (signal " + (code - 128) + ", exit code " + code + ")" : "exited with code " + code;
    }

    /** Asks every live worker to stop, then kills those still there after {@code grace}. */
    private static void stop(List<Process> procs, Duration grace) {
        List<Process> live = new ArrayList<>();
        for (Process p : List.copyOf(procs)) if (p.isAlive()) { p.destroy(); live.add(p); }
        long deadline = System.nanoTime() + grace.toNanos();
        for (Process p : live) {
            try {
                long left = Math.max(0, deadline - System.nanoTime());
                if (!p.waitFor(left, java.util.concurrent.TimeUnit.NANOSECONDS)) p.destroyForcibly().waitFor();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    private static Thread pump(InputStream in, PrintStream to, String prefix) {
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (to) { to.println(prefix + line); }
                }
            } catch (IOException e) {
                // the worker is gone: nothing more to forward
            }
        }, prefix.trim());
        t.setDaemon(true);
        t.start();
        return t;
    }
}
