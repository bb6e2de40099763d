package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.EmojiDataset;
import dev.add4j.data.NpmPackages;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code add4j data}: builds captioned image folders that {@code --data DIR} reads. */
@Command(name = "data", mixinStandardHelpOptions = true, subcommands = DataCommand.Emoji.class,
        description = "Build a captioned image folder for --data DIR.")
public final class DataCommand implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** No data set named: the usage, and exit 2 like any bad input. */
    @Override public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    /** {@code add4j data emoji}: the emoji of emoji-datasource 16.0.0, four styles, from npm. */
    @Command(name = "emoji", mixinStandardHelpOptions = true, sortOptions = false,
            description = "Build a captioned folder of emoji (64 px PNGs of emoji-datasource-apple, -google, -twitter and "
                    + "-facebook " + EmojiDataset.VERSION + ", captions from emoji-datasource's names, a held-out test split, "
                    + "each style's licence in LICENSES.md). Fetches the packages with npm pack (about 360 MB of tarballs, "
                    + "kept in --npm-cache), or reads tarballs already fetched (--from).")
    static final class Emoji implements Callable<Integer> {
        @Option(names = "--out", required = true, paramLabel = "DIR", description = "The folder to build (new, or empty).") Path out;
        @Option(names = "--from", paramLabel = "DIR", description = "Read the tarballs (emoji-datasource-" + EmojiDataset.VERSION
                + ".tgz, emoji-datasource-STYLE-" + EmojiDataset.VERSION + ".tgz) from here; fetch nothing.") Path from;
        @Option(names = "--npm-cache", paramLabel = "DIR", description = "Where npm pack puts the tarballs, and where they are "
                + "reused from (default: ~/.cache/add4j/npm).") Path npmCache;
        @Option(names = "--styles", defaultValue = "apple,google,twitter,facebook", paramLabel = "LIST",
                description = "The styles to take (default: ${DEFAULT-VALUE}).") String styles;

        /** The npm command; tests name one that does not exist. */
        String npm = "npm";

        @Override public Integer call() {
            List<String> chosen = EmojiDataset.styles(styles);
            if (Files.exists(out) && !(Files.isDirectory(out) && isEmpty(out)))
                throw new Add4jException("--out " + out + " exists and is not an empty directory: data emoji builds a new folder, choose another --out");
            if (from != null && npmCache != null) throw new Add4jException("give --from or --npm-cache, not both");
            List<String> packages = EmojiDataset.packages(chosen);
            List<Path> tarballs = from != null ? NpmPackages.existing(packages, EmojiDataset.VERSION, from)
                    : NpmPackages.fetch(packages, EmojiDataset.VERSION, npmCache != null ? npmCache : defaultCache(), npm, System.out);
            EmojiDataset.Summary s = EmojiDataset.build(tarballs.get(0), chosen, tarballs.subList(1, tarballs.size()), out);
            System.out.printf("wrote %,d images of %,d emoji in %d styles to %s (train %,d, test %,d); licences in %s%n",
                    s.images(), s.emoji(), chosen.size(), out, s.train(), s.test(), out.resolve("LICENSES.md"));
            if (chosen.contains("apple") || chosen.contains("facebook"))
                System.out.println("note: Apple's images are not licensed for commercial use, Facebook's have no clear licence (LICENSES.md)");
            return 0;
        }

        private static boolean isEmpty(Path dir) {
            try (Stream<Path> s = Files.list(dir)) {
                return s.findAny().isEmpty();
            } catch (IOException e) {
                throw new Add4jException("--out " + dir + ": cannot list (" + e.getMessage() + ")", e);
            }
        }

        private static Path defaultCache() { return Path.of(System.getProperty("user.home"), ".cache", "add4j", "npm"); }
    }
}
