package dev.add4j.io;

import dev.add4j.Add4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class AtomicFilesTest {
    @TempDir Path dir;

    @Test void writeReplacesTheTargetAndLeavesNoTemporaryFile() throws IOException {
        Path target = dir.resolve("a.txt");
        AtomicFiles.writeString(target, "old");
        AtomicFiles.writeString(target, "new ü");
        assertEquals("new ü", Files.readString(target));
        assertEquals(1, countFiles(dir));
    }

    @Test void writeCreatesMissingParentDirectories() throws IOException {
        Path target = dir.resolve("runs/1/config.json");
        AtomicFiles.write(target, out -> out.write(new byte[]{1, 2, 3}));
        assertArrayEquals(new byte[]{1, 2, 3}, Files.readAllBytes(target));
    }

    @Test void oldFileStaysIntactWhenTheBodyThrowsAnIOException() throws IOException {
        Path target = dir.resolve("ckpt.safetensors");
        AtomicFiles.writeString(target, "old");
        var e = assertThrows(Add4jException.class, () -> AtomicFiles.write(target, out -> {
            out.write("half of the new content".getBytes());
            throw new IOException("disk full");
        }));
        assertTrue(e.getMessage().startsWith(target + ": cannot write:"), e.getMessage());
        assertTrue(e.getMessage().contains("disk full"), e.getMessage());
        assertEquals("old", Files.readString(target));
        assertEquals(1, countFiles(dir), "the temporary file is deleted");
    }

    @Test void oldFileStaysIntactWhenTheBodyThrowsAnUncheckedException() throws IOException {
        Path target = dir.resolve("x.json");
        AtomicFiles.writeString(target, "old");
        // an unchecked exception from the body passes through as it is
        assertThrows(UncheckedIOException.class, () -> AtomicFiles.write(target, out -> {
            out.write(1);
            throw new UncheckedIOException(new IOException("boom"));
        }));
        assertEquals("old", Files.readString(target));
        assertEquals(1, countFiles(dir));
    }

    @Test void bodyMayCloseTheStreamItIsGiven() throws IOException {
        Path target = dir.resolve("closed.txt");
        AtomicFiles.write(target, out -> { out.write('x'); out.close(); });
        assertEquals("x", Files.readString(target));
    }

    private static long countFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) { return s.count(); }
    }
}
