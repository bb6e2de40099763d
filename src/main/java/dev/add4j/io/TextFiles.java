package dev.add4j.io;

import dev.add4j.Add4jException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Text files written by people (prompt lists): strict UTF-8, so that a Latin-1, UTF-16 or binary file is refused
 * with the line of its first bad byte instead of being read as other text or failing with a stack trace.
 */
public final class TextFiles {
    private TextFiles() {}

    /** Larger than any prompt list; a bigger file is not one, and is not read into memory. */
    public static final long MAX_BYTES = 16L << 20;

    /**
     * The file's lines, decoded as UTF-8 (a leading byte-order mark is dropped).
     * @param what names the file in messages, e.g. "--prompts prompts.txt"
     * @throws Add4jException one line: the file, the line and column of the first byte that is not UTF-8 or of a
     *         control character other than tab and carriage return (a UTF-16 or binary file), or why it cannot be read
     */
    public static List<String> lines(Path file, String what) {
        byte[] bytes;
        try {
            if (!Files.isRegularFile(file)) throw new Add4jException(what + ": no such file");
            long size = Files.size(file);
            if (size > MAX_BYTES) throw new Add4jException(what + ": " + size + " bytes, more than a text file of prompts (at most " + MAX_BYTES + ")");
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new Add4jException(what + ": no such file", e);
        } catch (IOException e) {
            throw new Add4jException(what + ": cannot read: " + AtomicFiles.reason(e), e);
        }
        String text = decode(bytes, what);
        if (text.startsWith("\uFEFF")) text = text.substring(1);
        for (int i = 0, line = 1, col = 1; i < text.length(); i++, col++) {
            char c = text.charAt(i);
            if (c == '\n') { line++; col = 0; continue; }
            if (Character.isISOControl(c) && c != '\t' && c != '\r')
                throw new Add4jException(String.format("%s: line %d, column %d: control character U+%04X; a text file "
                        + "of prompts in UTF-8 is expected (UTF-16 or binary?)", what, line, col, (int) c));
        }
        return text.lines().toList();
    }

    private static String decode(byte[] bytes, String what) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1); // UTF-8 never decodes to more chars than bytes
        CoderResult r = d.decode(in, out, true);
        if (!r.isError()) r = d.flush(out);
        if (r.isError()) {
            int at = in.position(), line = 1, lineStart = 0;
            for (int i = 0; i < at; i++) if (bytes[i] == '\n') { line++; lineStart = i + 1; }
            throw new Add4jException(String.format("%s: line %d: byte 0x%02X at byte %d of the line is not UTF-8; "
                    + "save the file as UTF-8", what, line, bytes[at] & 0xFF, at - lineStart + 1));
        }
        return out.flip().toString();
    }
}
