package dev.add4j.features;

import dev.add4j.Add4jException;
import dev.add4j.io.Json;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class FeatureTrainConfigTest {
    @Test void configJsonRoundTripIsEqual() {
        FeatureTrainConfig d = FeatureTrainConfig.defaults(FeatureTrainConfig.Objective.DINO, Vit.Config.fmnist(), 4000, 256, 0);
        assertEquals(d, Json.read(Json.write(d), FeatureTrainConfig.class));
        FeatureTrainConfig s = FeatureTrainConfig.defaults(FeatureTrainConfig.Objective.SUPERVISED, Vit.Config.tiny(), 10, 8, 3)
                .withLr(1e-3).withDino(DinoPretrainStep.Config.tiny().withLocalViews(0));
        assertEquals(s, Json.read(Json.write(s), FeatureTrainConfig.class));
        assertEquals(Vit.Config.fmnist(), Json.read(Json.write(Vit.Config.fmnist()), Vit.Config.class));
    }

    @Test void dinoDefaultsFollowThePaper() {
        FeatureTrainConfig d = FeatureTrainConfig.defaults(FeatureTrainConfig.Objective.DINO, Vit.Config.fmnist(), 4000, 256, 0);
        assertEquals(5e-4, d.lr(), 1e-12);                       // 5e-4 x 256 / 256
        assertEquals(0.04, d.weightDecay());
        assertEquals(0.1, d.dino().studentTemp());
        assertEquals(0.04, d.dino().teacherTemp());
        assertEquals(0.9, d.dino().centerMomentum());
        assertEquals(0.996, d.dino().teacherMomentum());
    }

    @Test void objectiveParsesTheCommandLineSpellingAndNamesTheBadValue() {
        assertEquals(FeatureTrainConfig.Objective.SUPERVISED, FeatureTrainConfig.Objective.parse("Supervised"));
        assertEquals("dino", FeatureTrainConfig.Objective.DINO.cliName());
        var e = assertThrows(Add4jException.class, () -> FeatureTrainConfig.Objective.parse("simclr"));
        assertEquals("--objective: expected dino or supervised, got 'simclr'", e.getMessage());
    }

    @Test void invalidValuesAreRejectedWithTheFieldName() {
        var e = assertThrows(IllegalArgumentException.class, () -> new Vit.Config(32, 1, 5, 64, 4, 2, 4));
        assertTrue(e.getMessage().contains("patchSize"), e.getMessage());
        var s = assertThrows(IllegalArgumentException.class,
                () -> FeatureTrainConfig.defaults(FeatureTrainConfig.Objective.DINO, Vit.Config.tiny(), 0, 8, 0));
        assertTrue(s.getMessage().startsWith("steps"), s.getMessage());
    }
}
