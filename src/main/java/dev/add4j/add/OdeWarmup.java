package dev.add4j.add;

import dev.add4j.Add4jException;
import dev.add4j.data.CaptionedImages;
import dev.add4j.diffusion.Samplers;
import dev.add4j.diffusion.TextCond;
import dev.add4j.diffusion.Timesteps;
import dev.add4j.diffusion.VPredictionModel;
import dev.add4j.dist.Group;
import dev.add4j.dist.Shard;
import dev.add4j.io.Json;
import dev.add4j.io.SafeTensors;
import dev.add4j.nn.Ops;
import dev.add4j.train.Optimizers;
import dev.add4j.train.TrainLoop;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Adam;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The ODE warm-up [choice, not in the paper]: before ADD, the student regresses onto the frozen teacher's
 * deterministic sampler, z → DDIM_k(z | prompt) (knowledge distillation, Luhman &amp; Luhman 2021).
 * <p>Why: our teacher has zero terminal SNR, so its x0 estimate at t = 999 is the prompt's mean image whatever
 * the noise. A student initialised from it starts by ignoring its noise, and ADD alone did not teach it to use
 * it (one image per prompt, recall ~0). The pairs give the 1-step student a noise-dependent start.
 * <p>Each iteration draws s from the student timesteps like ADD does; at 999 the input is the pair's own noise z,
 * below it the teacher's DDIM state x_s on the way from z to the image. The loss is the mean squared error to the
 * pair's image.
 */
public final class OdeWarmup implements AutoCloseable {
    /** The run directory's file that keeps the pairs (fp32), so that {@code --resume} does not make them again. */
    public static final String CACHE = "ode-pairs.safetensors";
    private static final String CACHE_KEY = "add4j.ode_pairs_key";
    // chunks of one batch each: the noise z [B,1,32,32], the image [B,1,32,32] and the DDIM states at the student
    // timesteps [S,B,1,32,32] (states[0] = z)
    private final List<Tensor> noise = new ArrayList<>(), images = new ArrayList<>(), states = new ArrayList<>();
    private final CaptionedImages data;
    private final AddConfig cfg;
    private final Tensor studentTimesteps;
    private final long pairSeed;
    private final Path cache;                     // where the pairs are kept for a resume
    private final Group group;                    // the ranks that share the pairs' making (one in most runs)

    /**
     * Makes {@code cfg.warmup().pairs()} pairs (rounded down to whole batches) with the teacher's DDIM sampler,
     * without guidance, on captions drawn like the training batches. Deterministic in the config's seed.
     * The pairs are read from {@code cache} when it holds those of the same settings and teacher, and written there
     * after they are made (a failed write only costs the next resume the time to make them again).
     * <p>On several ranks (the thread's {@link Group#current()}) every rank ends with all the pairs one process makes:
     * each samples its rows of every chunk and the chunk is gathered ({@link Shard#gather}); rank 0 alone reads and
     * writes the file, decides whether it holds the pairs, and broadcasts them (another node may not see the file).
     * @param cache the pairs' file in the run directory
     */
    public OdeWarmup(VPredictionModel teacher, CaptionedImages data, AddConfig cfg, Path cache, PrintStream console) {
        this.data = data;
        this.cache = cache;
        this.cfg = cfg;
        this.pairSeed = cfg.seed() + 11;
        this.group = Group.current();
        long[] ts = cfg.paper().studentTimesteps().stream().mapToLong(Integer::longValue).toArray();
        this.studentTimesteps = Ops.fromLongs(ts, ts.length).retainReference();
        int chunks = cfg.warmup().pairs() / cfg.batch();
        List<Integer> ddim = Timesteps.trailing(cfg.warmup().teacherSteps());
        PrintStream out = group.isMain() ? console : new PrintStream(OutputStream.nullOutputStream());  // rank 0 speaks
        String key = group.isMain() ? cacheKey(teacher, chunks) : null;
        // every rank follows rank 0's decision, so none waits in a broadcast that another skips
        if (group.fromRankZero(group.isMain() && loaded(key, chunks, out))) {
            if (!group.isMain()) receive(teacher, chunks);
            else if (group.size() > 1) send();
            return;
        }
        Shard shard = Shard.of(group);
        long t0 = System.nanoTime();
        out.printf("ode warm-up: %d pairs with the teacher's %d-step DDIM%s%n", chunks * cfg.batch(), ddim.size(),
                group.size() > 1 ? ", " + cfg.batch() / group.size() + " of each chunk of " + cfg.batch() + " on each of " + group.size() + " ranks" : "");
        for (int k = 0; k < chunks; k++) {
            try (var scope = new PointerScope(); var g = new NoGradGuard()) {
                TextCond c = cond(k, shard);                                                    // this rank's rows
                Generator gen = torch.make_generator_cpu(pairSeed * 1_000_003L + k);
                Tensor z = torch.randn(teacher.imageShape(cfg.batch()), new GeneratorOptional(gen)).to(data.device(), torch.ScalarType.Float); // [B,C,H,W]
                List<Tensor> kept = new ArrayList<>();
                Tensor x = Samplers.ddim(teacher, teacher.schedule(), ddim, shard.rows(z), c, (t, xt) -> {
                    if (cfg.paper().studentTimesteps().contains(t)) kept.add(xt); // in the student's (descending) order
                });
                Tensor st = torch.stack(new TensorVector(kept.toArray(new Tensor[0])));          // [S,B/W,C,H,W]
                noise.add(z.retainReference());
                images.add(shard.gather(x).retainReference());                                  // [B,C,H,W]
                states.add(shard.gather(st.transpose(0, 1)).transpose(0, 1).contiguous().retainReference()); // [S,B,C,H,W]
            }
            if ((k + 1) % Math.max(1, chunks / 10) == 0 || k + 1 == chunks) {
                double el = (System.nanoTime() - t0) / 1e9;
                out.printf("ode warm-up: pairs %d/%d | eta %s%n", (k + 1) * cfg.batch(), chunks * cfg.batch(),
                        TrainLoop.duration(el / (k + 1) * (chunks - k - 1)));
            }
        }
        if (group.isMain()) save(key, out);
    }

    /** Rank 0's pairs, read from the file, to the other ranks: one broadcast per chunk. */
    private void send() {
        for (int k = 0; k < noise.size(); k++) {
            try (var scope = new PointerScope()) {
                group.broadcast(torch.cat(new TensorVector(noise.get(k).reshape(-1), images.get(k).reshape(-1), states.get(k).reshape(-1))), 0);
            }
        }
    }

    /** The pairs rank 0 read from the file ({@link #send}), into zero-filled chunks of their shapes. */
    private void receive(VPredictionModel teacher, int chunks) {
        long[] one = teacher.imageShape(cfg.batch()), all = new long[one.length + 1];
        all[0] = studentTimesteps.size(0);
        System.arraycopy(one, 0, all, 1, one.length);
        long n = cfg.batch() * one[1] * one[2] * one[3];
        for (int k = 0; k < chunks; k++) {
            try (var scope = new PointerScope()) {
                Tensor flat = torch.zeros((2 + all[0]) * n).to(data.device(), torch.ScalarType.Float);   // [(2+S)·B·C·H·W]
                group.broadcast(flat, 0);
                noise.add(flat.narrow(0, 0, n).view(one).clone().retainReference());
                images.add(flat.narrow(0, n, n).view(one).clone().retainReference());
                states.add(flat.narrow(0, 2 * n, all[0] * n).view(all).clone().retainReference());
            }
        }
    }

    /** What the pairs depend on: the settings that make them, the data's size and the teacher's weights (their sum). */
    private String cacheKey(VPredictionModel teacher, int chunks) {
        double sum = 0;
        try (var scope = new PointerScope(); var g = new NoGradGuard()) {
            for (Tensor p : teacher.net().namedParameters().values()) sum += Ops.f(p.to(torch.ScalarType.Double).sum());
        }
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("seed", pairSeed);
        k.put("batch", cfg.batch());
        k.put("chunks", chunks);
        k.put("teacherSteps", cfg.warmup().teacherSteps());
        k.put("inputs", "TRAJECTORY");                    // the pairs' inputs once had a choice; a file of then reads on
        k.put("studentTimesteps", cfg.paper().studentTimesteps());
        k.put("images", data.size());
        k.put("teacherSum", String.format(Locale.ROOT, "%.12e", sum));
        return Json.compact(k);
    }

    /** Reads the pairs from {@code cache} if it holds exactly these; says why not otherwise. */
    private boolean loaded(String key, int chunks, PrintStream console) {
        if (!Files.exists(cache)) return false;
        try (var scope = new PointerScope()) {
            SafeTensors.Contents c = SafeTensors.read(cache);
            if (!key.equals(c.metadata().get(CACHE_KEY))) {
                console.printf("ode warm-up: %s holds pairs of other settings; making them again%n", cache);
                return false;
            }
            for (int k = 0; k < chunks; k++) {
                Tensor z = c.tensors().get("noise." + k), x = c.tensors().get("images." + k), st = c.tensors().get("states." + k);
                if (z == null || x == null || st == null) throw new Add4jException(cache + ": pairs missing");
                noise.add(z.to(data.device(), torch.ScalarType.Float).retainReference());
                images.add(x.to(data.device(), torch.ScalarType.Float).retainReference());
                states.add(st.to(data.device(), torch.ScalarType.Float).retainReference());
            }
        } catch (Add4jException e) {
            console.printf("ode warm-up: ignoring %s (%s); making the pairs again%n", cache, e.getMessage());
            release();
            return false;
        }
        console.printf("ode warm-up: %d pairs read from %s%n", chunks * (long) cfg.batch(), cache);
        return true;
    }

    private void save(String key, PrintStream console) {
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (int k = 0; k < noise.size(); k++) {
            all.put("noise." + k, noise.get(k));
            all.put("images." + k, images.get(k));
            all.put("states." + k, states.get(k));
        }
        try {
            SafeTensors.write(cache, all, Map.of(CACHE_KEY, key), SafeTensors.Dtype.F32);
        } catch (Add4jException e) {
            console.printf("ode warm-up: pairs not kept (%s)%n", e.getMessage());
        }
    }

    /** One regression step of the student on the pairs of chunk {@code step mod chunks}. */
    public Map<String, Double> step(VPredictionModel student, Adam opt, TensorVector params, long step) {
        try (var scope = new PointerScope()) {
            Tensor l = loss(student, step);
            if (!Optimizers.stepIfFinite(opt, l, params)) return Map.of("skip_g", 1.0);
            return Map.of("loss_ode", Ops.f(l), "skip_g", 0.0);
        }
    }

    /**
     * The regression loss on the pairs of chunk {@code step mod chunks}, with its graph: the mean squared error of the
     * student's x0 to the pair's image. Also ADD's regression term ({@link AddConfig#regression}). Randomness from
     * (seed, step) only; tensors in the caller's scope. In a step of several ranks, the mean over this rank's rows
     * of the chunk ({@link Shard#current()}), their timesteps drawn for the whole chunk.
     */
    public Tensor loss(VPredictionModel student, long step) {
        int k = (int) (step % noise.size());
        Shard shard = Shard.current();
        Tensor x = shard.rows(images.get(k));                                                           // [n,C,H,W]
        Generator gen = torch.make_generator_cpu(cfg.seed() * 1_000_003L + step);
        long n = x.size(0), b = images.get(k).size(0), from = shard.rank() * n;
        Tensor j = shard.randint(studentTimesteps.size(0), new long[]{n}, gen);                         // [n] timestep indices
        Tensor s = torch.index_select(studentTimesteps, 0, j).to(x.device(), torch.ScalarType.Long);    // [n]
        Tensor rows = j.mul(Ops.s(b)).add(torch.arange(new Scalar(from), new Scalar(from + n), Ops.longOn(new Device("cpu")))); // states[j_i, i], i this rank's
        Tensor xS = states.get(k).flatten(0, 1).index_select(0, rows.to(x.device(), torch.ScalarType.Long)); // [n,C,H,W]
        Tensor x0 = student.x0(xS, s, cond(k, shard));
        return torch.mse_loss(x0, x);
    }

    /** This rank's rows of the captions of chunk k: the same on every call. */
    private TextCond cond(int k, Shard shard) { return data.batch(pairSeed, k, cfg.batch(), 0.0).rows(shard).cond(); }

    private void release() {
        noise.forEach(Tensor::releaseReference);
        images.forEach(Tensor::releaseReference);
        states.forEach(Tensor::releaseReference);
        noise.clear();
        images.clear();
        states.clear();
    }

    @Override public void close() {
        release();
        studentTimesteps.releaseReference();
    }

    /** Closes the warm-up after its last step and deletes its pairs' file: no resume will need them any more. */
    public void finish(PrintStream console) {
        close();
        if (!group.isMain()) return;                                  // rank 0's file
        try {
            Files.deleteIfExists(cache);
        } catch (IOException e) {
            console.printf("ode warm-up: could not delete %s (%s)%n", cache, e.getMessage());
        }
    }
}
