package dev.add4j.serve;

import dev.add4j.TorchRuntime;
import dev.add4j.text.TextEncoder;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The real page in headless Chromium (Debian's chromium and chromium-driver; nothing is downloaded): typing a
 * prompt redraws the images and shows the time per image; a stroke on the drawing pad redraws them from the sketch
 * at the slider's strength. Skipped where the browser is missing, unless
 * ADD4J_REQUIRE_BROWSER=1 (CI sets it, after installing the browser), which makes a missing browser a failure.
 */
class ServeBrowserTest {
    static final File CHROMIUM = new File("/usr/bin/chromium"), CHROMEDRIVER = new File("/usr/bin/chromedriver");
    static final Path SCREENSHOT = Path.of("target/serve-screenshot.png");

    @TempDir static Path dir;
    static TextEncoder text;
    static GenerationService service;
    static Server server;
    static final List<String> EXAMPLES = List.of("a red circle", "a pair of trousers");

    @BeforeAll static void init() {
        boolean present = CHROMIUM.canExecute() && CHROMEDRIVER.canExecute();
        if (!present && "1".equals(System.getenv("ADD4J_REQUIRE_BROWSER")))
            fail("ADD4J_REQUIRE_BROWSER=1 but " + CHROMIUM + " or " + CHROMEDRIVER + " is missing: apt-get install chromium chromium-driver");
        assumeTrue(present, "no " + CHROMIUM + " or " + CHROMEDRIVER + " (apt-get install chromium chromium-driver): browser test skipped");
        TorchRuntime.init();
        text = TinyModels.text();
        service = GenerationService.load(TinyModels.student(dir), TinyModels.teacher(dir), text, new Device("cpu"), 8);
        server = Server.start(service, "127.0.0.1", 0, EXAMPLES);
    }

    @AfterAll static void close() {
        if (server != null) server.close();
        if (service != null) service.close();
    }

    /**
     * A headless Chromium driven through the given chromedriver. The explicit driver and browser paths keep
     * Selenium Manager from looking for (and downloading) either.
     */
    static ChromeDriver chromium(Path profile) {
        Logger.getLogger("org.openqa.selenium").setLevel(Level.SEVERE);   // CDP version notices: not about add4j
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1100,900", "--user-data-dir=" + profile.toAbsolutePath());
        ChromeDriverService driver = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER).usingAnyFreePort().build();
        return new ChromeDriver(driver, options);
    }

    @Test void typingAPromptRedrawsTheImagesAndShowsTheTimePerImage() throws Exception {
        ChromeDriver browser = chromium(Files.createDirectory(dir.resolve("profile")));
        try {
            var wait = new WebDriverWait(browser, Duration.ofSeconds(60));
            browser.get("http://127.0.0.1:" + server.port() + "/");
            WebElement grid = browser.findElement(By.id("grid"));
            // the page draws the empty prompt first; then typing replaces it (debounced, stale answers dropped)
            wait.until(d -> grid.findElements(By.tagName("img")).size() == 4);
            String prompt = "a photo of a sneaker";
            browser.findElement(By.id("prompt")).sendKeys(prompt);
            wait.until(d -> prompt.equals(grid.getAttribute("data-prompt")));
            List<WebElement> imgs = grid.findElements(By.tagName("img"));
            assertEquals(4, imgs.size());
            for (WebElement img : imgs) {
                assertTrue(img.getAttribute("src").startsWith("data:image/png;base64,"));
                Object loaded = ((JavascriptExecutor) browser).executeScript("return arguments[0].complete && arguments[0].naturalWidth", img);
                assertEquals(32L, loaded, "decoded 32 px PNG");
                assertEquals("pixelated", img.getCssValue("image-rendering"));
                assertEquals(128, img.getRect().getWidth(), "shown 4x");
            }
            String timing = browser.findElement(By.id("timing")).getText();
            assertTrue(timing.matches("(?s).*\\d+(\\.\\d+)? ms.*"), timing);
            assertTrue(browser.findElement(By.id("status")).getText().isBlank(), browser.findElement(By.id("status")).getText());

            // the teacher comparison draws the same prompt beside it
            browser.findElement(By.id("teacher-steps")).sendKeys("4");
            WebElement run = browser.findElement(By.id("teacher-run"));
            assertEquals("teacher at 4 steps", run.getText());
            run.click();
            WebElement teacherGrid = browser.findElement(By.id("teacher-grid"));
            wait.until(d -> prompt.equals(teacherGrid.getAttribute("data-prompt")));
            assertEquals(4, teacherGrid.findElements(By.tagName("img")).size());
            assertTrue(browser.findElement(By.id("teacher-timing")).getText().matches("(?s).*\\d+(\\.\\d+)? ms.*"));

            Files.createDirectories(SCREENSHOT.getParent());
            Files.write(SCREENSHOT, browser.getScreenshotAs(OutputType.BYTES));
        } finally {
            browser.quit();
        }
    }

    @Test void aPromptExampleUnderThePromptDrawsItselfWhenClicked() throws Exception {
        ChromeDriver browser = chromium(Files.createDirectory(dir.resolve("profile-examples")));
        try {
            var wait = new WebDriverWait(browser, Duration.ofSeconds(60));
            browser.get("http://127.0.0.1:" + server.port() + "/");
            WebElement grid = browser.findElement(By.id("grid"));
            wait.until(d -> grid.findElements(By.tagName("img")).size() == 4);
            WebElement prompt = browser.findElement(By.id("prompt"));
            assertEquals("type a prompt, e.g. a red circle", prompt.getAttribute("placeholder"));
            List<WebElement> buttons = browser.findElements(By.cssSelector("#examples button.example"));
            assertEquals(EXAMPLES, buttons.stream().map(WebElement::getText).toList());
            assertTrue(browser.findElement(By.id("examples")).isDisplayed());
            assertFalse(browser.findElement(By.id("colour-label")).isDisplayed(), "a grey model has no colour to pick");
            buttons.get(1).click();
            wait.until(d -> "a pair of trousers".equals(grid.getAttribute("data-prompt")));
            assertEquals("a pair of trousers", prompt.getAttribute("value"));
        } finally {
            browser.quit();
        }
    }

    static List<String> sources(WebElement grid) {
        return grid.findElements(By.tagName("img")).stream().map(i -> i.getAttribute("src")).toList();
    }

    @Test void aStrokeOnThePadRedrawsTheImagesFromTheSketchAndTheRequestCarriesTheStrength() throws Exception {
        ChromeDriver browser = chromium(Files.createDirectory(dir.resolve("profile-pad")));
        try {
            var wait = new WebDriverWait(browser, Duration.ofSeconds(60));
            browser.get("http://127.0.0.1:" + server.port() + "/");
            WebElement grid = browser.findElement(By.id("grid"));
            wait.until(d -> grid.findElements(By.tagName("img")).size() == 4);
            assertEquals("", grid.getAttribute("data-strength"), "text to image first");
            List<String> before = sources(grid);

            // a mouse stroke across the pad: pointer events, as a finger's would be
            WebElement pad = browser.findElement(By.id("pad"));
            new Actions(browser).moveToElement(pad, -70, -60).clickAndHold().moveByOffset(50, 20).moveByOffset(40, 50)
                    .moveByOffset(20, 50).release().perform();
            // the answer's strength is the server's reading of the request: the request carried the slider's 0.5
            wait.until(d -> "0.5".equals(grid.getAttribute("data-strength")));
            assertNotEquals(before, sources(grid), "the sketch changed the images");
            assertEquals("2", browser.findElement(By.id("steps")).getAttribute("value"), "steps raised so that steps x strength >= 1");
            assertTrue(browser.findElement(By.id("timing")).getText().contains("strength 0.5"), browser.findElement(By.id("timing")).getText());
            Object lit = ((JavascriptExecutor) browser).executeScript(
                    "const d = document.getElementById('pad').getContext('2d').getImageData(0, 0, 256, 256).data;"
                            + "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++; return n;");
            assertTrue(((Long) lit) > 500, "the stroke is drawn on the pad: " + lit + " light pixels");

            // moving the strength slider redraws at the new strength (1: from t = 999, where 0.75 at 2 steps would
            // start at 499 as 0.5 does, and give the same images)
            List<String> atHalf = sources(grid);
            ((JavascriptExecutor) browser).executeScript(
                    "const s = document.getElementById('strength'); s.value = '1'; s.dispatchEvent(new Event('input'));");
            wait.until(d -> "1".equals(grid.getAttribute("data-strength")));
            assertNotEquals(atHalf, sources(grid), "strength 1 gives other images than 0.5");

            // clear: back to text to image
            browser.findElement(By.id("clear")).click();
            wait.until(d -> "".equals(grid.getAttribute("data-strength")));
            assertTrue(browser.findElement(By.id("status")).getText().isBlank(), browser.findElement(By.id("status")).getText());
        } finally {
            browser.quit();
        }
    }
}
