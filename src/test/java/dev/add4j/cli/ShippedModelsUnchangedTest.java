package dev.add4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The shipped 1 x 32 models, whose files record no channels or size, load and sample exactly as before colour and
 * 64 px came in (issue 20): the same PNG bytes for a fixed seed as the code of main at c989fb7 wrote.
 */
class ShippedModelsUnchangedTest {
    /** sha256 of each file main's code wrote for the runs below (recorded before the change). */
    static final Map<String, String> EXPECTED = Map.ofEntries(
            Map.entry("i2i/grid.png", "89402741a16d90b43bba1fb0ed6bab9e68c95301346557c081a99b608f8e02ce"),
            Map.entry("i2i/img-0000.png", "317ea8abf33e065d112df766e1994bdff46e13df47e1d6d8f2b618d7677c26f0"),
            Map.entry("student/grid.png", "11533ef7d35ca3974840040085a879a10ed3743e1d7fd4b9d260a0c4606dc3c9"),
            Map.entry("student/img-0000.png", "a5999d3aa3c597c7412168ac0f47b9d67bb39335fb1f4b9228b4935f5977aaf9"),
            Map.entry("student/img-0001.png", "2045b32a9814d1941657a512ba794c2972410fc243e894b1e1c517d960e39824"),
            Map.entry("student/img-0002.png", "7c00afe053b6bd15bc2376e1ac9151bd594e37dd304134aeffddbaf9c3c02122"),
            Map.entry("teacher/grid.png", "f3863519d5dfc0dc58ef8260075749f5e189c467a9e34573688af4b259fc6cb9"),
            Map.entry("teacher/img-0000.png", "6feab085a836e284244e1d25b7f6e9f34779022549d29acc987ef1137d4da19b"),
            Map.entry("teacher/img-0001.png", "8c35641e5fc138cd8ff5e7d26dec513d36e6c485a0bbaa3d308c417b8e8f0a11"),
            Map.entry("teacher/img-0002.png", "1a6e08b9dfb035de57364a312963b72d2c101f00c2f5b2a561a61c5a35d697eb"));
    /** eval's row for the shipped student (1 step, 20 images, seed 0, embedded data) as main's code wrote it. */
    static final String EXPECTED_ROW = "{\"steps\":1,\"sampler\":\"add\",\"timesteps\":[999],\"guidance\":0.0,\"n\":20,"
            + "\"fid\":8.345439565336676,\"kid\":-0.12778109806333865,\"kid_std\":0.08595811429468013,\"clip_score\":39.75175715395077,"
            + "\"class_accuracy\":0.75,\"per_class_accuracy\":[0.5,1.0,1.0,1.0,0.0,1.0,0.0,1.0,1.0,1.0],\"precision\":1.0,\"recall\":1.0,\"dtype\":\"fp32\"}";

    @Test void theShippedModelsSampleTheSameBytesAsBeforeColour(@TempDir Path dir) throws Exception {
        Map<String, String> got = new TreeMap<>();
        run(dir.resolve("teacher"), got, "teacher", "--model", "models/teacher-fmnist.safetensors", "--prompt", "an ankle boot",
                "--n", "3", "--steps", "4", "--guidance", "2", "--seed", "7");
        run(dir.resolve("student"), got, "student", "--model", "models/student-fmnist.safetensors", "--prompt", "a pullover",
                "--n", "3", "--steps", "1", "--seed", "11");
        run(dir.resolve("i2i"), got, "i2i", "--model", "models/student-fmnist.safetensors", "--prompt", "a sneaker",
                "--init-image", dir.resolve("teacher/img-0000.png").toString(), "--strength", "0.5", "--steps", "2", "--seed", "3");
        // eval: every metric of the shipped student at 1 step on 20 images (timings left out)
        Path ev = dir.resolve("eval");
        CliRun r = CliRun.of("eval", "--model", "models/student-fmnist.safetensors", "--steps", "1", "--n", "20", "--data", "embedded",
                "--device", "cpu", "--out", ev.toString());
        assertEquals(0, r.code(), r.err());
        var row = (com.fasterxml.jackson.databind.node.ObjectNode) dev.add4j.io.Json.tree(Files.readString(ev.resolve("metrics.json"))).get("rows").get(0);
        row.remove("ms_per_image");
        row.remove("ms_per_image_std");
        assertEquals(new TreeMap<>(EXPECTED), got);
        // the metrics to 1e-6: FID moves in its 8th digit from run to run (sums over threads in float32)
        var want = dev.add4j.io.Json.tree(EXPECTED_ROW);
        List<String> wantNames = new java.util.ArrayList<>(), gotNames = new java.util.ArrayList<>();
        want.fieldNames().forEachRemaining(wantNames::add);
        row.fieldNames().forEachRemaining(gotNames::add);
        assertEquals(wantNames, gotNames);
        want.fields().forEachRemaining(e -> {
            if (e.getValue().isNumber()) assertEquals(e.getValue().asDouble(), row.get(e.getKey()).asDouble(), 1e-6 * Math.max(1, Math.abs(e.getValue().asDouble())), e.getKey());
            else assertEquals(e.getValue().toString(), row.get(e.getKey()).toString(), e.getKey());
        });
    }

    private static void run(Path out, Map<String, String> got, String name, String... args) throws Exception {
        List<String> a = new java.util.ArrayList<>(List.of("sample", "--device", "cpu", "--out", out.toString()));
        a.addAll(List.of(args));
        CliRun r = CliRun.of(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        try (var files = Files.list(out)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".png")).sorted().toList())
                got.put(name + "/" + f.getFileName(), HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f))));
        }
    }
}
