package dev.add4j.eval;

import com.fasterxml.jackson.databind.JsonNode;
import dev.add4j.Add4jException;
import dev.add4j.data.Captions;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The demo's report: one static HTML page (no scripts, no external files but the images it links relatively) with
 * the sample grids side by side by step count, the metrics table, the training curves as inline SVG, the grids
 * written during training, the commands that go further, and the wall time of each phase.
 * Every text that reaches the page is HTML-escaped; nothing here touches tensors.
 */
public final class HtmlReport {
    private HtmlReport() {}

    /** What ADD is, in one paragraph: the report's introduction. */
    public static final String ADD_INTRO = "Adversarial Diffusion Distillation (ADD; Sauer et al. 2023, the method behind "
            + "SD-Turbo and SDXL-Turbo) turns a diffusion model that needs 25 to 50 denoising steps into a student that "
            + "makes an image in 1 to 4 steps. The student starts from the teacher's weights and learns from two losses at "
            + "once: an adversarial loss, from a discriminator made of small trainable heads on a frozen feature network, "
            + "that pushes every single-step sample towards real images; and a score distillation loss that pulls it "
            + "towards what the frozen teacher predicts after re-noising it. Below, a teacher is compared with a student "
            + "distilled from it for a few minutes on this machine, on the data the title names.";

    /** The training curves plotted, in order, with what each one is. */
    public static final Map<String, String> CURVES = curves();

    private static Map<String, String> curves() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("loss_g", "student loss L_G = L_adv + lambda L_distill");
        m.put("loss_adv", "adversarial loss of the student");
        m.put("loss_distill", "score distillation loss");
        m.put("loss_d", "discriminator hinge loss");
        m.put("d_acc", "discriminator accuracy (real vs student)");
        return Collections.unmodifiableMap(m);
    }

    /**
     * One evaluated model.
     * @param label  its name on the page ("teacher", "demo student")
     * @param about  one line: which file, which sampler
     * @param report its rows, as {@code add4j eval} writes them
     * @param grids  step count -> the row's sample grid, a link relative to the page
     */
    public record Model(String label, String about, Evaluation.Report report, Map<Integer, String> grids) {
        public Model { grids = Collections.unmodifiableMap(new LinkedHashMap<>(grids)); }
    }

    /** A grid written during training: after {@code iteration} iterations, at {@code link} (relative to the page). */
    public record Sample(long iteration, String link) {}

    /** A command to run next: what it does, and the exact command line. */
    public record Command(String what, String line) {}

    /** The wall time of one phase of the run. */
    public record Phase(String name, double seconds) {}

    /** A point of a training curve: iteration, value. */
    public record Point(double x, double y) {}

    /** One training curve: a metrics.jsonl key and its points in log order. */
    public record Series(String key, List<Point> points) {
        public Series { points = List.copyOf(points); }
    }

    /**
     * Everything on the page.
     * @param title    the page's title
     * @param settings what the run was (iterations, batch, data, device...), shown as a two-column table in order
     * @param models   the evaluated models, one grid row and one block of metric rows each
     * @param curves   training curves (from {@link #readLog})
     * @param samples  grids written during training, in order
     * @param commands what to run next
     * @param phases   wall time of each phase, in order
     */
    public record Content(String title, Map<String, String> settings, List<Model> models, List<Series> curves,
                          List<Sample> samples, List<Command> commands, List<Phase> phases) {
        public Content {
            settings = Collections.unmodifiableMap(new LinkedHashMap<>(settings));
            models = List.copyOf(models);
            curves = List.copyOf(curves);
            samples = List.copyOf(samples);
            commands = List.copyOf(commands);
            phases = List.copyOf(phases);
        }
    }

    /**
     * The curves of {@link #CURVES} found in a training log ({@code metrics.jsonl}: one JSON object a line with
     * "step" and the averaged statistics), in step order. Keys a line lacks, and non-finite values, are skipped;
     * of two lines for one step (a run resumed from an earlier checkpoint logs those steps again) the later counts.
     * @throws Add4jException when the file cannot be read or a line is not JSON
     */
    public static List<Series> readLog(Path jsonl) {
        List<String> lines;
        try {
            lines = Files.readAllLines(jsonl);
        } catch (IOException e) {
            throw new Add4jException(jsonl + ": cannot read the training log (" + e.getMessage() + ")", e);
        }
        TreeMap<Double, JsonNode> byStep = new TreeMap<>();
        for (String line : lines) {
            if (line.isBlank()) continue;
            JsonNode j = Json.tree(line);
            if (j.has("step")) byStep.put(j.get("step").asDouble(), j);
        }
        Map<String, List<Point>> byKey = new LinkedHashMap<>();
        for (String key : CURVES.keySet()) byKey.put(key, new ArrayList<>());
        byStep.forEach((step, j) -> {
            for (var e : byKey.entrySet()) {
                JsonNode v = j.get(e.getKey());
                if (v != null && v.isNumber() && Double.isFinite(v.asDouble())) e.getValue().add(new Point(step, v.asDouble()));
            }
        });
        List<Series> out = new ArrayList<>();
        byKey.forEach((k, pts) -> { if (!pts.isEmpty()) out.add(new Series(k, pts)); });
        return out;
    }

    /** Writes the page to {@code file} atomically. */
    public static void write(Path file, Content c) {
        AtomicFiles.writeString(file, html(c));
    }

    /** The page. */
    public static String html(Content c) {
        StringBuilder b = new StringBuilder(32_000);
        b.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").append(esc(c.title()))
                .append("</title>\n<style>\n").append(STYLE).append("</style>\n</head>\n<body>\n");
        b.append("<h1>").append(esc(c.title())).append("</h1>\n<p>").append(esc(ADD_INTRO)).append("</p>\n");
        settings(b, c.settings());
        summary(b, c.models());
        gridTable(b, c.models());
        metricsTable(b, c.models());
        training(b, c.curves(), c.samples());
        commands(b, c.commands());
        phases(b, c.phases());
        b.append("</body>\n</html>\n");
        return b.toString();
    }

    /** The pages' style sheet (the demo's and the ablation study's). */
    public static final String STYLE = """
            body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em; color: #222; }
            table { border-collapse: collapse; margin: 0.5em 0 1em; }
            th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            table.grids { width: 100%; table-layout: fixed; }
            table.grids th:first-child { width: 170px; }
            table.grids td { text-align: center; }
            table.grids img { width: 100%; max-width: 300px; image-rendering: pixelated; }
            .small { color: #666; font-size: 0.85em; overflow-wrap: anywhere; }
            .plots { display: flex; flex-wrap: wrap; gap: 12px; }
            .samples { display: flex; flex-wrap: wrap; gap: 12px; }
            .samples figure { margin: 0; }
            .samples img { width: 260px; image-rendering: pixelated; }
            pre { background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; overflow-wrap: anywhere; }
            """;

    private static void settings(StringBuilder b, Map<String, String> settings) {
        if (settings.isEmpty()) return;
        b.append("<table class=\"settings\">\n");
        settings.forEach((k, v) -> b.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v)).append("</td></tr>\n"));
        b.append("</table>\n");
    }

    /** One line: each model's FID at 1 step, and each model's best FID with its step count. */
    private static void summary(StringBuilder b, List<Model> models) {
        List<String> oneStep = new ArrayList<>(), best = new ArrayList<>();
        for (Model m : models) {
            Evaluation.Row bestRow = null;
            for (Evaluation.Row r : m.report().rows()) {
                if (r.steps() == 1) oneStep.add(String.format(Locale.ROOT, "%s %.2f", m.label(), r.fid()));
                if (bestRow == null || r.fid() < bestRow.fid()) bestRow = r;
            }
            if (bestRow != null) best.add(String.format(Locale.ROOT, "%s %.2f at %d %s", m.label(), bestRow.fid(), bestRow.steps(), bestRow.steps() == 1 ? "step" : "steps"));
        }
        if (best.isEmpty()) return;
        b.append("<p><strong>In short</strong>: ").append(esc((oneStep.isEmpty() ? "" : "FID at 1 step: " + String.join(", ", oneStep) + ". ")
                + "Lowest FID of each: " + String.join(", ", best) + ".")).append("</p>\n");
    }

    /** Columns: every step count any model was sampled at; rows: models; a dash where a model has no such row. */
    private static void gridTable(StringBuilder b, List<Model> models) {
        TreeSet<Integer> steps = new TreeSet<>();
        for (Model m : models) steps.addAll(m.grids().keySet());
        b.append("<h2>Samples by step count</h2>\n<p class=\"small\">Each grid: one class a row, from top to bottom ")
                .append(esc(String.join(", ", Captions.CLASS_NAMES)))
                .append(". The same prompts and the same starting noise in every cell, so cells differ only by model and steps.</p>\n");
        b.append("<table class=\"grids\">\n<tr><th></th>");
        for (int s : steps) b.append("<th>").append(s).append(s == 1 ? " step" : " steps").append("</th>");
        b.append("</tr>\n");
        for (Model m : models) {
            b.append("<tr><th>").append(esc(m.label())).append("<br><span class=\"small\">").append(esc(m.about())).append("</span></th>");
            for (int s : steps) {
                String link = m.grids().get(s);
                if (link == null) b.append("<td>&ndash;</td>");
                else b.append("<td><a href=\"").append(esc(link)).append("\"><img src=\"").append(esc(link)).append("\" alt=\"")
                        .append(esc(m.label() + ", " + s + " steps")).append("\"></a></td>");
            }
            b.append("</tr>\n");
        }
        b.append("</table>\n");
    }

    private static void metricsTable(StringBuilder b, List<Model> models) {
        b.append("<h2>Metrics</h2>\n");
        if (!models.isEmpty()) {
            Evaluation.Report first = models.get(0).report();
            int n = first.rows().isEmpty() ? 0 : first.rows().get(0).n();
            b.append("<p class=\"small\">").append(esc(String.format(Locale.ROOT,
                    "%d images per row (%s prompts; image i from seed %d + i), measured by the eval net %s against %s. "
                            + "FID and KID: lower is better; CLIP score (eval net vs. prompt), class accuracy, precision and "
                            + "recall: higher is better. ms/image: sampling only, on this machine.",
                    n, first.reference().startsWith("captioned folder") ? "the test images' captions as" : "class-balanced",
                    first.seed(), first.evalNet(), first.reference()))).append("</p>\n");
        }
        b.append("<table class=\"metrics\">\n<tr><th>model</th><th>steps</th><th>sampler</th><th>FID</th><th>KID</th>"
                + "<th>CLIP score</th><th>class accuracy</th><th>precision</th><th>recall</th><th>ms/image</th></tr>\n");
        for (Model m : models)
            for (Evaluation.Row r : m.report().rows())
                b.append("<tr><td>").append(esc(m.label())).append("</td>")
                        .append(num("%d", r.steps())).append("<td>").append(esc(r.sampler())).append("</td>")
                        .append(num("%.2f", r.fid())).append(num("%.4f", r.kid()))
                        .append(num("%.2f", r.clipScore())).append(num("%.3f", r.classAccuracy()))
                        .append(num("%.3f", r.precision())).append(num("%.3f", r.recall()))
                        .append(num("%.1f", r.msPerImage())).append("</tr>\n");
        b.append("</table>\n");
    }

    private static String num(String format, Object v) {
        return "<td class=\"num\">" + esc(String.format(Locale.ROOT, format, v)) + "</td>";
    }

    private static void training(StringBuilder b, List<Series> curves, List<Sample> samples) {
        b.append("<h2>Training</h2>\n");
        if (!curves.isEmpty()) {
            b.append("<p class=\"small\">Averages over each logging interval, against the iteration.</p>\n<div class=\"plots\">\n");
            for (Series s : curves) b.append(svgPlot(s.key(), CURVES.getOrDefault(s.key(), ""), s.points())).append('\n');
            b.append("</div>\n");
        }
        if (!samples.isEmpty()) {
            b.append("<p class=\"small\">The EMA student during training, on 40 fixed prompts and noises: the top four rows "
                    + "at 1 step, the bottom four at 4 steps.</p>\n<div class=\"samples\">\n");
            for (Sample s : samples)
                b.append("<figure><a href=\"").append(esc(s.link())).append("\"><img src=\"").append(esc(s.link()))
                        .append("\" alt=\"").append(esc("after " + s.iteration() + " iterations")).append("\"></a><figcaption>")
                        .append(esc("after " + s.iteration() + (s.iteration() == 1 ? " iteration" : " iterations")
                                + (s.iteration() == 0 ? " (the teacher's weights)" : "")))
                        .append("</figcaption></figure>\n");
            b.append("</div>\n");
        }
    }

    private static void commands(StringBuilder b, List<Command> commands) {
        if (commands.isEmpty()) return;
        b.append("<h2>Going further</h2>\n<pre>");
        for (Iterator<Command> it = commands.iterator(); it.hasNext(); ) {
            Command c = it.next();
            b.append(esc("# " + c.what())).append('\n').append(esc(c.line())).append('\n');
            if (it.hasNext()) b.append('\n');
        }
        b.append("</pre>\n");
    }

    private static void phases(StringBuilder b, List<Phase> phases) {
        if (phases.isEmpty()) return;
        b.append("<h2>Wall time</h2>\n<table class=\"phases\">\n");
        double total = 0;
        for (Phase p : phases) {
            b.append("<tr><td>").append(esc(p.name())).append("</td>").append(num("%.1f s", p.seconds())).append("</tr>\n");
            total += p.seconds();
        }
        b.append("<tr><th>total</th>").append(num("%.1f s", total)).append("</tr>\n</table>\n");
    }

    // ------------------------------------------------------------------------------------------------------------
    // SVG

    static final int PLOT_W = 360, PLOT_H = 210;
    private static final int LEFT = 58, RIGHT = 12, TOP = 26, BOTTOM = 30;

    /**
     * A line plot of {@code points} as an inline SVG: a frame, the y range's ends and middle and the x range's ends
     * labelled, a dashed zero line where 0 lies inside the y range, and one polyline.
     */
    public static String svgPlot(String title, String subtitle, List<Point> points) {
        double x0 = Double.POSITIVE_INFINITY, x1 = Double.NEGATIVE_INFINITY, y0 = Double.POSITIVE_INFINITY, y1 = Double.NEGATIVE_INFINITY;
        for (Point p : points) {
            x0 = Math.min(x0, p.x());
            x1 = Math.max(x1, p.x());
            y0 = Math.min(y0, p.y());
            y1 = Math.max(y1, p.y());
        }
        if (points.isEmpty()) x0 = x1 = y0 = y1 = 0;
        // a flat range would divide by zero: widen it around the value
        if (x1 - x0 <= 0) { x0 -= 1; x1 += 1; }
        if (y1 - y0 <= 0) { double pad = Math.max(Math.abs(y0) * 0.1, 1e-3); y0 -= pad; y1 += pad; }
        int w = PLOT_W - LEFT - RIGHT, h = PLOT_H - TOP - BOTTOM;
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                + "font-family=\"sans-serif\" font-size=\"11\">", PLOT_W, PLOT_H, PLOT_W, PLOT_H));
        b.append("<title>").append(esc(title + (subtitle.isEmpty() ? "" : ": " + subtitle))).append("</title>");
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">%s</text>", LEFT, esc(title)));
        b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>", LEFT, TOP, w, h));
        for (double f : new double[]{0, 0.5, 1}) {
            double v = y0 + f * (y1 - y0);
            double py = TOP + h - f * h;
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>", LEFT - 4, py + 4, esc(label(v))));
        }
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"start\">%s</text>", LEFT, TOP + h + 14, esc(label(x0))));
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", LEFT + w, TOP + h + 14, esc(label(x1))));
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">iteration</text>", LEFT + w / 2, TOP + h + 26));
        if (y0 < 0 && y1 > 0) {
            double pz = TOP + h - (0 - y0) / (y1 - y0) * h;
            b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>", LEFT, pz, LEFT + w, pz));
        }
        StringBuilder pts = new StringBuilder();
        for (Point p : points) {
            if (pts.length() > 0) pts.append(' ');
            pts.append(String.format(Locale.ROOT, "%.1f,%.1f", LEFT + (p.x() - x0) / (x1 - x0) * w, TOP + h - (p.y() - y0) / (y1 - y0) * h));
        }
        if (points.size() == 1) {
            String[] xy = pts.toString().split(",");
            b.append("<circle cx=\"").append(xy[0]).append("\" cy=\"").append(xy[1]).append("\" r=\"3\" fill=\"#1f6feb\"/>");
        } else if (!points.isEmpty()) {
            b.append("<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"1.5\" points=\"").append(pts).append("\"/>");
        }
        return b.append("</svg>").toString();
    }

    /** A short axis label: integers as such (iterations), else 3 significant digits, no exponent for everyday magnitudes. */
    static String label(double v) {
        double a = Math.abs(v);
        if (v == Math.rint(v) && a < 1e6) return Long.toString((long) v);
        if (a != 0 && (a < 1e-3 || a >= 1e5)) return String.format(Locale.ROOT, "%.2e", v);
        if (a >= 100) return String.format(Locale.ROOT, "%.0f", v);
        return String.format(Locale.ROOT, "%.3g", v);
    }

    /** {@code s} with &, <, >, " and ' replaced by entities: safe in text and in quoted attributes. */
    public static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(ch);
            }
        }
        return b.toString();
    }
}
