package dev.add4j.ablate;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.add4j.eval.Evaluation;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * What a study has measured so far, as {@code ablation.json} holds it: every row's mean and spread over seeds, each
 * group with the paper's numbers and its verdict. Made from the finished runs' {@link RunResult}s alone, so a study
 * that is resumed, or still running, gets the same report for the same runs.
 *
 * @param title    the page's title
 * @param paper    where the paper's numbers come from ({@link Table1#SOURCE})
 * @param protocol what every row shares
 * @param seeds    the training seeds of every row
 * @param command  the {@code add4j ablate} command line (of the latest start)
 * @param groups   the groups, with their rows' labels, the paper's numbers and the verdict
 * @param rows     every run, with its numbers
 * @param done     runs (row x seed) finished
 * @param total    runs in the study
 * @param wallSeconds sum of the finished runs' wall times (training and evaluation)
 */
public record StudyReport(String title, String paper, Study.Protocol protocol, List<Long> seeds, String command,
                          List<GroupReport> groups, List<RowReport> rows, int done, int total,
                          @JsonProperty("wall_s") double wallSeconds) {

    public static final String MATCHES = "matches", DIFFERS = "differs", PENDING = "pending", NO_CLAIM = "no paper claim",
            NOT_APPLICABLE = "does not apply here";

    /** Mean and sample standard deviation (null below 2 values) of one metric over a row's seeds. */
    public record Stat(double mean, Double sd, int n) {
        static Stat of(List<Double> v) {
            if (v.isEmpty()) return null;
            double mean = v.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
            if (v.size() < 2) return new Stat(mean, null, 1);
            double ss = 0;
            for (double x : v) ss += (x - mean) * (x - mean);
            return new Stat(mean, Math.sqrt(ss / (v.size() - 1)), v.size());
        }
    }

    /**
     * One run of the study over its seeds.
     * @param status "done" (every seed measured), "diverged" (a seed's training or images were not finite), or
     *               "pending" (seeds still to run)
     */
    public record RowReport(String run, String what, @JsonProperty("in_paper") boolean inPaper, List<String> flags, String status,
                            Stat fid, @JsonProperty("clip_score") Stat clipScore, @JsonProperty("class_accuracy") Stat classAccuracy,
                            Stat precision, Stat recall, @JsonProperty("wall_s") double wallSeconds, List<RunResult> seeds) {
        public static final String DONE = "done", DIVERGED = "diverged", PENDING = "pending";
    }

    /** A row of a group: the run, its label in the group, the paper's entry (null: none). */
    public record MemberReport(String run, String label, Table1.Entry paper) {}

    /** A claim of the paper, checked on the paper's numbers and on the study's (null: not yet known). */
    public record ClaimReport(String text, Boolean paper, Boolean here) {}

    /** A group as the page shows it. */
    public record GroupReport(String id, String title, String verdict, List<ClaimReport> claims, List<MemberReport> rows,
                              @JsonProperty("paper_only") List<Table1.Entry> paperOnly, String note) {}

    /**
     * The report of {@code runs} (the study's, in order) at {@code seeds}, from the results finished so far.
     * @param results run name -> its finished seeds' results
     */
    public static StudyReport of(String title, Study.Protocol protocol, List<Long> seeds, String command, List<Study.Group> groups,
                                 List<Study.Run> runs, Map<String, List<RunResult>> results) {
        List<RowReport> rows = new ArrayList<>();
        Map<String, RowReport> byName = new LinkedHashMap<>();
        int done = 0;
        double wall = 0;
        for (Study.Run r : runs) {
            List<RunResult> res = results.getOrDefault(r.name(), List.of()).stream().filter(x -> seeds.contains(x.seed())).toList();
            done += res.size();
            List<RunResult> ok = res.stream().filter(x -> !x.diverged()).toList();
            String status = res.stream().anyMatch(RunResult::diverged) ? RowReport.DIVERGED
                    : res.size() == seeds.size() ? RowReport.DONE : RowReport.PENDING;
            double seconds = res.stream().mapToDouble(x -> x.trainSeconds() + x.evalSeconds()).sum();
            wall += seconds;
            RowReport row = new RowReport(r.name(), r.what(), r.inPaper(), r.flags(), status,
                    stat(ok, Evaluation.Row::fid), stat(ok, Evaluation.Row::clipScore), stat(ok, Evaluation.Row::classAccuracy),
                    stat(ok, Evaluation.Row::precision), stat(ok, Evaluation.Row::recall), seconds, res);
            rows.add(row);
            byName.put(r.name(), row);
        }
        Claim.Values here = (run, metric) -> {
            RowReport row = byName.get(run);
            if (row == null) return null;
            // a seed that diverged makes the row fail, whatever the other seeds measured
            if (row.status().equals(RowReport.DIVERGED)) return metric == Claim.Metric.FID ? Double.POSITIVE_INFINITY : Double.NaN;
            if (!row.status().equals(RowReport.DONE)) return null;
            return metric == Claim.Metric.FID ? row.fid().mean() : row.clipScore().mean();
        };
        List<GroupReport> out = new ArrayList<>();
        for (Study.Group g : groups) {
            Map<String, Table1.Entry> paper = new LinkedHashMap<>();
            for (Study.Member m : g.members()) if (m.paper() != null) paper.put(m.run(), m.paper());
            List<ClaimReport> claims = g.claims().stream()
                    .map(c -> new ClaimReport(c.text(), c.holdsInPaper(paper::get), c.holds(here))).toList();
            out.add(new GroupReport(g.id(), g.title(), verdict(g, claims), claims,
                    g.members().stream().map(m -> new MemberReport(m.run(), m.label(), m.paper())).toList(), g.paperOnly(), g.note()));
        }
        return new StudyReport(title, Table1.SOURCE, protocol, List.copyOf(seeds), command, out, rows, done, runs.size() * seeds.size(), wall);
    }

    /** "differs" as soon as a claim fails here; "matches" once every claim holds; else "pending". */
    static String verdict(Study.Group g, List<ClaimReport> claims) {
        if (g.members().isEmpty()) return NOT_APPLICABLE;
        if (claims.isEmpty()) return NO_CLAIM;
        if (claims.stream().anyMatch(c -> Boolean.FALSE.equals(c.here()))) return DIFFERS;
        if (claims.stream().allMatch(c -> Boolean.TRUE.equals(c.here()))) return MATCHES;
        return PENDING;
    }

    private static Stat stat(List<RunResult> ok, ToDoubleFunction<Evaluation.Row> metric) {
        return Stat.of(ok.stream().map(r -> metric.applyAsDouble(r.metrics())).toList());
    }

    /** The run's row by name (null: not in this study). */
    public RowReport row(String run) {
        for (RowReport r : rows) if (r.run().equals(run)) return r;
        return null;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Text

    /** "23.10 ± 0.52", "23.10" for one seed, "diverged", or "–" while pending. */
    public static String cell(RowReport row, Stat s, String format) {
        if (row == null) return "–";
        if (row.status().equals(RowReport.DIVERGED)) return "diverged";
        if (s == null) return "–";
        String m = String.format(Locale.ROOT, format, s.mean());
        return s.sd() == null ? m : m + " ± " + String.format(Locale.ROOT, format, s.sd());
    }

    /** "20.6 / 0.319", "20.3 / –", or "" where the paper has no such row. */
    public static String paperCell(Table1.Entry e) {
        if (e == null) return "";
        return String.format(Locale.ROOT, "%.1f / %s", e.fid(), e.clip() == null ? "–" : String.format(Locale.ROOT, "%.3f", e.clip()));
    }

    /** The verdict with how many claims hold: "matches (2 of 2 claims)". */
    public static String verdictCell(GroupReport g) {
        long held = g.claims().stream().filter(c -> Boolean.TRUE.equals(c.here())).count();
        return g.claims().isEmpty() ? g.verdict() : g.verdict() + " (" + held + " of " + g.claims().size() + (g.claims().size() == 1 ? " claim" : " claims") + ")";
    }

    /** The table alone, as Markdown: one header row per group, then its rows and the paper's rows without a counterpart. */
    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("| row | FID (1 step) | CLIP score | class accuracy | precision | recall | paper: FID / CLIP | verdict |\n");
        b.append("|---|---|---|---|---|---|---|---|\n");
        for (GroupReport g : groups) {
            b.append("| **").append(md(g.title())).append("** | | | | | | | **").append(md(verdictCell(g))).append("** |\n");
            for (MemberReport m : g.rows()) {
                RowReport r = row(m.run());
                b.append("| ").append(md(m.label())).append(" (`").append(m.run()).append("`) | ")
                        .append(cell(r, r == null ? null : r.fid(), "%.2f")).append(" | ")
                        .append(cell(r, r == null ? null : r.clipScore(), "%.2f")).append(" | ")
                        .append(cell(r, r == null ? null : r.classAccuracy(), "%.3f")).append(" | ")
                        .append(cell(r, r == null ? null : r.precision(), "%.3f")).append(" | ")
                        .append(cell(r, r == null ? null : r.recall(), "%.3f")).append(" | ")
                        .append(paperCell(m.paper())).append(" | |\n");
            }
            for (Table1.Entry e : g.paperOnly())
                b.append("| *").append(md(e.label())).append(" (paper only)* | | | | | | ").append(paperCell(e)).append(" | |\n");
        }
        b.append(String.format(Locale.ROOT, "%nadd4j ablate, budget %s: %d iterations at batch %d from the teacher, %s; 1-step evaluation on "
                        + "%d class-balanced images (seed %d); mean ± sd over seeds %s; %d of %d runs done. The paper's numbers: %s "
                        + "(SD 2.1, 512 px, COCO; its CLIP score is on another scale).%n",
                protocol.budget(), protocol.iterations(), protocol.batch(), "the paper's settings (--preset paper) plus each row's flags",
                protocol.n(), protocol.evalSeed(), seeds, done, total, paper));
        return b.toString();
    }

    private static String md(String s) { return s.replace("|", "\\|"); }
}
