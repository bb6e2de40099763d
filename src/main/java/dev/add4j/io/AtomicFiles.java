package dev.add4j.io;

import dev.add4j.Add4jException;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.UUID;

/**
 * Writes files so that readers see either the old content or the complete new content, never half a file:
 * the body writes a temporary file in the target's directory, which is flushed, fsynced and then renamed over
 * the target. A crash or an exception mid-write leaves the old target as it was.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Like {@code Consumer}, but allowed to throw {@link IOException}. */
    @FunctionalInterface
    public interface IOConsumer<T> {
        void accept(T t) throws IOException;
    }

    /**
     * Writes {@code target} atomically with what {@code body} writes to the stream it is given; creates the
     * parent directories. The body need not close the stream (closing it is harmless).
     * @throws Add4jException naming the file when an I/O operation fails; an unchecked exception thrown by
     *         the body passes through unchanged. In both cases the temporary file is deleted and the target is untouched.
     */
    public static void write(Path target, IOConsumer<OutputStream> body) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            // Same directory as the target, so the rename never crosses file systems. Not createTempFile:
            // that makes the file 0600, and the rename would carry those permissions over to the target.
            tmp = dir.resolve("." + abs.getFileName() + "." + UUID.randomUUID() + ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
                body.accept(new FilterOutputStream(out) {
                    @Override public void write(byte[] b, int off, int len) throws IOException { out.write(b, off, len); }
                    @Override public void close() throws IOException { out.flush(); } // the channel is ours to close
                });
                out.flush();
                ch.force(true); // data on disk before the rename makes it visible
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new Add4jException(target + ": cannot write: " + reason(e), e);
        } finally {
            if (tmp != null) {
                try { Files.deleteIfExists(tmp); } catch (IOException ignored) { /* the original failure matters more */ }
            }
        }
    }

    // the temporary files of write(): ".NAME.UUID.tmp"
    private static final java.util.regex.Pattern TEMPORARY =
            java.util.regex.Pattern.compile("\\..+\\.\\p{XDigit}{8}-\\p{XDigit}{4}-\\p{XDigit}{4}-\\p{XDigit}{4}-\\p{XDigit}{12}\\.tmp");

    /**
     * Deletes the temporary files that writes into {@code dir} left when a kill cut them short. Only for a directory
     * that no other write is going into at the time (a run's directory, between steps).
     */
    static void deleteLeftovers(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList())
                if (TEMPORARY.matcher(f.getFileName().toString()).matches() && Files.isRegularFile(f)) Files.deleteIfExists(f);
        }
    }

    /** Writes {@code text} as UTF-8 to {@code target} atomically (see {@link #write}). */
    public static void writeString(Path target, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        write(target, out -> out.write(bytes));
    }

    /** An I/O failure in a few words: the exception's kind (it says more than its message, often just a path) and message. */
    static String reason(IOException e) {
        String kind = e.getClass().getSimpleName().replaceFirst("Exception$", "");
        return e.getMessage() == null ? kind : kind + " (" + e.getMessage().replace('\n', ' ') + ")";
    }

    /** Makes the rename itself durable; some platforms cannot open a directory, and there it is skipped. */
    static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // best effort: the file's own content is already synced
        }
    }
}
