package dev.add4j.ablate;

import dev.add4j.eval.HtmlReport;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Provenance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static dev.add4j.eval.HtmlReport.esc;

/**
 * The study's page, {@code DIR/index.html}: one static file (no scripts; images linked relatively) with the table
 * grouped as the paper's Table 1, the paper's numbers beside ours and a verdict per group, then per row its sample
 * grid, its training curves (inline SVG, drawn by {@link HtmlReport#svgPlot}), its exact commands and wall time.
 */
public final class AblationPage {
    private AblationPage() {}

    /** The training curves shown per row: the student's loss, the heads' loss and their accuracy. */
    static final Set<String> CURVES = Set.of("loss_g", "loss_d", "d_acc");

    /** Writes the page for {@code r} into {@code dir} atomically. */
    public static void write(StudyDir dir, StudyReport r, Map<String, String> settings) {
        AtomicFiles.writeString(dir.root().resolve(StudyDir.PAGE), html(dir, r, settings));
    }

    static String html(StudyDir dir, StudyReport r, Map<String, String> settings) {
        StringBuilder b = new StringBuilder(64_000);
        b.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").append(esc(r.title()))
                .append("</title>\n<style>\n").append(HtmlReport.STYLE)
                .append("tr.group th { background: #eef; }\ntd.yes { color: #116611; }\ntd.no { color: #aa1111; }\n")
                .append("tr.paper-only td { color: #777; font-style: italic; }\n.plots svg { width: 240px; height: 140px; }\n")
                .append("</style>\n</head>\n<body>\n");
        b.append("<h1>").append(esc(r.title())).append("</h1>\n<p>").append(esc(
                "The ablations of the ADD paper's Table 1, run here from one starting point: every row is add4j distill with "
                        + "the paper's settings (--preset paper) plus the row's own flags, with the same iterations, batch, seeds "
                        + "and 1-step evaluation. The paper's numbers are typed in from " + r.paper() + "; every other number "
                        + "on this page is computed. Rows marked \"not in the paper\" are add4j's own.")).append("</p>\n");
        b.append("<table class=\"settings\">\n");
        settings.forEach((k, v) -> b.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v)).append("</td></tr>\n"));
        b.append("</table>\n");
        summary(b, r);
        table(b, r);
        rows(b, dir, r);
        wallTime(b, r);
        b.append("</body>\n</html>\n");
        return b.toString();
    }

    private static void summary(StringBuilder b, StudyReport r) {
        long judged = r.groups().stream().filter(g -> !g.claims().isEmpty()).count();
        long matches = r.groups().stream().filter(g -> g.verdict().equals(StudyReport.MATCHES)).count();
        long differs = r.groups().stream().filter(g -> g.verdict().equals(StudyReport.DIFFERS)).count();
        b.append("<p><strong>In short</strong>: ").append(esc(String.format(Locale.ROOT,
                "%d of %d runs done (%d rows x %d seeds). Of the %d groups the paper makes a claim about, %d match its ordering, "
                        + "%d differ%s.", r.done(), r.total(), r.rows().size(), r.seeds().size(), judged, matches, differs,
                judged - matches - differs > 0 ? ", " + (judged - matches - differs) + " wait for rows" : ""))).append("</p>\n");
    }

    private static void table(StringBuilder b, StudyReport r) {
        b.append("<h2>Table 1, here and in the paper</h2>\n<p class=\"small\">").append(esc(String.format(Locale.ROOT,
                "Each row: the EMA student after %d iterations at batch %d, sampled in 1 step on %d class-balanced prompts "
                        + "(image i from seed %d + i, the same for every row), measured by add4j eval; mean ± sample standard "
                        + "deviation over the seeds %s. FID: lower is better; CLIP score (the eval net against the prompt's "
                        + "MiniLM embedding, x100), class accuracy, precision and recall: higher is better. The paper's FID and "
                        + "CLIP score are SD 2.1's at 512 px on COCO prompts: compare orderings, not values. A verdict compares "
                        + "the ordering the paper reports with ours: a row \"fails\" at %.0f times the reference's FID or more, "
                        + "two rows are \"close\" within %.0f %%; both thresholds were fixed before any run.",
                r.protocol().iterations(), r.protocol().batch(), r.protocol().n(), r.protocol().evalSeed(), r.seeds(),
                Claim.FAIL_RATIO, Claim.CLOSE * 100))).append("</p>\n");
        b.append("<table class=\"metrics\">\n<tr><th>row</th><th>FID</th><th>CLIP score</th><th>class accuracy</th><th>precision</th>"
                + "<th>recall</th><th>paper FID</th><th>paper CLIP</th><th>wall time</th></tr>\n");
        for (StudyReport.GroupReport g : r.groups()) {
            b.append("<tr class=\"group\"><th colspan=\"9\">").append(esc(g.title())).append(": ").append(esc(StudyReport.verdictCell(g)))
                    .append("</th></tr>\n");
            for (StudyReport.MemberReport m : g.rows()) {
                StudyReport.RowReport row = r.row(m.run());
                b.append("<tr><td><a href=\"#").append(esc(m.run())).append("\">").append(esc(m.label())).append("</a></td>");
                for (var cell : new String[]{
                        StudyReport.cell(row, row == null ? null : row.fid(), "%.2f"),
                        StudyReport.cell(row, row == null ? null : row.clipScore(), "%.2f"),
                        StudyReport.cell(row, row == null ? null : row.classAccuracy(), "%.3f"),
                        StudyReport.cell(row, row == null ? null : row.precision(), "%.3f"),
                        StudyReport.cell(row, row == null ? null : row.recall(), "%.3f")})
                    b.append("<td class=\"num\">").append(esc(cell)).append("</td>");
                b.append(paperCells(m.paper()));
                b.append("<td class=\"num\">").append(row == null || row.seeds().isEmpty() ? "" : esc(seconds(row.wallSeconds()))).append("</td></tr>\n");
            }
            for (Table1.Entry e : g.paperOnly())
                b.append("<tr class=\"paper-only\"><td>").append(esc(e.label() + " (the paper only)"))
                        .append("</td><td></td><td></td><td></td><td></td><td></td>").append(paperCells(e)).append("<td></td></tr>\n");
            for (StudyReport.ClaimReport c : g.claims())
                b.append("<tr><td colspan=\"9\" class=\"small").append(c.here() == null ? "" : c.here() ? " yes" : " no").append("\">").append(esc("claim: " + c.text() + ". In the paper: "
                        + yesNo(c.paper()) + "; here: " + yesNo(c.here()) + ".")).append("</td></tr>\n");
            if (!g.note().isEmpty()) b.append("<tr><td colspan=\"9\" class=\"small\">").append(esc(g.note())).append("</td></tr>\n");
        }
        b.append("</table>\n");
    }

    private static String paperCells(Table1.Entry e) {
        if (e == null) return "<td></td><td></td>";
        return "<td class=\"num\">" + esc(String.format(Locale.ROOT, "%.1f", e.fid())) + "</td><td class=\"num\">"
                + (e.clip() == null ? "&ndash;" : esc(String.format(Locale.ROOT, "%.3f", e.clip()))) + "</td>";
    }

    private static String yesNo(Boolean b) { return b == null ? "not yet known" : b ? "holds" : "does not hold"; }

    private static void rows(StringBuilder b, StudyDir dir, StudyReport r) {
        b.append("<h2>The rows</h2>\n<p class=\"small\">Per row: the 1-step grid of its first seed (one class a row, "
                + "the evaluation's first prompts), its training curves (averages over each logging interval), and the exact "
                + "commands of each seed, which reproduce its files.</p>\n");
        for (StudyReport.RowReport row : r.rows()) {
            b.append("<h3 id=\"").append(esc(row.run())).append("\">").append(esc(row.run())).append("</h3>\n<p>")
                    .append(esc(row.what() + (row.inPaper() ? "" : " (not in the paper)") + ". Status: " + row.status()
                            + (row.seeds().isEmpty() ? "" : ", " + seconds(row.wallSeconds()) + " in all") + "."))
                    .append("</p>\n");
            if (row.seeds().isEmpty()) continue;
            RunResult first = row.seeds().get(0);
            b.append("<div class=\"plots\">\n");
            if (first.metrics() != null) {
                String link = StudyDir.gridLink(row.run(), first.seed());
                b.append("<a href=\"").append(esc(link)).append("\"><img src=\"").append(esc(link)).append("\" alt=\"")
                        .append(esc(row.run() + ", 1 step, seed " + first.seed())).append("\" style=\"width: 260px; image-rendering: pixelated\"></a>\n");
            }
            Path log = dir.trainingLog(row.run(), first.seed());
            if (Files.isRegularFile(log))
                for (HtmlReport.Series s : HtmlReport.readLog(log))
                    if (CURVES.contains(s.key())) b.append(HtmlReport.svgPlot(s.key(), HtmlReport.CURVES.getOrDefault(s.key(), ""), s.points())).append('\n');
            b.append("</div>\n<pre>");
            for (RunResult res : row.seeds()) {
                b.append(esc(String.format(Locale.ROOT, "# seed %d: %s; training %s%s, evaluation %s%s", res.seed(), res.status(),
                        seconds(res.trainSeconds()), res.restarts() > 0 ? " (" + res.restarts() + " restarts from a checkpoint)" : "",
                        seconds(res.evalSeconds()), res.reason() == null ? "" : "; " + res.reason()))).append('\n');
                b.append(esc(Provenance.commandLine("./add4j", res.distill()))).append('\n');
                if (res.metrics() != null) b.append(esc(Provenance.commandLine("./add4j", res.eval()))).append('\n');
            }
            b.append("</pre>\n<p class=\"small\"><a href=\"").append(esc(StudyDir.consoleLink(row.run(), first.seed())))
                    .append("\">console output</a></p>\n");
        }
    }

    private static void wallTime(StringBuilder b, StudyReport r) {
        b.append("<h2>Wall time</h2>\n<p class=\"small\">CPU time: of the whole process over the run (every thread), "
                + "where it ran alone; at one thread, about its wall time on a quiet core."
                + "</p>\n<table class=\"phases\">\n<tr><th>row</th><th>seed</th><th>training</th><th>evaluation</th><th>CPU time</th></tr>\n");
        for (StudyReport.RowReport row : r.rows())
            for (RunResult res : row.seeds())
                b.append("<tr><td>").append(esc(row.run())).append("</td><td class=\"num\">").append(res.seed()).append("</td><td class=\"num\">")
                        .append(esc(seconds(res.trainSeconds()))).append("</td><td class=\"num\">").append(esc(seconds(res.evalSeconds())))
                        .append("</td><td class=\"num\">").append(res.cpuSeconds() == null ? "" : esc(seconds(res.cpuSeconds())))
                        .append("</td></tr>\n");
        b.append("<tr><th colspan=\"2\">total</th><td class=\"num\" colspan=\"2\">").append(esc(seconds(r.wallSeconds())))
                .append("</td><td></td></tr>\n</table>\n");
    }

    /** "95.3 s". */
    static String seconds(double s) { return String.format(Locale.ROOT, "%.1f s", s); }

    /** The links of a page, for checks: every src and href that is not an anchor. */
    static List<String> links(String html) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?:src|href)=\"([^\"#][^\"]*)\"").matcher(html);
        List<String> out = new java.util.ArrayList<>();
        while (m.find()) out.add(m.group(1));
        return out;
    }
}
