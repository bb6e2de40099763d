package dev.add4j.diffusion;

import dev.add4j.Add4jException;
import dev.add4j.io.ModelFile;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The one sampling rule: which sampler and timesteps a model file gets at a step count. */
class SamplingPlanTest {
    static ModelFile.Loaded withMetadata(String kind, String timesteps) {
        return timesteps == null ? new ModelFile.Loaded(null, Map.of(ModelFile.KIND, kind))
                : new ModelFile.Loaded(null, Map.of(ModelFile.KIND, kind, ModelFile.STUDENT_TIMESTEPS, timesteps));
    }

    @Test void teachersUseDdimAndStudentsTheirOwnTimestepsWhenTheCountMatches() {
        assertEquals(new SamplingPlan(Samplers.Kind.DDIM, Timesteps.trailing(4)), withMetadata("teacher", null).plan(4));
        ModelFile.Loaded student = withMetadata("student", "999,800,500,200");
        assertEquals(new SamplingPlan(Samplers.Kind.ADD, List.of(999, 800, 500, 200)), student.plan(4));
        assertEquals(new SamplingPlan(Samplers.Kind.ADD, List.of(999, 499)), student.plan(2), "other counts: trailing");
        assertEquals(new SamplingPlan(Samplers.Kind.ADD, List.of(999)), withMetadata("student", null).plan(1));
        assertEquals(new SamplingPlan(Samplers.Kind.DDIM, List.of(999, 800, 500, 200)), student.plan(4, Samplers.Kind.DDIM),
                "another sampler keeps the student's timesteps");
        assertEquals(new SamplingPlan(Samplers.Kind.EULER_ANCESTRAL, Timesteps.trailing(4)),
                withMetadata("teacher", null).plan(4, Samplers.Kind.EULER_ANCESTRAL));
        assertEquals(student.plan(4), SamplingPlan.student(List.of(999, 800, 500, 200), 4, null), "a config's timesteps: the same rule");
        assertEquals(Precision.BF16, student.plan(4).with(Precision.BF16).precision());
        assertEquals(Precision.FP32, student.plan(4).precision());
    }

    @Test void samplerNamesParseAndPrintTheSameWayAndABadOneIsOneLine() {
        for (Samplers.Kind k : Samplers.Kind.values()) assertEquals(k, Samplers.Kind.parse(k.cliName()));
        assertEquals(List.of("ddim", "euler-a", "add"), List.of(Samplers.Kind.values()).stream().map(Samplers.Kind::cliName).toList());
        assertEquals("euler-a", new SamplingPlan(Samplers.Kind.EULER_ANCESTRAL, List.of(999)).samplerName());
        assertEquals("--sampler: expected ddim, euler-a or add, got 'euler_a'",
                assertThrows(Add4jException.class, () -> Samplers.Kind.parse("euler_a")).getMessage());
    }
}
