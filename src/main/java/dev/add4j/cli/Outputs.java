package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.dist.Group;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The one rule for {@code --out} in every command: a new or empty directory, or a file that does not exist yet;
 * anything else is refused before any work, unless {@code --force} (then the command replaces the files it writes
 * and leaves every other file alone). A training run's directory is also accepted with {@code --resume}.
 */
final class Outputs {
    private Outputs() {}

    /** The {@code --force} option, the same in every command that writes. */
    static final class Force {
        @Option(names = "--force", description = "Write into a non-empty --out directory, or replace an existing --out "
                + "file; the files this command writes are replaced, others are left alone.")
        boolean force;
    }

    /** An output directory: new, or empty, or anything with {@code force}; never a file. */
    static void directory(Path out, boolean force) {
        if (!Group.current().isMain()) return;    // the other ranks of a data-parallel job write nothing there
        checkDirectory(out, force, "choose another --out, or pass --force to write into it");
    }

    /** A training run's directory: as {@link #directory}, or the run itself when {@code resume}. */
    static void runDirectory(Path out, boolean force, boolean resume) {
        if (!Group.current().isMain()) return;    // the other ranks of a data-parallel run write nothing there; rank 0 may have begun
        checkDirectory(out, force || resume, "pass --resume to continue its run, choose another --out, or pass --force to write into it");
    }

    private static void checkDirectory(Path out, boolean mayHoldFiles, String hint) {
        if (Files.exists(out) && !Files.isDirectory(out))
            throw new Add4jException("--out " + out + " is a file, not a directory: choose another --out");
        if (!mayHoldFiles && !isEmpty(out))
            throw new Add4jException("--out " + out + " is not empty (it holds " + listing(out) + "): " + hint);
    }

    /** An output file: one that does not exist yet, or an existing file with {@code force}; never a directory. */
    static void file(Path out, boolean force) {
        if (Files.isDirectory(out))
            throw new Add4jException("--out " + out + " is a directory; give a file name such as " + out.resolve("model.safetensors"));
        if (!force && Files.exists(out))
            throw new Add4jException("--out " + out + " already exists: choose another --out, or pass --force to replace it");
    }

    private static boolean isEmpty(Path dir) {
        if (!Files.isDirectory(dir)) return true;
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new Add4jException("--out " + dir + ": cannot list: " + e.getMessage(), e);
        }
    }

    /** Up to three names in the directory, sorted, and how many more. */
    private static String listing(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            List<String> names = s.map(p -> p.getFileName().toString()).sorted().toList();
            String head = String.join(", ", names.subList(0, Math.min(3, names.size())));
            return names.size() > 3 ? head + " and " + (names.size() - 3) + " more" : head;
        } catch (IOException e) {
            return "files";
        }
    }
}
