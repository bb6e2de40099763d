package dev.add4j.diffusion;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class TimestepsTest {

    @Test void trailingFourStepsAre999_749_499_249() {
        assertEquals(List.of(999, 749, 499, 249), Timesteps.trailing(4));
    }

    @Test void trailingOneStepIsPureNoiseOnly() {
        assertEquals(List.of(999), Timesteps.trailing(1));
    }

    @Test void trailingAllStepsVisitsEveryTimestepFrom999DownTo0() {
        List<Integer> all = Timesteps.trailing(1000);
        assertEquals(1000, all.size());
        for (int i = 0; i < 1000; i++) assertEquals(999 - i, all.get(i));
    }

    @Test void trailingRejectsStepCountsOutside1To1000() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Timesteps.trailing(0)).getMessage().contains("got 0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Timesteps.trailing(1001)).getMessage().contains("got 1001"));
    }

    @Test void parseReadsACommaSeparatedDecreasingListWithSpaces() {
        assertEquals(List.of(999, 749, 499, 249), Timesteps.parse("999,749, 499 ,249", true));
        assertEquals(List.of(500, 10), Timesteps.parse("500,10", false));
    }

    @Test void parseRejectsNonIntegersOutOfRangeNonDecreasingAndNotStartingAt999WithTheInputInTheMessage() {
        var e = assertThrows(IllegalArgumentException.class, () -> Timesteps.parse("999,abc", true));
        assertTrue(e.getMessage().contains("'999,abc'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Timesteps.parse("", false));
        assertTrue(e.getMessage().contains("expected integers"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Timesteps.parse("1000,500", false));
        assertTrue(e.getMessage().contains("1000 is outside 0..999"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Timesteps.parse("999,-1", false));
        assertTrue(e.getMessage().contains("-1 is outside"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Timesteps.parse("999,500,500", true));
        assertTrue(e.getMessage().contains("must decrease"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Timesteps.parse("749,499", true));
        assertTrue(e.getMessage().contains("must start at 999"), e.getMessage());
    }
}
