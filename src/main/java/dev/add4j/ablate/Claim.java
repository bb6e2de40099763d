package dev.add4j.ablate;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * One thing the paper's Table 1 says about the rows of a group ("a randomly initialised student fails"), as a test
 * that runs on any set of numbers: the paper's own, or a study's. The thresholds are fixed here, before any run, and
 * are the same for every group: {@link #FAIL_RATIO} and {@link #CLOSE}.
 */
public sealed interface Claim {
    /**
     * A row "fails" when its FID is at least this many times the reference row's. [choice] The paper's two failures
     * are 14 and 15 times its default (293.6 and 315.6 against 20.6); its other rows are all within 1.17 times.
     */
    double FAIL_RATIO = 3;
    /**
     * Two rows are "close" when their FIDs differ by at most this fraction of the reference's. [choice] The paper's
     * "close" pairs differ by 1-1.5 % (adversarial only 20.8 against 20.6; 4 teacher steps 20.3), finer than a short
     * study's seed-to-seed spread; 10 % was fixed before any study ran, and is the same for every group.
     */
    double CLOSE = 0.10;

    /** A metric of the table, and which way is better. */
    enum Metric {
        FID(true), CLIP_SCORE(false);
        final boolean lowerIsBetter;
        Metric(boolean lowerIsBetter) { this.lowerIsBetter = lowerIsBetter; }
        String label() { return this == FID ? "FID" : "CLIP score"; }
    }

    /**
     * A run's mean of a metric: null while it is not measured; for FID, +Infinity when the run diverged (a run whose
     * loss became NaN failed, whatever its last images were).
     */
    @FunctionalInterface interface Values { Double get(String run, Metric m); }

    /** The claim in words, with the paper's numbers. */
    String text();

    /** Whether it holds on these numbers; null while one of them is missing. */
    Boolean holds(Values v);

    /** Whether it holds on the paper's own numbers ({@code paper}: a run's entry in Table 1, null where it has none). */
    Boolean holdsInPaper(Function<String, Table1.Entry> paper);

    /** {@code run} is the best of {@code among} (itself included); the paper also ranks {@code paperOnly}, not run here. */
    record Best(Metric metric, String run, List<String> among, List<Table1.Entry> paperOnly, String text) implements Claim {
        public Best { among = List.copyOf(among); paperOnly = List.copyOf(paperOnly); }

        /** False as soon as a measured row is as good or better; null while that is not known and a row is missing. */
        @Override public Boolean holds(Values v) {
            Double mine = v.get(run, metric);
            if (mine == null) return null;
            boolean missing = false;
            for (String other : among) {
                if (other.equals(run)) continue;
                Double d = v.get(other, metric);
                if (d == null) missing = true;
                else if (!better(metric, mine, d)) return false;
            }
            return missing ? null : true;
        }

        @Override public Boolean holdsInPaper(Function<String, Table1.Entry> paper) {
            Double mine = value(paper.apply(run), metric);
            if (mine == null) return null;
            List<Double> others = new ArrayList<>();
            for (String other : among) if (!other.equals(run)) others.add(value(paper.apply(other), metric));
            for (Table1.Entry e : paperOnly) others.add(value(e, metric));
            for (Double d : others) if (d != null && !better(metric, mine, d)) return false;
            return true;
        }
    }

    /** {@code run} fails: its FID is at least {@link #FAIL_RATIO} times {@code reference}'s. */
    record Fails(String run, String reference, String text) implements Claim {
        @Override public Boolean holds(Values v) {
            return fails(v.get(run, Metric.FID), v.get(reference, Metric.FID));
        }

        @Override public Boolean holdsInPaper(Function<String, Table1.Entry> paper) {
            return fails(value(paper.apply(run), Metric.FID), value(paper.apply(reference), Metric.FID));
        }

        private static Boolean fails(Double fid, Double ref) {
            if (fid == null || ref == null) return null;
            return fid >= FAIL_RATIO * ref;
        }
    }

    /** {@code run}'s FID is within {@link #CLOSE} of {@code reference}'s (and neither diverged). */
    record Close(String run, String reference, String text) implements Claim {
        @Override public Boolean holds(Values v) {
            return close(v.get(run, Metric.FID), v.get(reference, Metric.FID));
        }

        @Override public Boolean holdsInPaper(Function<String, Table1.Entry> paper) {
            return close(value(paper.apply(run), Metric.FID), value(paper.apply(reference), Metric.FID));
        }

        private static Boolean close(Double fid, Double ref) {
            if (fid == null || ref == null) return null;
            return Double.isFinite(fid) && Double.isFinite(ref) && Math.abs(fid - ref) <= CLOSE * ref;
        }
    }

    /** Each of {@code runs} is better than {@code reference} on {@code metric}. */
    record Better(Metric metric, List<String> runs, String reference, String text) implements Claim {
        public Better { runs = List.copyOf(runs); }

        @Override public Boolean holds(Values v) {
            return better(v.get(reference, metric), runs.stream().map(r -> v.get(r, metric)).toList());
        }

        @Override public Boolean holdsInPaper(Function<String, Table1.Entry> paper) {
            return better(value(paper.apply(reference), metric), runs.stream().map(r -> value(paper.apply(r), metric)).toList());
        }

        private Boolean better(Double ref, List<Double> values) {
            if (ref == null || values.contains(null)) return null;
            for (double d : values) if (!Claim.better(metric, d, ref)) return false;
            return true;
        }
    }

    /** Strictly better; a diverged run (FID +Infinity, or a CLIP score of NaN) is never better. */
    private static boolean better(Metric m, double a, double b) {
        if (Double.isNaN(a)) return false;
        return m.lowerIsBetter ? a < b : a > b;
    }

    private static Double value(Table1.Entry e, Metric m) {
        if (e == null) return null;
        return m == Metric.FID ? Double.valueOf(e.fid()) : e.clip();
    }

    /** "1.23", or "diverged" for +Infinity. */
    static String fmt(double v) {
        return Double.isInfinite(v) ? "diverged" : String.format(Locale.ROOT, "%.2f", v);
    }
}
