package dev.add4j.features;

import dev.add4j.TorchRuntime;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class SupervisedPretrainStepTest {
    @BeforeAll static void init() { TorchRuntime.init(); DinoPretrainStepTest.init(); }

    @Test void supervisedLossFallsOnTheEmbeddedSubset() {
        FeatureTrainer trainer = new FeatureTrainer(DinoPretrainStepTest.tinyConfig(FeatureTrainConfig.Objective.SUPERVISED, 80, 3e-3));
        try (var step = trainer.newStep(DinoPretrainStepTest.CPU)) {
            assertInstanceOf(SupervisedPretrainStep.class, step);
            FeatureTrainer.Summary s = trainer.train(step, DinoPretrainStepTest.images, DinoPretrainStepTest.labels, line -> {}, 1000);
            assertTrue(s.lastLoss() < s.firstLoss() - 0.1, "loss " + s.firstLoss() + " -> " + s.lastLoss());
            assertTrue(Double.isNaN(s.last().entropy()) && s.last().accuracy() >= 0);
        }
    }
}
