package dev.add4j.disc;

import dev.add4j.Add4jException;

import java.util.Locale;

/**
 * What the discriminator's projection is conditioned on (Table 1b). {@code text+img-if-seen} [choice, not in
 * the paper] is text + image with the image embedding zeroed for samples whose student input was pure noise
 * (s = 999): with zero terminal SNR that input carries nothing of x0, so the only fake that can agree with c_img
 * is the average of the images that fit the prompt, and the image condition pulls the 1-step student to it.
 */
public enum Cond {
    TEXT_IMG("text+img"), TEXT("text"), IMG("img"), NONE("none"), TEXT_IMG_IF_SEEN("text+img-if-seen");
    private final String cli;
    Cond(String cli) { this.cli = cli; }
    public String cliName() { return cli; }
    public boolean text() { return this == TEXT_IMG || this == TEXT || this == TEXT_IMG_IF_SEEN; }
    public boolean image() { return this == TEXT_IMG || this == IMG || this == TEXT_IMG_IF_SEEN; }
    /** Whether c_img is left out (zero) where the student's input held no trace of x0. */
    public boolean imageOnlyIfSeen() { return this == TEXT_IMG_IF_SEEN; }
    public static Cond parse(String s) {
        for (Cond c : values()) if (c.cli.equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) return c;
        throw new Add4jException("--cond: expected text+img, text, img, none or text+img-if-seen, got '" + s + "'");
    }
}
