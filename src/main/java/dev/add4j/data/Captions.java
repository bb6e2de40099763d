package dev.add4j.data;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Text prompts for the 10 Fashion-MNIST classes: every class has a few synonyms, each put into a few templates,
 * so the text-conditioned models see varied wording ("a photo of a sneaker", "an image of a running shoe", "trainer").
 * All lists are fixed and in a fixed order: class, then synonym, then template.
 */
public final class Captions {
    /** The official class names, index = label. */
    public static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /** Synonyms per class, the first one canonical. Class 1 uses plural-only nouns ("a pair of trousers"). */
    private static final List<List<String>> SYNONYMS = List.of(
            List.of("t-shirt", "top", "tee", "tank top"),
            List.of("trousers", "pants", "jeans", "slacks"),
            List.of("pullover", "sweater", "jumper", "sweatshirt"),
            List.of("dress", "gown", "summer dress"),
            List.of("coat", "jacket", "overcoat", "parka"),
            List.of("sandal", "flip-flop", "open-toe shoe"),
            List.of("shirt", "button-up shirt", "blouse", "long-sleeved shirt"),
            List.of("sneaker", "running shoe", "trainer", "athletic shoe"),
            List.of("bag", "handbag", "purse", "tote bag"),
            List.of("ankle boot", "boot", "short boot"));
    private static final int PLURAL_CLASS = 1;

    /** Templates: {a} is the noun with its article ("a sneaker", "an ankle boot", "a pair of jeans"), {n} the bare noun. */
    private static final List<String> TEMPLATES = List.of(
            "a photo of {a}", "{a}", "a picture of {a}", "a black and white photo of {a}",
            "{n}", "an image of {a}", "a grayscale image of {a}");

    private static final List<String> ALL;
    private static final int[] CLASS_OF;
    private static final List<List<String>> BY_CLASS;

    static {
        List<String> all = new ArrayList<>();
        List<Integer> classOf = new ArrayList<>();
        List<List<String>> byClass = new ArrayList<>();
        for (int c = 0; c < CLASS_NAMES.size(); c++) {
            List<String> mine = new ArrayList<>();
            for (String noun : SYNONYMS.get(c))
                for (String t : TEMPLATES) {
                    mine.add(t.replace("{a}", withArticle(noun, c == PLURAL_CLASS)).replace("{n}", noun));
                    classOf.add(c);
                }
            byClass.add(List.copyOf(mine));
            all.addAll(mine);
        }
        ALL = List.copyOf(all);
        BY_CLASS = List.copyOf(byClass);
        CLASS_OF = classOf.stream().mapToInt(Integer::intValue).toArray();
    }

    private Captions() {}

    /** Every caption of class {@code cls} (0..9), in a fixed order. */
    public static List<String> all(int cls) { return BY_CLASS.get(check(cls)); }

    /** A caption of class {@code cls} drawn uniformly with {@code rng}. */
    public static String sample(int cls, Random rng) {
        List<String> mine = all(cls);
        return mine.get(rng.nextInt(mine.size()));
    }

    /** The caption used for evaluation and the demo: "a photo of a sneaker", "a photo of a pair of trousers". */
    public static String canonical(int cls) { return all(cls).get(0); }

    /** The captions of all classes, class after class; {@link #classOf(int)} gives the class of each. */
    public static List<String> allCaptions() { return ALL; }

    /** The class of {@code allCaptions().get(captionIndex)}. */
    public static int classOf(int captionIndex) {
        if (captionIndex < 0 || captionIndex >= CLASS_OF.length)
            throw new IndexOutOfBoundsException("captionIndex " + captionIndex + " not in 0.." + (CLASS_OF.length - 1));
        return CLASS_OF[captionIndex];
    }

    /** "a sneaker", "an ankle boot", and for plural-only nouns "a pair of trousers". */
    static String withArticle(String noun, boolean pluralOnly) {
        if (pluralOnly) return "a pair of " + noun;
        return ("aeiou".indexOf(noun.charAt(0)) >= 0 ? "an " : "a ") + noun;
    }

    private static int check(int cls) {
        if (cls < 0 || cls >= CLASS_NAMES.size()) throw new IndexOutOfBoundsException("class " + cls + " not in 0..9");
        return cls;
    }
}
