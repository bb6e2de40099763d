package dev.add4j.io;

import dev.add4j.Add4jException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/** How a result was made (tribuo's provenance): command, git commit, time, Java, OS; saved with every model. */
public final class Provenance {
    private Provenance() {}

    /** Provenance entries for a command line, ready to merge into safetensors metadata. */
    public static Map<String, String> of(String command) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("add4j.command", command);
        m.put("add4j.git_commit", gitCommit());
        m.put("add4j.created", Instant.now().toString());
        m.put("add4j.java", System.getProperty("java.version"));
        m.put("add4j.os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        m.put("add4j.libtorch", "pytorch 2.10.0 (JavaCPP presets 1.5.13)");
        return m;
    }

    /** {@code s} as one shell word: unchanged when it is plain, else single-quoted. */
    public static String shell(String s) {
        return s.matches("[A-Za-z0-9_./:=+,-]+") ? s : "'" + s.replace("'", "'\\''") + "'";
    }

    /** {@code program} and {@code args} as one shell command line, each argument quoted where it needs it. */
    public static String commandLine(String program, java.util.List<String> args) {
        StringBuilder b = new StringBuilder(program);
        for (String a : args) b.append(' ').append(shell(a));
        return b.toString();
    }

    /** The checked-out commit of the working directory's repository, or "unknown"; reads .git without running git. */
    static String gitCommit() {
        try {
            Path dir = Path.of("").toAbsolutePath();
            while (dir != null && !Files.isDirectory(dir.resolve(".git"))) dir = dir.getParent();
            if (dir == null) return "unknown";
            Path git = dir.resolve(".git");
            String head = Files.readString(git.resolve("HEAD")).trim();
            if (!head.startsWith("ref: ")) return head;
            Path ref = git.resolve(head.substring(5));
            if (Files.exists(ref)) return Files.readString(ref).trim();
            Path packed = git.resolve("packed-refs");
            if (Files.exists(packed))
                for (String line : Files.readAllLines(packed))
                    if (line.endsWith(" " + head.substring(5))) return line.substring(0, line.indexOf(' '));
        } catch (Exception ignored) {
            // provenance is best effort; a missing commit must not stop a run
        }
        return "unknown";
    }

    /** The SHA-256 of a file's bytes, in hex: names exactly which file a result was made from. */
    public static String sha256(Path file) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) md.update(buf, 0, r);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
