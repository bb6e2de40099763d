package dev.add4j.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * System.out and System.err while {@code add4j ablate} runs commands in-process, several at once with
 * {@code --parallel}: what a thread prints goes where that thread was told ({@link #route}), every other thread's
 * to the streams that were there before. Closing puts those back.
 */
final class ThreadOutput implements AutoCloseable {
    private final PrintStream oldOut, oldErr;
    private final ThreadLocal<OutputStream> sink = new ThreadLocal<>();

    ThreadOutput() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(new Router(oldOut), true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new Router(oldErr), true, StandardCharsets.UTF_8));
    }

    /** The console as it was: for the study's own lines. */
    PrintStream console() { return oldOut; }

    /** Sends this thread's output (both streams) to {@code out} until {@link #unroute}. */
    void route(OutputStream out) { sink.set(out); }

    void unroute() { sink.remove(); }

    @Override public void close() {
        System.out.flush();
        System.err.flush();
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    private final class Router extends OutputStream {
        private final PrintStream fallback;
        Router(PrintStream fallback) { this.fallback = fallback; }
        private OutputStream target() { OutputStream s = sink.get(); return s != null ? s : fallback; }
        @Override public void write(int b) throws IOException { target().write(b); }
        @Override public void write(byte[] b, int off, int len) throws IOException { target().write(b, off, len); }
        @Override public void flush() throws IOException { target().flush(); }
    }

    /**
     * One run's output: every byte to its log file, and each whole line to the console after the run's name
     * ("[cond-none-s0] step 10/40 ..."), so that the lines of runs side by side do not mix.
     */
    static final class RunLog extends OutputStream {
        private final OutputStream file;
        private final PrintStream console;
        private final String prefix;
        private final java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();

        RunLog(Path file, PrintStream console, String name) throws IOException {
            this.file = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            this.console = console;
            this.prefix = "[" + name + "] ";
        }

        @Override public synchronized void write(int b) throws IOException {
            file.write(b);
            if (b == '\n') emit();
            else line.write(b);
        }

        @Override public synchronized void write(byte[] b, int off, int len) throws IOException {
            file.write(b, off, len);
            for (int i = off; i < off + len; i++) {
                if (b[i] == '\n') emit();
                else line.write(b[i]);
            }
        }

        @Override public synchronized void flush() throws IOException { file.flush(); }

        private void emit() {
            String text = line.toString(StandardCharsets.UTF_8);
            line.reset();
            synchronized (console) { console.println(prefix + text); }
        }

        @Override public synchronized void close() throws IOException {
            if (line.size() > 0) emit();
            file.close();
        }
    }
}
