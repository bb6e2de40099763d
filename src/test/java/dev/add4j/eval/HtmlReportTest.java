package dev.add4j.eval;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/** The demo's HTML page, written from a fake report and a fake training log: no tensors involved. */
class HtmlReportTest {

    static Evaluation.Row row(int steps, String sampler, double fid, double acc) {
        return new Evaluation.Row(steps, sampler, List.of(999), 0.0, 100, fid, 0.01234, 0.002, 27.5, acc,
                Collections.nCopies(10, acc), 0.7, 0.6, 12.3);
    }

    static HtmlReport.Content content(Path dir) throws Exception {
        Path log = dir.resolve("metrics.jsonl");
        Files.writeString(log, """
                {"step":5,"loss_g":0.5,"loss_adv":-0.2,"loss_distill":0.01,"loss_d":9.8,"d_acc":0.5,"it_per_s":0.4}
                {"step":10,"loss_g":0.3,"loss_adv":0.1,"loss_distill":0.02,"d_acc":0.6}

                {"step":15,"loss_g":0.1,"loss_adv":0.2,"loss_distill":0.03,"loss_d":9.1,"d_acc":0.7}
                {"step":10,"loss_g":0.25,"loss_adv":0.1,"loss_distill":0.02,"d_acc":0.6}
                """);
        var teacher = new Evaluation.Report("models/teacher.safetensors", "models/evalnet.safetensors", "test split & co", 0,
                List.of(row(1, "ddim", 35.4012, 0.6), row(50, "ddim", 2.044, 0.85)));
        var student = new Evaluation.Report("report/run/student.safetensors", "models/evalnet.safetensors", "test split & co", 0,
                List.of(row(1, "add", 7.25, 0.81)));
        Map<Integer, String> tGrids = new LinkedHashMap<>();
        tGrids.put(1, "grids/teacher-steps-1.png");
        tGrids.put(50, "grids/teacher-steps-50.png");
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("command", "add4j demo --out <mine>");
        return new HtmlReport.Content("demo <report>", settings,
                List.of(new HtmlReport.Model("teacher", "DDIM", teacher, tGrids),
                        new HtmlReport.Model("student <b>", "ADD", student, Map.of(1, "grids/student-steps-1.png"))),
                HtmlReport.readLog(log), List.of(new HtmlReport.Sample(0, "run/samples/step-000000.png"),
                        new HtmlReport.Sample(15, "run/samples/step-000015.png")),
                List.of(new HtmlReport.Command("evaluate", "./add4j eval --prompt \"a photo\"")),
                List.of(new HtmlReport.Phase("distil", 61.25), new HtmlReport.Phase("evaluate", 38.75)));
    }

    @Test void thePageHoldsTheMetricsThePlotsTheImageLinksAndTheTotalTime(@TempDir Path dir) throws Exception {
        Path page = dir.resolve("index.html");
        HtmlReport.write(page, content(dir));
        String html = Files.readString(page);
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        for (String v : new String[]{"35.40", "2.04", "7.25", "0.0123", "27.50", "0.810", "0.700", "0.600", "12.3"})
            assertTrue(html.contains(">" + v + "<"), "table value " + v);
        assertEquals(5, count(html, "<svg "), "one plot per curve in the log");
        assertEquals(5, count(html, "<polyline "));
        assertTrue(html.contains("100.0 s"), "total wall time");
        List<String> links = links(html);
        assertTrue(links.containsAll(List.of("grids/teacher-steps-1.png", "grids/teacher-steps-50.png", "grids/student-steps-1.png",
                "run/samples/step-000000.png", "run/samples/step-000015.png")), links.toString());
        assertTrue(links.stream().noneMatch(l -> l.startsWith("/") || l.contains(":")), "relative links only: " + links);
        assertFalse(html.contains("<script"), "static: no scripts");
        assertTrue(html.contains("FID at 1 step: teacher 35.40, student &lt;b&gt; 7.25. Lowest FID of each: teacher 2.04 at 50 steps, "
                + "student &lt;b&gt; 7.25 at 1 step."), "the one-line summary");
    }

    @Test void everyTextIsEscaped(@TempDir Path dir) throws Exception {
        String html = HtmlReport.html(content(dir));
        assertTrue(html.contains("demo &lt;report&gt;"));
        assertTrue(html.contains("student &lt;b&gt;"));
        assertTrue(html.contains("--out &lt;mine&gt;"));
        assertTrue(html.contains("test split &amp; co"));
        assertTrue(html.contains("--prompt &quot;a photo&quot;"));
        assertFalse(html.contains("<b>") || html.contains("<mine>") || html.contains("<report>"));
        assertEquals("&lt;a href=&quot;x&quot;&gt;&amp;&#39;", HtmlReport.esc("<a href=\"x\">&'"));
    }

    @Test void theGridTableHasAColumnPerStepCountAndADashWhereAModelHasNoRow(@TempDir Path dir) throws Exception {
        String html = HtmlReport.html(content(dir));
        String grids = html.substring(html.indexOf("<table class=\"grids\">"), html.indexOf("</table>", html.indexOf("<table class=\"grids\">")));
        assertTrue(grids.contains("<th>1 step</th><th>50 steps</th>"), grids);
        assertEquals(1, count(grids, "&ndash;"), "the student has no 50-step grid");
    }

    @Test void readLogSkipsMissingKeysAndBlankLinesAndKeepsTheLastLineOfARepeatedStep(@TempDir Path dir) throws Exception {
        content(dir);
        List<HtmlReport.Series> s = HtmlReport.readLog(dir.resolve("metrics.jsonl"));
        assertEquals(List.of("loss_g", "loss_adv", "loss_distill", "loss_d", "d_acc"), s.stream().map(HtmlReport.Series::key).toList());
        assertEquals(List.of(new HtmlReport.Point(5, 9.8), new HtmlReport.Point(15, 9.1)), s.get(3).points(), "no loss_d at step 10");
        assertEquals(List.of(new HtmlReport.Point(5, 0.5), new HtmlReport.Point(10, 0.25), new HtmlReport.Point(15, 0.1)), s.get(0).points(),
                "step 10 logged again after a restart: the later line, in step order");
    }

    @Test void aFlatOrSinglePointCurveStillGivesFiniteCoordinates() {
        String flat = HtmlReport.svgPlot("loss", "", List.of(new HtmlReport.Point(1, 2), new HtmlReport.Point(2, 2)));
        String one = HtmlReport.svgPlot("loss", "", List.of(new HtmlReport.Point(2, 0.5)));
        for (String svg : List.of(flat, one)) assertFalse(svg.contains("NaN") || svg.contains("Infinity"), svg);
        assertTrue(one.contains("<circle "), one);
        String signed = HtmlReport.svgPlot("loss", "", List.of(new HtmlReport.Point(0, -1), new HtmlReport.Point(10, 1)));
        assertTrue(signed.contains("stroke-dasharray"), "a zero line when the curve crosses 0");
        assertEquals(List.of("150", "0.00877", "-1.20", "1.00e-05"), List.of(HtmlReport.label(150), HtmlReport.label(0.008765),
                HtmlReport.label(-1.2), HtmlReport.label(1e-5)), "iterations as integers, values to 3 digits");
    }

    static int count(String s, String needle) {
        int c = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) c++;
        return c;
    }

    /** Every src and href on the page. */
    static List<String> links(String html) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("(?:src|href)=\"([^\"]*)\"").matcher(html);
        while (m.find()) out.add(m.group(1));
        return out;
    }
}
