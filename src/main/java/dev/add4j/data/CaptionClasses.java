package dev.add4j.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A captioned folder's captions as classes, for what needs labels (k-NN accuracy, supervised features): an image's
 * class is its first caption. [choice] A folder has no labels; its captions are the only grouping it gives, and for
 * folders with a few distinct captions (shapes x colours, a style per emoji set) they are classes in all but name.
 * Where nearly every image has its own caption they are not: {@link #usable} says so, and the measure is left out.
 */
public record CaptionClasses(List<String> names) {
    /** Most classes [choice: a k-NN vote or a softmax over more than 1000 captions says little about features]. */
    public static final int MAX = 1000;

    public CaptionClasses { names = List.copyOf(names); }

    /** The distinct first captions of {@code split}'s images, in order of first appearance. */
    public static CaptionClasses of(ImageFolder.Split split) {
        Map<String, Integer> seen = new LinkedHashMap<>();
        for (List<String> c : split.captions()) seen.putIfAbsent(c.get(0), seen.size());
        return new CaptionClasses(new ArrayList<>(seen.keySet()));
    }

    /** True when the captions can serve as classes of {@code images} images: at most {@value #MAX}, two images each on average. */
    public boolean usable(int images) { return names.size() >= 2 && names.size() <= MAX && 2L * names.size() <= images; }

    /** Why they cannot: "180 images have 170 distinct first captions, too many to be classes (at most 1000, 2 images each)". */
    public String whyNot(int images) {
        return images + " images have " + names.size() + " distinct first captions, not classes (2.." + MAX + ", at least 2 images each)";
    }

    /** Each image's class: the index of its first caption, -1 where it is not one of these (a test caption unseen in training). */
    public int[] labels(ImageFolder.Split split) {
        Map<String, Integer> index = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) index.put(names.get(i), i);
        return split.captions().stream().mapToInt(c -> index.getOrDefault(c.get(0), -1)).toArray();
    }
}
