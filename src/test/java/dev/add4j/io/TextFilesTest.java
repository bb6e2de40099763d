package dev.add4j.io;

import dev.add4j.Add4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TextFilesTest {
    @TempDir Path dir;

    private Path file(byte[]... parts) throws Exception {
        var b = new ByteArrayOutputStream();
        for (byte[] p : parts) b.write(p);
        return Files.write(dir.resolve("prompts.txt"), b.toByteArray());
    }

    private static byte[] utf8(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    private static String refused(Path f) {
        var e = assertThrows(Add4jException.class, () -> TextFiles.lines(f, "--prompts p.txt"));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith("--prompts p.txt: "), e.getMessage());
        return e.getMessage();
    }

    @Test void utf8WithOrWithoutAByteOrderMarkIsReadLineByLine() throws Exception {
        assertEquals(List.of("a sneaker", "ein Schuh für Damen", "靴"), TextFiles.lines(file(utf8("a sneaker\nein Schuh für Damen\r\n靴\n")), "p"));
        assertEquals(List.of("a bag"), TextFiles.lines(file(new byte[]{(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, utf8("a bag")), "p"));
    }

    @Test void latin1IsRefusedWithTheLineOfTheFirstBadByte() throws Exception {
        String m = refused(file(utf8("a shirt\na bag\ncaf"), new byte[]{(byte) 0xE9}, utf8(" dress\n")));
        assertTrue(m.contains("line 3: byte 0xE9 at byte 4 of the line is not UTF-8"), m);
    }

    @Test void cesu8SurrogatesAreRefused() throws Exception {
        // U+1F45F (a shoe) as CESU-8: two 3-byte encoded surrogates, which UTF-8 forbids
        String m = refused(file(utf8("ok\n"), new byte[]{(byte) 0xED, (byte) 0xA0, (byte) 0xBD, (byte) 0xED, (byte) 0xB1, (byte) 0x9F}));
        assertTrue(m.contains("line 2: byte 0xED"), m);
    }

    @Test void utf16WithOrWithoutAByteOrderMarkIsRefused() throws Exception {
        assertTrue(refused(file("a shirt\n".getBytes(StandardCharsets.UTF_16))).contains("line 1: byte 0xFE"));   // big-endian mark
        String m = refused(file("a shirt\n".getBytes(StandardCharsets.UTF_16LE)));                                 // no mark: NULs
        assertTrue(m.contains("line 1, column 2: control character U+0000"), m);
    }

    @Test void binaryAndTooLargeFilesAreRefused() throws Exception {
        byte[] bin = new byte[4096];
        new java.util.Random(1).nextBytes(bin);
        refused(file(bin));
        Path big = dir.resolve("big.txt");
        try (var ch = java.nio.channels.FileChannel.open(big, java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[]{'a'}), TextFiles.MAX_BYTES); // sparse: no disk used
        }
        var e = assertThrows(Add4jException.class, () -> TextFiles.lines(big, "--prompts big.txt"));
        assertTrue(e.getMessage().contains("more than a text file of prompts"), e.getMessage());
        assertTrue(assertThrows(Add4jException.class, () -> TextFiles.lines(dir.resolve("none"), "--prompts none"))
                .getMessage().contains("no such file"));
    }
}
