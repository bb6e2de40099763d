package dev.add4j.cli;

import dev.add4j.add.AddConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.junit.jupiter.api.Assertions.*;

class DistillPresetTest {
    private static AddConfig config(String... args) {
        DistillCommand cmd = new DistillCommand();
        new CommandLine(cmd).parseArgs(args);
        return cmd.config();
    }

    @Test void noFlagsGiveAdd4jsRecipeAndPresetPaperGivesExactlyThePapersSettings() {
        assertEquals(AddConfig.recipe(1000, 32, 0), config("--out", "x"));
        assertEquals(AddConfig.paperDefaults(1000, 32, 0), config("--out", "x", "--preset", "paper"));
        assertEquals(AddConfig.paperDefaults(200, 16, 7), config("--out", "x", "--preset", "paper", "--steps", "200", "--batch", "16", "--seed", "7"));
    }

    @Test void aFlagGivenOverridesItsPresetSettingAndNothingElse() {
        AddConfig c = config("--out", "x", "--lambda", "2.5", "--disc-features", "vit", "--reg-weight", "0");
        AddConfig r = AddConfig.recipe(1000, 32, 0);
        assertEquals(2.5, c.paper().lambda());
        assertEquals(AddConfig.DiscBackbone.VIT, c.extras().discBackbone());
        assertFalse(c.regression());
        assertEquals(r.paper().diffAugment(), c.paper().diffAugment());
        assertEquals(r.paper().cond(), c.paper().cond());
        assertEquals(r.optim().studentLr(), c.optim().studentLr());
        AddConfig p = config("--out", "x", "--preset", "paper", "--reg-weight", "10");
        assertEquals(10, p.extras().regWeight());
        assertTrue(p.warmup().pairs() > 0, "the regression loss gets pairs under the paper's preset too");
        assertEquals(AddConfig.paperDefaults(1000, 32, 0).paper().diffAugment(), p.paper().diffAugment());
    }
}
