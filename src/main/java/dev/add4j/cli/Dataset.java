package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.data.EmbeddedEmoji;
import dev.add4j.data.FashionMnist;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The data sets add4j ships models for ({@code --dataset}): where each one's data and shipped files are, so every
 * command takes its defaults from one place. A model file given by its own option wins over these.
 */
enum Dataset {
    /** Fashion-MNIST, 1 x 32 px: the embedded default, in the jar. */
    FMNIST("fmnist", FashionMnist.EMBEDDED, null),
    /**
     * Emoji in four styles, 3 x 32 px: the folder {@code add4j data emoji --out data/emoji} builds from npm, else the
     * small subset in the jar.
     */
    EMOJI("emoji", "data/emoji", EmbeddedEmoji.NAME);

    final String cliName;
    /** The --data value the demo trains on, and where serve's prompt examples come from, where it exists. */
    final String data;
    /** The data in the jar where {@link #data} is not there (null: {@link #data} is in the jar). */
    private final String embedded;

    Dataset(String cliName, String data, String embedded) {
        this.cliName = cliName;
        this.data = data;
        this.embedded = embedded;
    }

    Path teacher() { return model("teacher"); }
    Path student() { return model("student"); }
    Path features() { return model("features"); }
    Path evalNet() { return model("evalnet"); }

    private Path model(String kind) { return Path.of("models", kind + "-" + cliName + ".safetensors"); }

    /** {@code given}, or this data set's own data: its folder where it exists, else the part of it in the jar. */
    String data(String given) {
        if (given != null) return given;
        return embedded == null || Files.isDirectory(Path.of(data)) ? data : embedded;
    }

    /**
     * A shipped model file of this data set, which must exist.
     * @throws Add4jException naming the file, the option that replaces it and the models/README.md section
     */
    static Path existing(Path given, Path shipped, String option, String howToMake) {
        Path f = given != null ? given : shipped;
        if (!Files.isRegularFile(f))
            throw new Add4jException(option + " " + f + ": no such file; make one with: " + howToMake
                    + (given == null ? " (models/README.md says how the shipped ones were made)" : ""));
        return f;
    }

    static Dataset parse(String s) {
        for (Dataset d : values()) if (d.cliName.equals(s.trim().toLowerCase(Locale.ROOT))) return d;
        throw new Add4jException("--dataset: expected " + Arrays.stream(values()).map(d -> d.cliName).collect(Collectors.joining(" or "))
                + ", got '" + s + "'");
    }
}
