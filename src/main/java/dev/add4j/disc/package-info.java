/**
 * ADD's discriminator (add-method.md §5), in the order an image goes through it: {@link dev.add4j.disc.DiffAugment},
 * the frozen backbone's taps (the feature ViT, or {@link dev.add4j.disc.TeacherFeatures}), then the trainable
 * {@link dev.add4j.disc.ProjectedDiscriminator}: one {@link dev.add4j.disc.DiscHead} per tap, built from
 * {@link dev.add4j.disc.SpectralConv1d} and {@link dev.add4j.disc.LocalBatchNorm}, projected on the condition that
 * {@link dev.add4j.disc.Cond} chooses. {@link dev.add4j.disc.Discriminator} puts them together.
 */
package dev.add4j.disc;
