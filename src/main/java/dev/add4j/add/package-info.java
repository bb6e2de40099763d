/**
 * Adversarial Diffusion Distillation (Sauer et al. 2023; add-method.md): the student update with
 * L_adv + λ·L_distill and the discriminator update with the hinge loss and R1, one iteration in {@link dev.add4j.add.AddStep}.
 *
 * <table>
 * <caption>The paper's symbols in the code</caption>
 * <tr><th>paper</th><th>code</th><th>where</th></tr>
 * <tr><td>x0, c</td><td>{@code x0}, {@code text}</td><td>AddStep.step: the real batch and its captions</td></tr>
 * <tr><td>s, x_s = α_s x0 + σ_s ε</td><td>{@code s}, {@code xS}</td><td>AddStep.noisedInput, §4.2 (s from AddConfig.Paper.studentTimesteps)</td></tr>
 * <tr><td>x̂_θ(x_s, s, c)</td><td>{@code x0Hat}</td><td>AddStep.studentPass, §4.3 (the student's x0 estimate)</td></tr>
 * <tr><td>D_φ,k(F_k(·), c_text, c_img)</td><td>{@link dev.add4j.disc.Discriminator}, {@link dev.add4j.disc.DiscHead}</td><td>§5</td></tr>
 * <tr><td>L_adv^G = −E Σ_k D_k</td><td>{@link dev.add4j.add.AddLosses#adversarialG}</td><td>§4.4</td></tr>
 * <tr><td>t, ε', x̂_θ,t, x̂_ψ</td><td>{@link dev.add4j.add.TeacherTarget}</td><td>§4.5: re-noise the student output, the teacher denoises it</td></tr>
 * <tr><td>c(t): exp, SDS, NFSD</td><td>{@link dev.add4j.add.DistillWeighting}</td><td>§6</td></tr>
 * <tr><td>L_distill = E c(t)‖x̂_θ − sg(x̂_ψ)‖²</td><td>{@link dev.add4j.add.AddLosses#distillation}</td><td>§4.5</td></tr>
 * <tr><td>λ = 2.5, γ = 1e-5</td><td>AddConfig.Paper.lambda, AddConfig.Paper.r1</td><td>§4.6, §4.7</td></tr>
 * <tr><td>hinge L_D, R1 = Σ_k E‖∂D_k/∂f_k‖²</td><td>{@link dev.add4j.add.AddLosses#hingeD}, {@link dev.add4j.add.AddLosses#r1Penalty}</td><td>§4.7</td></tr>
 * </table>
 */
package dev.add4j.add;
