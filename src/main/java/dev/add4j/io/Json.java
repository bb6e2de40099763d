package dev.add4j.io;

import com.fasterxml.jackson.annotation.JsonSetter;
import com.fasterxml.jackson.annotation.Nulls;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DatabindException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.cfg.MutableCoercionConfig;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.add4j.Add4jException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one JSON mapper of add4j: Java records both ways, pretty output, and strict input (an unknown field is an
 * error, so a typo in a config file is caught instead of silently ignored). Errors in input name the source and the field.
 */
public final class Json {
    private Json() {}

    /** Name used in messages for JSON that did not come from a file. */
    private static final String STRING_SOURCE = "json";

    // Jackson reads and writes records through their canonical constructors and accessors; no annotations needed.
    // A missing field gets Java's default (null, 0): failing on it (FAIL_ON_MISSING_CREATOR_PROPERTIES) would
    // report "missing 'lr'" before "unknown field 'lr2'", hiding the typo; records validate in their constructors.
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    // For files add4j did not necessarily write itself (a model file's metadata): every field present, of exactly its
    // type. Jackson's defaults would read 32.5 as 32, "32" as 32, null as 0 and a repeated key as its last value.
    private static final ObjectMapper STRICT = strict()
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_CREATOR_PROPERTIES)
            .defaultSetterInfo(JsonSetter.Value.forValueNulls(Nulls.FAIL, Nulls.FAIL)) // null items in lists too
            .build();

    // For requests whose fields all have defaults (the server's request body): as strict, but a field may be left
    // out. Jackson cannot tell a missing field from a null one (Nulls.FAIL refuses both): readStrictOptional looks
    // for nulls in the tree itself.
    private static final ObjectMapper STRICT_OPTIONAL = strict().build();

    private static JsonMapper.Builder strict() {
        return JsonMapper.builder()
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                // exact types; an int where a float is expected stays allowed (2 is exactly 2.0)
                .withCoercionConfig(LogicalType.Integer, c -> fail(c, CoercionInputShape.Float, CoercionInputShape.String, CoercionInputShape.Boolean))
                .withCoercionConfig(LogicalType.Float, c -> fail(c, CoercionInputShape.String, CoercionInputShape.Boolean))
                .withCoercionConfig(LogicalType.Boolean, c -> fail(c, CoercionInputShape.Integer, CoercionInputShape.Float, CoercionInputShape.String))
                .withCoercionConfig(LogicalType.Textual, c -> fail(c, CoercionInputShape.Integer, CoercionInputShape.Float, CoercionInputShape.Boolean));
    }

    private static void fail(MutableCoercionConfig c, CoercionInputShape... shapes) {
        for (CoercionInputShape shape : shapes) c.setCoercion(shape, CoercionAction.Fail);
        c.setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail);
    }

    /** {@code value} as pretty-printed JSON. */
    public static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write " + value.getClass().getSimpleName() + " as JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** {@code value} as JSON on one line (JSONL logs, safetensors metadata). */
    public static String compact(Object value) {
        try {
            return MAPPER.writer().without(SerializationFeature.INDENT_OUTPUT).writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write " + value.getClass().getSimpleName() + " as JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Parses {@code json} into a {@code type}.
     * @throws Add4jException "json: unknown field 'lr2'" and the like
     */
    public static <T> T read(String json, Class<T> type) {
        try {
            return MAPPER.readValue(json, type);
        } catch (JacksonException e) {
            throw error(STRING_SOURCE, e);
        }
    }

    /**
     * Reads the file {@code file} into a {@code type}.
     * @throws Add4jException "run.json: unknown field 'lr2'" and the like, or "run.json: no such file"
     */
    public static <T> T read(Path file, Class<T> type) {
        try {
            return MAPPER.readValue(Files.readAllBytes(file), type);
        } catch (JacksonException e) {
            throw error(file.toString(), e);
        } catch (NoSuchFileException e) {
            throw new Add4jException(file + ": no such file", e);
        } catch (IOException e) {
            throw new Add4jException(file + ": cannot read: " + AtomicFiles.reason(e), e);
        }
    }

    /**
     * Binds an already parsed {@code tree} to a {@code type}, for a reader that rewrites the tree first (an old
     * file's upgrade); leniency and errors as {@link #read(String, Class)}.
     */
    public static <T> T read(JsonNode tree, Class<T> type) {
        try {
            return MAPPER.treeToValue(tree, type);
        } catch (JacksonException e) {
            throw error(STRING_SOURCE, e);
        }
    }

    /**
     * Parses {@code json} into a {@code type} strictly: every field present and of its exact type (no 32.5 or "32"
     * for an int, no null), no key twice, nothing unknown. For JSON from a file add4j did not necessarily write.
     * @param source names the JSON in messages, e.g. "model.safetensors: metadata add4j.unet"
     * @throws Add4jException one line: the source, the field and what was wrong
     */
    public static <T> T readStrict(String json, String source, Class<T> type) {
        try {
            return STRICT.readValue(json, type);
        } catch (JacksonException e) {
            throw error(source, e);
        }
    }

    /**
     * As {@link #readStrict}, but a field may be left out (it is null: the record gives its default); an explicit
     * {@code null} is still refused. For requests, e.g. the server's {@code {"prompt": "a bag", "steps": 1}}.
     */
    public static <T> T readStrictOptional(String json, String source, Class<T> type) {
        try {
            JsonNode tree = STRICT_OPTIONAL.readTree(json);
            String nullAt = firstNull(tree, "");
            if (nullAt != null) throw new Add4jException(source + ": field '" + nullAt + "': null is not allowed; leave the field out for its default");
            return STRICT_OPTIONAL.treeToValue(tree, type);
        } catch (JacksonException e) {
            throw error(source, e);
        }
    }

    /** The path of the first null inside {@code node} ({@code a.b[2]}), or null when there is none. */
    private static String firstNull(JsonNode node, String path) {
        int i = 0;
        for (var it = node.fields(); it.hasNext(); ) {
            var f = it.next();
            String at = path.isEmpty() ? f.getKey() : path + "." + f.getKey();
            String found = f.getValue().isNull() ? at : firstNull(f.getValue(), at);
            if (found != null) return found;
        }
        if (node.isArray()) for (JsonNode item : node) {
            String at = path + "[" + i++ + "]";
            String found = item.isNull() ? at : firstNull(item, at);
            if (found != null) return found;
        }
        return null;
    }

    /**
     * Parses {@code json} into a tree, for code that inspects JSON of no fixed shape.
     * @throws Add4jException when it is not valid JSON
     */
    public static JsonNode tree(String json) {
        try {
            return MAPPER.readTree(json);
        } catch (JacksonException e) {
            throw error(STRING_SOURCE, e);
        }
    }

    /** One line: the source, the field's path where there is one, and what was wrong. */
    private static Add4jException error(String source, JacksonException e) {
        String field = e instanceof JsonMappingException m ? path(m) : "";
        String message;
        if (e instanceof UnrecognizedPropertyException u) {
            message = "unknown field '" + field + "'; " + u.getReferringClass().getSimpleName() + " has " + u.getKnownPropertyIds();
        } else if (e instanceof ValueInstantiationException && e.getCause() != null) {
            // a record's constructor rejected a value: its message says which and why
            // a nested read (a reader that upgrades its tree) already named the field: its source prefix goes
            message = (field.isEmpty() ? "" : "field '" + field + "': ") + e.getCause().getMessage().replaceFirst("^" + STRING_SOURCE + ": ", "");
        } else if (e instanceof DatabindException) {
            message = (field.isEmpty() ? "" : "field '" + field + "': ") + plain(e.getOriginalMessage());
        } else {
            var at = e.getLocation();
            message = "not valid JSON" + (at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr())
                    + ": " + e.getOriginalMessage();
        }
        return new Add4jException(source + ": " + message.replaceAll("\\s*\\R\\s*", " ").trim(), e);
    }

    /** Jackson's wording without its configuration hints: "missing", "null is not allowed", "Cannot coerce ... (32.5) to `int`". */
    private static String plain(String m) {
        if (m == null) return "";
        if (m.startsWith("Missing creator property") || m.startsWith("Missing required creator property")) return "missing";
        if (m.startsWith("Invalid `null` value")) return "null is not allowed";
        if (m.startsWith("Trailing token")) return "more after the end of the JSON value";
        Matcher c = COERCE.matcher(m);
        if (c.find()) return "expected " + kind(c.group(2)) + ", got " + c.group(1);
        Matcher f = FROM.matcher(m);
        if (f.find()) return "expected " + kind(f.group(1)) + ", got " + kind(f.group(2));
        Matcher r = RANGE.matcher(m);
        if (r.find()) return "expected an integer in " + r.group(2).replace(" - ", "..") + ", got " + r.group(1);
        return m.replaceAll("\\s*\\(but (could|might) [^)]*\\)", "")
                .replaceAll(";?\\s*`DeserializationFeature\\.[A-Z_]+` (enabled|disabled)[^.]*", "")
                .replaceAll("\\s*\\(token `JsonToken\\.[A-Z_]+`\\)", "")
                .replaceAll("`dev\\.add4j\\.[\\w.]+\\$(\\w+)`", "`$1`");
    }

    // Jackson's type errors, which the strict readers turn into "expected an integer, got 1.5"
    private static final Pattern COERCE = Pattern.compile("^Cannot coerce [\\w-]+ value \\((.*)\\) to `([\\w.$]+)` value");
    private static final Pattern RANGE = Pattern.compile("^Numeric value \\((.*)\\) out of range of \\w+ \\((.*)\\)");
    private static final Pattern FROM = Pattern.compile("^Cannot (?:deserialize value of type|construct instance of) `([\\w.$]+)`.*? from ([\\w-]+) value");

    /** A Java type or a JSON shape in JSON's words. */
    private static String kind(String type) {
        return switch (type.replaceAll(".*[.$]", "")) {
            case "int", "Integer", "long", "Long", "short", "Short", "BigInteger" -> "an integer";
            case "double", "Double", "float", "Float", "Floating-point" -> "a number";
            case "String" -> "a string";
            case "boolean", "Boolean" -> "a boolean";
            case "List", "Array" -> "a list";
            default -> "an object";
        };
    }

    /** The field's path as written in JSON: {@code distill.weights[2].name}. */
    private static String path(JsonMappingException e) {
        StringBuilder b = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) b.append(b.length() > 0 ? "." : "").append(r.getFieldName());
            else if (r.getIndex() >= 0) b.append('[').append(r.getIndex()).append(']');
        }
        return b.toString();
    }
}
