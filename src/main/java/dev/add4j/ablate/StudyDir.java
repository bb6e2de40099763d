package dev.add4j.ablate;

import java.nio.file.Path;

/**
 * The files of a study in its directory:
 * <pre>
 * DIR/index.html, ablation.json, ablation.md   the report (rewritten after every finished run)
 * DIR/study.json                                the protocol; a resumed study must have the same
 * DIR/study.lock                                held while a study runs (the OS frees it when the process ends)
 * DIR/vit-untrained.safetensors                 the untrained feature ViT of row vit-untrained
 * DIR/captions.safetensors                      the training captions' MiniLM embeddings, shared by every run
 * DIR/rows/NAME-sSEED/run/                      the add4j distill run
 * DIR/rows/NAME-sSEED/eval/                     its add4j eval at 1 step (metrics.json, grid-steps-1.png)
 * DIR/rows/NAME-sSEED/console.log               both commands' output
 * DIR/rows/NAME-sSEED/result.json               written last: the run is done
 * </pre>
 */
public record StudyDir(Path root) {
    public static final String PAGE = "index.html", JSON = "ablation.json", MARKDOWN = "ablation.md", STUDY = "study.json", LOCK = "study.lock",
            UNTRAINED_VIT = "vit-untrained.safetensors", CAPTIONS = "captions.safetensors", ROWS = "rows", RUN = "run",
            EVAL = "eval", CONSOLE = "console.log", RESULT = "result.json", GRID = "grid-steps-1.png", LOG = "metrics.jsonl";

    /** "NAME-sSEED": a run's directory name under rows/. */
    public static String runName(String run, long seed) { return run + "-s" + seed; }

    public Path rowDir(String run, long seed) { return root.resolve(ROWS).resolve(runName(run, seed)); }
    public Path trainDir(String run, long seed) { return rowDir(run, seed).resolve(RUN); }
    public Path evalDir(String run, long seed) { return rowDir(run, seed).resolve(EVAL); }
    public Path result(String run, long seed) { return rowDir(run, seed).resolve(RESULT); }
    public Path console(String run, long seed) { return rowDir(run, seed).resolve(CONSOLE); }
    public Path trainingLog(String run, long seed) { return trainDir(run, seed).resolve(LOG); }

    /** The 1-step grid of a run, as a link relative to the page. */
    public static String gridLink(String run, long seed) { return ROWS + "/" + runName(run, seed) + "/" + EVAL + "/" + GRID; }
    /** A run's console output, as a link relative to the page. */
    public static String consoleLink(String run, long seed) { return ROWS + "/" + runName(run, seed) + "/" + CONSOLE; }
}
