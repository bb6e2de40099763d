package dev.add4j.cli;

import dev.add4j.Add4jException;
import dev.add4j.diffusion.Denoiser;
import dev.add4j.diffusion.ImageToImage;
import dev.add4j.diffusion.Noise;
import dev.add4j.diffusion.Precision;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.SamplingPlan;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.io.AtomicFiles;
import dev.add4j.io.Images;
import dev.add4j.io.InitImages;
import dev.add4j.io.ModelFile;
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
                + "(file,prompt,seed,steps). Image i uses seed SEED+i, so it does not depend on the batch. "
                + "With --init-image: image-to-image, N images per input image, strength and prompt (samples.csv adds "
                + "init_image,strength; grid.png: a row per prompt and input, the input first).")
public final class SampleCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "A .safetensors model made by add4j.") Path model;

    static final class Prompts {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "One prompt.") String prompt;
        @Option(names = "--prompts", paramLabel = "FILE", description = "A text file, one prompt a line.") Path file;
    }
    @ArgGroup(multiplicity = "1") Prompts prompts;

    @Option(names = "--n", description = "Images per prompt (default: 16; with --init-image 1 per input, strength and prompt).") Integer n;
    @Option(names = "--steps", defaultValue = "50", description = "Sampling steps, 1..1000 (default: ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--guidance", defaultValue = "0", description = "Classifier-free guidance scale; 0 or 1: none (default: ${DEFAULT-VALUE}).") double guidance;
    @Option(names = "--sampler", paramLabel = "ddim|euler-a|add",
            description = "Sampler (default: ddim for a teacher, add for a student).") String sampler;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the first image (default: ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--batch", defaultValue = "64", description = "Images per forward pass (default: ${DEFAULT-VALUE}).") int batch;
    @Option(names = "--init-image", paramLabel = "FILE|DIR",
            description = "Image-to-image from this PNG or JPEG, or from each such file of a directory (at most 1024x1024 "
                    + "pixels; converted to the model's channels and size, transparency over black).") Path initImage;
    @Option(names = "--strength", paramLabel = "S[,S...]",
            description = "With --init-image: how far to noise the input, 0 (keep it) to 1 (text-to-image); "
                    + "steps x strength must be >= 1; several values make one image each (default: 0.5).") String strength;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory: new or empty (unless --force).") Path out;
    @Mixin Outputs.Force force;
    @Mixin ImageCap cap;
    @Mixin PrecisionOption precision;
    @Mixin Main.DeviceOption deviceOption;

    /** One image to make: its prompt, and for image-to-image its input (index into the inputs) and strength. */
    private record Item(String prompt, int input, Double strength) {}

    @Override
    public Integer call() throws IOException {
        List<String> list = promptList();
        List<Double> strengths = strengths();
        List<Path> inputFiles = initImage == null ? List.of() : inputFiles(initImage);
        if (n == null) n = initImage == null ? 16 : 1;
        if (n < 1) throw new Add4jException("--n must be >= 1, got " + n);
        if (batch < 1) throw new Add4jException("--batch must be >= 1, got " + batch);
        long perPrompt = initImage == null ? n : (long) n * inputFiles.size() * strengths.size();
        cap.check(perPrompt * list.size(), "--n " + n + " x " + list.size() + (list.size() == 1 ? " prompt" : " prompts")
                + (initImage == null ? "" : " x " + inputFiles.size() + " input images x " + strengths.size() + " strengths"));
        ImageCap.checkGuidance(guidance);
        Samplers.Kind kind = sampler == null ? null : Samplers.Kind.parse(sampler);   // null: the model's own
        Precision dtype = precision.get();
        Outputs.directory(out, force.force);
        Device device = deviceOption.init();
        ModelFile.Loaded loaded = ModelFile.load(model, device);
        SamplingPlan plan = loaded.plan(steps, kind).with(dtype);
        for (double st : strengths) checkStrength(plan.timesteps(), st);          // a student's own timesteps may refuse more
        VPredictionModel net = loaded.model();
        List<java.awt.image.BufferedImage> pictures = new ArrayList<>();
        for (Path f : inputFiles) pictures.add(InitImages.read(f));                 // every input checked before any output
        List<Item> items = new ArrayList<>();                                       // image k has seed SEED + k
        for (String p : list)
            if (initImage == null) for (int i = 0; i < n; i++) items.add(new Item(p, -1, null));
            else for (int in = 0; in < inputFiles.size(); in++) for (double st : strengths) for (int i = 0; i < n; i++) items.add(new Item(p, in, st));
        Files.createDirectories(out);
        List<Tensor> all = new ArrayList<>();
        StringBuilder csv = new StringBuilder(initImage == null ? "file,prompt,seed,steps\n" : "file,prompt,seed,steps,init_image,strength\n");
        long t0 = System.nanoTime();
        try (TextEncoder text = new TextEncoder(); var keep = new PointerScope()) {
            TextCond empty = cond(text, List.of(""), device);
            Denoiser d = plan.denoiser(net, empty, guidance);
            List<Tensor> inits = new ArrayList<>();                                 // [1,C,S,S] each, in keep's scope
            for (var pic : pictures) inits.add(InitImages.toModel(pic, net.channels(), net.imageSize()));
            for (int from = 0; from < items.size(); ) {
                int b = 1;                                                          // one batch: the same strength, at most --batch
                while (b < batch && from + b < items.size() && java.util.Objects.equals(items.get(from + b).strength(), items.get(from).strength())) b++;
                List<Item> part = items.subList(from, from + b);
                try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                    TextCond c = cond(text, part.stream().map(Item::prompt).toList(), device);
                    Noise noise = new Noise(seed + from, b);
                    Tensor x0;
                    if (initImage == null) {
                        Tensor xT = noise.like(torch.empty(net.imageShape(b)));                        // [b,C,S,S]
                        x0 = plan.sample(d, net.schedule(), xT.to(device, torch.ScalarType.Float), c, noise).cpu();
                    } else {
                        Tensor init = torch.cat(new TensorVector(part.stream().map(it -> inits.get(it.input())).toArray(Tensor[]::new)), 0); // [b,C,S,S]
                        x0 = plan.imageToImage(d, net.schedule(), part.get(0).strength(), init.to(device, torch.ScalarType.Float), c, noise).cpu();
                    }
                    List<Path> files = new ArrayList<>();
                    for (int i = 0; i < b; i++) {
                        Item it = part.get(i);
                        String name = String.format("img-%04d.png", from + i);
                        files.add(out.resolve(name));
                        csv.append(name).append(',').append(csvField(it.prompt())).append(',').append(seed + from + i).append(',').append(steps);
                        if (it.strength() != null) csv.append(',').append(csvField(inputFiles.get(it.input()).toString())).append(',').append(it.strength());
                        csv.append('\n');
                    }
                    Images.writeEach(x0, files);
                    keep.attach(x0);
                    all.add(x0);
                }
                from += b;
            }
            Tensor samples = torch.cat(new TensorVector(all.toArray(new Tensor[0])), 0);   // [items,C,S,S]
            Images.writePng(out.resolve("grid.png"), initImage == null ? Images.grid(samples, Math.min(n, 16), 2)
                    : Images.grid(rowsWithInputs(samples, inits, list.size(), strengths.size() * n), 1 + strengths.size() * n, 2));
        }
        AtomicFiles.writeString(out.resolve("samples.csv"), csv.toString());
        double ms = (System.nanoTime() - t0) / 1e6 / items.size();
        System.out.printf("wrote %d images, grid.png and samples.csv to %s (%s, %d steps, %.1f ms/image)%n",
                items.size(), out, plan.samplerName(), steps, ms);
        return 0;
    }

    /** The grid of an image-to-image run: a row per prompt and input, the input (as the model sees it) first. */
    private static Tensor rowsWithInputs(Tensor samples, List<Tensor> inits, int prompts, int perRow) {
        List<Tensor> rows = new ArrayList<>();
        for (int p = 0, k = 0; p < prompts; p++)
            for (Tensor in : inits) {
                rows.add(in);
                rows.add(samples.narrow(0, k, perRow));
                k += perRow;
            }
        return torch.cat(new TensorVector(rows.toArray(new Tensor[0])), 0);            // [rows*(1+perRow),C,S,S]
    }

    /** --strength as a list; it needs --init-image, and each value must let a step run at --steps (trailing timesteps). */
    private List<Double> strengths() {
        if (strength != null && initImage == null) throw new Add4jException("--strength needs --init-image (image-to-image)");
        if (initImage == null) return List.of();
        List<Double> out = new ArrayList<>();
        for (String p : (strength == null ? "0.5" : strength).split(",")) {
            try {
                out.add(Double.parseDouble(p.strip()));
            } catch (NumberFormatException e) {
                throw new Add4jException("--strength: expected numbers in 0..1 like 0.5 or 0.25,0.5, got '" + strength + "'");
            }
        }
        for (double st : out) checkStrength(Timesteps.trailing(steps), st);       // before the model is loaded
        return out;
    }

    /** Refuses a strength at which no step of {@code ts} would run (ImageToImage's rule). */
    private void checkStrength(List<Integer> ts, double st) {
        try {
            ImageToImage.timesteps(ts, st);
        } catch (IllegalArgumentException e) {
            throw new Add4jException("--strength " + st + " at --steps " + steps + ": " + e.getMessage());
        }
    }

    /** The input images: the file, or the directory's PNG and JPEG files by name. */
    private static List<Path> inputFiles(Path p) throws IOException {
        if (Files.isRegularFile(p)) return List.of(p);
        if (!Files.isDirectory(p)) throw new Add4jException("--init-image " + p + ": no such file or directory");
        List<Path> files;
        try (var s = Files.list(p)) {
            files = s.filter(f -> Files.isRegularFile(f) && f.getFileName().toString().toLowerCase().matches(".*\\.(png|jpe?g)")).sorted().toList();
        }
        if (files.isEmpty()) throw new Add4jException("--init-image " + p + ": no .png, .jpg or .jpeg files in the directory");
        return files;
    }

    private List<String> promptList() throws IOException {
        if (prompts.prompt != null) return List.of(prompts.prompt);
        List<String> l = TextFiles.lines(prompts.file, "--prompts " + prompts.file).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (l.isEmpty()) throw new Add4jException("--prompts " + prompts.file + ": no prompts in the file");
        return l;
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
