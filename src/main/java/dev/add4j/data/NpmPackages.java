package dev.add4j.data;

import dev.add4j.Add4jException;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * npm package tarballs as {@code npm pack NAME@VERSION} writes them ({@code NAME-VERSION.tgz}): found in a directory,
 * or fetched into one with the ordinary npm client, which brings its own registry settings (proxy, mirror, auth).
 */
public final class NpmPackages {
    private NpmPackages() {}

    /** The tarball {@code npm pack} makes of an unscoped package. */
    public static Path tarball(Path dir, String name, String version) { return dir.resolve(name + "-" + version + ".tgz"); }

    /**
     * The tarballs of {@code names} at {@code version} in {@code dir}, each fetched with {@code npm pack} when missing.
     * @param npm the npm command ("npm")
     * @throws Add4jException when npm is not installed or a fetch fails (one line, with npm's last words)
     */
    public static List<Path> fetch(List<String> names, String version, Path dir, String npm, PrintStream log) {
        List<Path> out = new ArrayList<>();
        for (String name : names) {
            Path tgz = tarball(dir, name, version);
            if (!Files.isRegularFile(tgz)) pack(name + "@" + version, dir, npm, log);
            if (!Files.isRegularFile(tgz)) throw new Add4jException("npm pack " + name + "@" + version + " wrote no " + tgz);
            out.add(tgz);
        }
        return out;
    }

    /**
     * The tarballs of {@code names} at {@code version}, which must all be in {@code dir} already (nothing is fetched).
     * @throws Add4jException naming the first one missing, and how to fetch it
     */
    public static List<Path> existing(List<String> names, String version, Path dir) {
        List<Path> out = new ArrayList<>();
        for (String name : names) {
            Path tgz = tarball(dir, name, version);
            if (!Files.isRegularFile(tgz))
                throw new Add4jException("--from " + dir + ": no " + tgz.getFileName() + " (fetch it with: npm pack " + name + "@" + version
                        + " --pack-destination " + dir + ")");
            out.add(tgz);
        }
        return out;
    }

    private static void pack(String spec, Path dir, String npm, PrintStream log) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new Add4jException(dir + ": cannot create (" + e.getMessage() + ")", e);
        }
        if (log != null) log.println("fetching " + spec + " with npm pack into " + dir);
        Process p;
        try {
            p = new ProcessBuilder(npm, "pack", spec, "--pack-destination", dir.toAbsolutePath().toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new Add4jException("npm is not installed (" + e.getMessage() + "): install Node.js's npm (apt-get install npm), "
                    + "or fetch the tarballs on another machine with npm pack and pass --from DIR");
        }
        String output;
        try {
            output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) {
                List<String> lines = output.lines().filter(l -> !l.isBlank()).toList();
                throw new Add4jException("npm pack " + spec + " failed: " + (lines.isEmpty() ? "exit " + p.exitValue() : lines.get(lines.size() - 1)));
            }
        } catch (IOException e) {
            throw new Add4jException("npm pack " + spec + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            p.destroy();
            Thread.currentThread().interrupt();
            throw new Add4jException("npm pack " + spec + ": interrupted");
        }
    }
}
