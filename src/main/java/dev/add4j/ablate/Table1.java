package dev.add4j.ablate;

import java.util.List;

/**
 * The ADD paper's Table 1: FID and CLIP score of the student at one step, per ablation. These are the paper's numbers
 * (SD 2.1 at 512 px, 5k COCO-2017 prompts), typed in once from {@link #SOURCE}; add4j's own numbers are always
 * computed. A CLIP score is null where add-method.md does not give it.
 */
public final class Table1 {
    private Table1() {}

    public static final String SOURCE = "Sauer et al. 2023, \"Adversarial Diffusion Distillation\" (arXiv 2311.17042), "
            + "Table 1, as copied in shared/docs/add-method.md section 8";

    /** One row of the paper's table: its name there, FID and CLIP score (null: not given). */
    public record Entry(String label, double fid, Double clip) {}

    // (a) the discriminator's feature network
    public static final Entry DINOV2_VIT_S = new Entry("DINOv2 ViT-S", 20.6, 0.319);
    public static final Entry DINOV1_VIT_S = new Entry("DINOv1 ViT-S", 21.5, 0.312);
    public static final Entry DINOV2_VIT_L = new Entry("DINOv2 ViT-L", 24.0, 0.302);
    public static final Entry CLIP_VIT_L = new Entry("CLIP ViT-L", 23.3, 0.308);
    // (b) the discriminator's condition
    public static final Entry COND_NONE = new Entry("no condition", 21.2, 0.302);
    public static final Entry COND_TEXT = new Entry("text", 21.2, 0.307);
    public static final Entry COND_IMG = new Entry("image", 21.1, 0.316);
    public static final Entry COND_BOTH = new Entry("text + image", 20.6, 0.319);
    // (c) the student's initialisation; the pretrained student is the table's default row (20.6 / 0.319)
    public static final Entry INIT_PRETRAINED = new Entry("pretrained (the default)", 20.6, 0.319);
    public static final Entry INIT_RANDOM = new Entry("random init", 293.6, 0.065);
    // (d) the losses, and the distillation loss's weighting c(t)
    public static final Entry ADV_ONLY = new Entry("adversarial only", 20.8, 0.315);
    public static final Entry DISTILL_ONLY = new Entry("distillation only", 315.6, 0.076);
    public static final Entry BOTH = new Entry("both (the default)", 20.6, 0.319);
    public static final Entry EXP = new Entry("exp", 20.6, 0.319);
    public static final Entry SDS = new Entry("SDS", 22.3, 0.325);
    public static final Entry NFSD = new Entry("NFSD", 21.8, 0.327);
    // (e) student and teacher networks: one teacher here, so no counterpart
    public static final List<Entry> STUDENT_TEACHER = List.of(new Entry("SD2.1 student / SD2.1 teacher", 20.6, 0.319),
            new Entry("SD2.1 student / SDXL teacher", 21.3, 0.321));
    // (f) consecutive teacher steps for the distillation target (CLIP scores not copied in add-method.md)
    public static final Entry TEACHER_1 = new Entry("1 teacher step (the default)", 20.6, 0.319);
    public static final Entry TEACHER_2 = new Entry("2 teacher steps", 20.8, null);
    public static final Entry TEACHER_4 = new Entry("4 teacher steps", 20.3, null);
}
