package dev.add4j.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CaptionsTest {
    @Test void everyClassHasSeveralDistinctCaptions() {
        for (int c = 0; c < 10; c++) {
            List<String> all = Captions.all(c);
            assertTrue(all.size() >= 15, "class " + c + " has " + all.size());
            assertEquals(all.size(), new HashSet<>(all).size(), "duplicates in class " + c);
        }
    }

    @Test void allCaptionsAreTheClassListsInOrderAndClassOfIsParallel() {
        List<String> expected = new ArrayList<>();
        List<Integer> classes = new ArrayList<>();
        for (int c = 0; c < 10; c++) for (String s : Captions.all(c)) { expected.add(s); classes.add(c); }
        assertEquals(expected, Captions.allCaptions());
        for (int i = 0; i < expected.size(); i++) assertEquals(classes.get(i), Captions.classOf(i));
        assertEquals(expected.size(), new HashSet<>(expected).size(), "a caption belongs to two classes");
    }

    @Test void canonicalCaptionsUseTheRightArticle() {
        assertEquals("a photo of a t-shirt", Captions.canonical(0));
        assertEquals("a photo of a pair of trousers", Captions.canonical(1));
        assertEquals("a photo of a sneaker", Captions.canonical(7));
        assertEquals("a photo of an ankle boot", Captions.canonical(9));
        assertTrue(Captions.all(4).contains("an image of an overcoat"));
        assertTrue(Captions.all(1).contains("jeans"));                                     // bare-noun template
        for (String s : Captions.allCaptions()) {
            assertFalse(s.matches(".*\\ba [aeiou].*"), s);
            assertFalse(s.matches(".*\\ban [^aeiou].*"), s);
        }
    }

    @Test void sampleIsDeterministicForASeedAndStaysInTheClass() {
        Random a = new Random(42), b = new Random(42);
        for (int i = 0; i < 100; i++) {
            int c = i % 10;
            String s = Captions.sample(c, a);
            assertEquals(s, Captions.sample(c, b));
            assertTrue(Captions.all(c).contains(s));
        }
    }

    @Test void classOutOfRangeIsRejected() {
        assertThrows(IndexOutOfBoundsException.class, () -> Captions.all(10));
        assertThrows(IndexOutOfBoundsException.class, () -> Captions.classOf(-1));
    }
}
