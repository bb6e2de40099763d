package dev.add4j.features;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SchedulesTest {
    @Test void warmupRisesLinearlyToTheBaseThenTheCosineEndsAtTheFinalValue() {
        assertEquals(1e-4, Schedules.warmupCosine(0, 100, 10, 1e-3, 1e-6), 1e-12);
        assertEquals(1e-3, Schedules.warmupCosine(9, 100, 10, 1e-3, 1e-6), 1e-12);
        assertEquals(1e-3, Schedules.warmupCosine(10, 100, 10, 1e-3, 1e-6), 1e-12);
        assertEquals(1e-6, Schedules.warmupCosine(99, 100, 10, 1e-3, 1e-6), 1e-12);
        assertEquals((1e-3 + 1e-6) / 2, Schedules.warmupCosine(10 + 89 / 2, 100, 10, 1e-3, 1e-6), 2e-5);
    }

    @Test void teacherMomentumGoesFrom0996To1() {
        assertEquals(0.996, Schedules.cosine(0, 1000, 0.996, 1.0), 1e-12);
        assertEquals(1.0, Schedules.cosine(999, 1000, 0.996, 1.0), 1e-12);
        assertEquals(1.0, Schedules.cosine(0, 1, 0.996, 1.0), 1e-12);
    }

    @Test void rampReachesItsEndAndStays() {
        assertEquals(0.04, Schedules.linearThenConstant(0, 30, 0.04, 0.07), 1e-12);
        assertEquals(0.055, Schedules.linearThenConstant(15, 30, 0.04, 0.07), 1e-12);
        assertEquals(0.07, Schedules.linearThenConstant(30, 30, 0.04, 0.07), 1e-12);
        assertEquals(0.07, Schedules.linearThenConstant(5, 0, 0.04, 0.07), 1e-12);
    }
}
