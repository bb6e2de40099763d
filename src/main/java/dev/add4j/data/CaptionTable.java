package dev.add4j.data;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvParser;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import com.fasterxml.jackson.databind.SequenceWriter;
import dev.add4j.Add4jException;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Json;

import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The caption table of an image folder, one row per (image, caption): {@code captions.csv} with the header
 * {@code file,caption} or {@code file,caption,split}, or {@code captions.jsonl} with one
 * {@code {"file": ..., "caption": ..., "split": ...}} per line ({@code split} optional). Rows are checked alone here
 * (a file name, a non-blank caption, a known split); {@link ImageFolder} checks them against the folder.
 */
public final class CaptionTable {
    public static final String CSV = "captions.csv", JSONL = "captions.jsonl";
    /** The splits a row may name; a row without one is in {@link #TRAIN}. */
    public static final String TRAIN = "train", TEST = "test";
    static final List<String> SPLITS = List.of(TRAIN, TEST);

    /** One row: the image's path relative to the folder (with '/'), its caption, its split, and its line in the file. */
    public record Row(String file, String caption, String split, long line) {}

    private CaptionTable() {}

    /** Reads and checks a {@code captions.csv} or {@code captions.jsonl}; errors name the file and the line. */
    public static List<Row> read(Path file) {
        List<Row> rows = file.getFileName().toString().endsWith(".jsonl") ? readJsonl(file) : readCsv(file);
        if (rows.isEmpty()) throw new Add4jException(file + ": no rows; each image needs a row with its caption");
        return rows;
    }

    /** Writes rows as {@code captions.csv} (file, caption, split), quoted where needed, atomically. */
    public static void writeCsv(Path file, List<Row> rows) {
        CsvMapper mapper = new CsvMapper();
        CsvSchema schema = CsvSchema.builder().addColumn("file").addColumn("caption").addColumn("split").build().withHeader();
        AtomicFiles.write(file, out -> {
            Writer w = new OutputStreamWriter(out, StandardCharsets.UTF_8);
            try (SequenceWriter seq = mapper.writer(schema).writeValues(w)) {
                for (Row r : rows) seq.write(List.of(r.file(), r.caption(), r.split()));
            }
        });
    }

    private static List<Row> readCsv(Path file) {
        CsvMapper mapper = new CsvMapper();
        mapper.enable(CsvParser.Feature.WRAP_AS_ARRAY);
        List<Row> rows = new ArrayList<>();
        try (MappingIterator<String[]> it = mapper.readerFor(String[].class).readValues(Files.newBufferedReader(file, StandardCharsets.UTF_8))) {
            if (!it.hasNext()) return rows;
            String[] header = it.next();
            if (header.length > 0) header[0] = header[0].replace("\uFEFF", ""); // a spreadsheet's byte-order mark
            List<String> h = Arrays.stream(header).map(String::strip).toList();
            boolean hasSplit = h.equals(List.of("file", "caption", "split"));
            if (!hasSplit && !h.equals(List.of("file", "caption")))
                throw new Add4jException(file + " line 1: header is " + String.join(",", h) + "; expected file,caption or file,caption,split");
            while (it.hasNext()) {
                long line = it.getCurrentLocation().getLineNr(); // where the row starts (after it, the next line)
                String[] r = it.next();
                if (r.length == 0 || r.length == 1 && r[0].isBlank()) continue; // a blank line
                if (r.length != h.size())
                    throw new Add4jException(file + " line " + line + ": " + r.length + " fields, expected " + h.size() + " (" + String.join(",", h) + ")");
                rows.add(row(file, line, r[0], r[1], hasSplit ? r[2] : null));
            }
        } catch (JacksonException e) {
            throw new Add4jException(file + ": not a valid CSV file (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        return rows;
    }

    /** A jsonl row as written: every field a string, split optional. */
    private record JsonRow(String file, String caption, String split) {}

    private static List<Row> readJsonl(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (l.isEmpty()) continue;
            JsonRow r = Json.readStrictOptional(l, file + " line " + (i + 1), JsonRow.class);
            rows.add(row(file, i + 1, r.file(), r.caption(), r.split()));
        }
        return rows;
    }

    private static Row row(Path file, long line, String name, String caption, String split) {
        String at = file + " line " + line + ": ";
        if (name == null || name.isBlank()) throw new Add4jException(at + "no file name");
        if (caption == null || caption.isBlank())
            throw new Add4jException(at + "'" + name + "' has an empty caption (the empty prompt is the unconditional one, made by caption dropout)");
        String f = name.strip().replace('\\', '/');
        if (f.startsWith("/") || Arrays.asList(f.split("/")).contains(".."))
            throw new Add4jException(at + "'" + name + "' is not a path inside the folder");
        String sp = split == null || split.isBlank() ? TRAIN : split.strip();
        if (!SPLITS.contains(sp)) throw new Add4jException(at + "split '" + split + "'; expected " + String.join(" or ", SPLITS));
        return new Row(f, caption.strip(), sp, line);
    }
}
