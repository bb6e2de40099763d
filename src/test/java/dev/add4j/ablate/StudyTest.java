package dev.add4j.ablate;

import dev.add4j.eval.Evaluation;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The study's rows, groups and claims, and its report, on made-up results (no training). */
class StudyTest {
    static final Study.Protocol P = new Study.Protocol("quick", 40, 16, 100, 0, 128, 8, "embedded", "t.safetensors",
            "f.safetensors", "s.safetensors", "ss.safetensors", "e.safetensors");

    @Test void everyClaimHoldsOnThePapersOwnNumbers() {
        int claims = 0;
        for (Study.Group g : Study.groups()) {
            Map<String, Table1.Entry> paper = new HashMap<>();
            for (Study.Member m : g.members()) if (m.paper() != null) paper.put(m.run(), m.paper());
            for (Claim c : g.claims()) {
                assertEquals(Boolean.TRUE, c.holdsInPaper(paper::get), g.id() + ": " + c.text());
                claims++;
            }
        }
        assertEquals(9, claims);
    }

    @Test void everyRowIsInAGroupEveryGroupsRowIsARunAndTheBaseIsInEveryGroupThatHasRows() {
        List<Study.Run> runs = Study.runs(P, "u.safetensors");
        Set<String> names = new HashSet<>();
        for (Study.Run r : runs) {
            assertTrue(names.add(r.name()), "unique: " + r.name());
            assertEquals(0, r.flags().size() % 2, r.name() + ": option, value pairs");
        }
        Set<String> grouped = new HashSet<>();
        for (Study.Group g : Study.groups()) {
            for (Study.Member m : g.members()) {
                assertTrue(names.contains(m.run()), m.run());
                grouped.add(m.run());
            }
            if (!g.members().isEmpty()) assertTrue(g.members().stream().anyMatch(m -> m.run().equals(Study.BASE)), g.id());
        }
        assertEquals(names, grouped);
        assertEquals(List.of(Study.BASE, Study.INIT_RANDOM), Study.runsOf(Study.select("c"), runs).stream().map(Study.Run::name).toList());
        assertEquals(2, Study.select("d").size(), "d brings the losses and the weighting");
    }

    @Test void claimsAreUnknownWhileARowIsMissingAndADivergedRowFails() {
        Map<String, Double> fid = new HashMap<>();
        Claim.Values v = (run, m) -> m == Claim.Metric.FID ? fid.get(run) : null;
        Claim fails = new Claim.Fails("r", "base", ""), close = new Claim.Close("r", "base", "");
        Claim best = new Claim.Best(Claim.Metric.FID, "base", List.of("base", "r", "q"), List.of(), "");
        assertNull(fails.holds(v));
        fid.put("base", 10.0);
        assertNull(fails.holds(v));
        fid.put("r", 29.0);
        assertFalse(fails.holds(v));
        assertFalse(close.holds(v));
        assertNull(best.holds(v), "q is missing");
        fid.put("r", 30.0);
        assertTrue(fails.holds(v), "3 times");
        fid.put("r", 11.0);
        assertTrue(close.holds(v), "within 10 %");
        assertFalse(fails.holds(v));
        fid.put("r", 9.0);
        assertFalse(best.holds(v), "known to be beaten while q is missing");
        fid.put("r", Double.POSITIVE_INFINITY);
        fid.put("q", 12.0);
        assertTrue(fails.holds(v), "diverged");
        assertFalse(close.holds(v));
        assertTrue(best.holds(v));
    }

    @Test void theReportAveragesSeedsGivesAVerdictPerGroupAndCountsADivergedSeedAsAFailure() {
        List<Study.Group> groups = Study.select("c,d");
        List<Study.Run> runs = Study.runsOf(groups, Study.runs(P, "u.safetensors"));
        Map<String, List<RunResult>> res = new LinkedHashMap<>();
        res.put(Study.BASE, List.of(done(Study.BASE, 0, 20.0), done(Study.BASE, 1, 22.0)));
        res.put(Study.INIT_RANDOM, List.of(done(Study.INIT_RANDOM, 0, 100.0), diverged(Study.INIT_RANDOM, 1)));
        res.put(Study.LOSS_ADV, List.of(done(Study.LOSS_ADV, 0, 21.0), done(Study.LOSS_ADV, 1, 22.0)));
        res.put(Study.LOSS_DISTILL, List.of(done(Study.LOSS_DISTILL, 0, 40.0)));
        StudyReport r = StudyReport.of("t", P, List.of(0L, 1L), "add4j ablate", groups, runs, res);
        StudyReport.RowReport base = r.row(Study.BASE);
        assertEquals(21.0, base.fid().mean(), 1e-12);
        assertEquals(Math.sqrt(2.0), base.fid().sd(), 1e-12);
        assertEquals(StudyReport.RowReport.DIVERGED, r.row(Study.INIT_RANDOM).status());
        assertEquals(StudyReport.RowReport.PENDING, r.row(Study.LOSS_DISTILL).status());
        Map<String, String> verdicts = new HashMap<>();
        for (StudyReport.GroupReport g : r.groups()) verdicts.put(g.id(), g.verdict());
        assertEquals(StudyReport.MATCHES, verdicts.get("c"), "random init diverged on one seed: it fails");
        assertEquals(StudyReport.PENDING, verdicts.get("d"), "distillation only is missing a seed");
        assertEquals(StudyReport.PENDING, verdicts.get("d-weighting"));
        assertEquals(7, r.done());
        assertEquals(runs.size() * 2, r.total());
        String md = r.markdown();
        assertTrue(md.contains("| random (`init-random`) | diverged |"), md);
        assertTrue(md.contains("| adversarial + distillation (the paper's default) (`paper`) | 21.00 ± 1.41 |"), md);
        assertTrue(md.contains("| **(c) The student's initialisation** | | | | | | | **matches (1 of 1 claim)** |"), md);
    }

    static RunResult done(String run, long seed, double fid) {
        Evaluation.Row row = new Evaluation.Row(1, "add", List.of(999), 0, 100, fid, 0.01, 0.001, 30, 0.8, List.of(0.8), 0.7, 0.6, 5);
        return new RunResult(run, seed, RunResult.DONE, null, List.of("distill"), List.of("eval"), 10, 2, 11.0, 0, row, 0.55);
    }

    static RunResult diverged(String run, long seed) {
        return new RunResult(run, seed, RunResult.DIVERGED, "training: loss_g is NaN at step 3", List.of("distill"), List.of("eval"), 10, 0, 10.0, 3, null, null);
    }
}
