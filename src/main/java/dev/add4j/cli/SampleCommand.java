package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.Guidance;
import dev.add4j.diffusion.ModelFile;
import dev.add4j.diffusion.Noise;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Images;
import dev.add4j.io.TextFiles;
import dev.add4j.text.TextEncoder;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code add4j sample}: images from a teacher or a student. */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = "Generate images from a model (teacher or student): one PNG per image, grid.png and samples.csv "
                + "(file,prompt,seed,steps). Image i uses seed SEED+i, so it does not depend on the batch.")
public final class SampleCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "A .safetensors model made by add4j.") Path model;

    static final class Prompts {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "One prompt.") String prompt;
        @Option(names = "--prompts", paramLabel = "FILE", description = "A text file, one prompt a line.") Path file;
    }
    @ArgGroup(multiplicity = "1") Prompts prompts;

    @Option(names = "--n", defaultValue = "16", description = "Images per prompt (default: ${DEFAULT-VALUE}).") int n;
    @Option(names = "--steps", defaultValue = "50", description = "Sampling steps, 1..1000 (default: ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--guidance", defaultValue = "0", description = "Classifier-free guidance scale; 0 or 1: none (default: ${DEFAULT-VALUE}).") double guidance;
    @Option(names = "--sampler", paramLabel = "ddim|euler-a|add",
            description = "Sampler (default: ddim for a teacher, add for a student).") String sampler;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the first image (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--batch", defaultValue = "64", description = "Images per forward pass (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory: new or empty (unless --force).") Path out;
    @Mixin Outputs.Force force;
    @Mixin ImageCap cap;
    @Mixin Main.DeviceOption deviceOption;

    @Override
    public Integer call() throws IOException {
        List<String> list = promptList();
        if (n < 1) throw new Add4jException("--n must be >= 1, got " + n);
        if (batch < 1) throw new Add4jException("--batch must be >= 1, got " + batch);
        cap.check((long) n * list.size(), "--n " + n + " x " + list.size() + (list.size() == 1 ? " prompt" : " prompts"));
        ImageCap.checkGuidance(guidance);
        Outputs.directory(out, force.force);
        Device device = deviceOption.init();
        ModelFile.Loaded loaded = ModelFile.load(model, device);
        Samplers.Kind kind = kindOf(sampler, loaded.isStudent());
        List<Integer> ts = Timesteps.trailing(steps);
        Files.createDirectories(out);
        List<Tensor> all = new ArrayList<>();
        StringBuilder csv = new StringBuilder("file,prompt,seed,steps\n");
        long t0 = System.nanoTime();
        try (TextEncoder text = new TextEncoder(); var keep = new PointerScope()) {
            TextCond empty = cond(text, List.of(""), device);
            Denoiser d = Guidance.classifierFree(loaded.model(), empty, guidance);
            List<String> perImage = new ArrayList<>();
            for (String p : list) for (int i = 0; i < n; i++) perImage.add(p);
            for (int from = 0; from < perImage.size(); from += batch) {
                int b = Math.min(batch, perImage.size() - from);
                try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                    TextCond c = cond(text, perImage.subList(from, from + b), device);
                    Noise noise = new Noise(seed + from, b);
                    Tensor xT = noise.like(torch.empty(b, 1, 32, 32));
                    Tensor x0 = Samplers.sample(kind, d, loaded.model().schedule(), ts, xT.to(device, torch.ScalarType.Float), c, noise).cpu();
                    List<Path> files = new ArrayList<>();
                    for (int i = 0; i < b; i++) {
                        String name = String.format("img-%04d.png", from + i);
                        files.add(out.resolve(name));
                        csv.append(name).append(',').append(csvField(perImage.get(from + i))).append(',').append(seed + from + i).append(',').append(steps).append('\n');
                    }
                    Images.writeEach(x0, files);
                    keep.attach(x0);
                    all.add(x0);
                }
            }
            Tensor grid = torch.cat(new TensorVector(all.toArray(new Tensor[0])), 0);
            Images.writePng(out.resolve("grid.png"), Images.grid(grid, Math.min(n, 16), 2));
        }
        AtomicFiles.writeString(out.resolve("samples.csv"), csv.toString());
        double ms = (System.nanoTime() - t0) / 1e6 / (list.size() * (double) n);
        System.out.printf("wrote %d images, grid.png and samples.csv to %s (%s, %d steps, %.1f ms/image)%n",
                list.size() * n, out, kind.name().toLowerCase(), steps, ms);
        return 0;
    }

    private List<String> promptList() throws IOException {
        if (prompts.prompt != null) return List.of(prompts.prompt);
        List<String> l = TextFiles.lines(prompts.file, "--prompts " + prompts.file).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (l.isEmpty()) throw new Add4jException("--prompts " + prompts.file + ": no prompts in the file");
        return l;
    }

    static Samplers.Kind kindOf(String name, boolean student) {
        if (name == null) return student ? Samplers.Kind.ADD : Samplers.Kind.DDIM;
        return switch (name) {
            case "ddim" -> Samplers.Kind.DDIM;
            case "euler-a" -> Samplers.Kind.EULER_ANCESTRAL;
            case "add" -> Samplers.Kind.ADD;
            default -> throw new Add4jException("--sampler: expected ddim, euler-a or add, got '" + name + "'");
        };
    }

    static TextCond cond(TextEncoder text, List<String> prompts, Device device) {
        TextEncoder.Embedding e = text.encode(prompts);
        return new TextCond(e.tokens(), e.mask(), e.pooled()).to(device);
    }

    static String csvField(String s) {
        // a spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)): a quote makes it text
        if (!s.isEmpty() && "=+-@\t\r".indexOf(s.charAt(0)) >= 0) s = "'" + s;
        return s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }
}
