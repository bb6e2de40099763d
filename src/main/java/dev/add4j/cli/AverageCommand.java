package dev.add4j.cli;

import dev.add4j.io.ModelAverage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code add4j average}: the mean of several model files' weights (a model soup). */
@Command(name = "average", mixinStandardHelpOptions = true,
        description = "Average the weights of two or more model files of one architecture and kind (e.g. fine-tunes "
                + "of one student: a model soup). The output records each input's sha256 and command.")
public final class AverageCommand implements Callable<Integer> {
    @Parameters(arity = "2..*", paramLabel = "FILE", description = "The model files (.safetensors made by add4j).") List<Path> inputs;
    @Option(names = "--weights", split = ",", paramLabel = "W", description = "One coefficient per file, summing to 1 "
            + "(default: all equal). A negative one extrapolates: --weights 1.5,-0.5 B A goes on from A past B.") List<Double> weights;
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The averaged model; must not exist (unless --force).") Path out;
    @Mixin Outputs.Force force;

    @Override
    public Integer call() {
        Outputs.file(out, force.force);
        if (weights == null) ModelAverage.write(inputs, out, Main.invocation());
        else ModelAverage.write(inputs, weights, out, Main.invocation());
        System.out.printf("wrote %s: the %s of %d models%n", out, weights == null ? "mean" : "weighted mean " + weights, inputs.size());
        return 0;
    }
}
