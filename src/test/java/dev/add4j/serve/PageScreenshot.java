package dev.add4j.serve;

import dev.add4j.TorchRuntime;
import org.bytedeco.pytorch.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Not part of the suite (no "Test" in its name): takes README's screenshot of the page, docs/serve-screenshot.png,
 * with the shipped student and teacher: a prompt typed, a boot sketched on the pad, the teacher's comparison run.
 * <p>Run: {@code mvn test -Dtest=PageScreenshot -Dsurefire.failIfNoSpecifiedTests=false} (needs chromium and
 * chromium-driver, as ServeBrowserTest).
 */
class PageScreenshot {
    static final Path OUT = Path.of("docs/serve-screenshot.png");

    @Test void takeTheScreenshotWithTheShippedModels(@TempDir Path dir) throws Exception {
        TorchRuntime.init();
        try (var service = GenerationService.load(Path.of("models/student-fmnist.safetensors"), Path.of("models/teacher-fmnist.safetensors"),
                TinyModels.text(), new Device("cpu"), 8);
             var server = Server.start(service, "127.0.0.1", 0, java.util.stream.IntStream.range(0, 10)
                     .mapToObj(dev.add4j.data.Captions::canonical).toList())) {   // add4j serve's examples for Fashion-MNIST
            ChromeDriver browser = ServeBrowserTest.chromium(Files.createDirectory(dir.resolve("profile")));
            try {
                var wait = new WebDriverWait(browser, Duration.ofSeconds(120));
                browser.get("http://127.0.0.1:" + server.port() + "/");
                WebElement grid = browser.findElement(By.id("grid"));
                wait.until(d -> grid.findElements(By.tagName("img")).size() == 4);
                browser.findElement(By.id("prompt")).sendKeys("a photo of an ankle boot");
                wait.until(d -> "a photo of an ankle boot".equals(grid.getAttribute("data-prompt")));
                // the sketch of scripts/Img2ImgInputs.java, drawn as strokes (offsets from the pad's centre)
                WebElement pad = browser.findElement(By.id("pad"));
                int[][] boot = {{78, 44}, {146, 44}, {150, 134}, {206, 156}, {226, 182}, {222, 206}, {64, 206}, {66, 120}, {78, 44}};
                Actions a = new Actions(browser).moveToElement(pad, boot[0][0] - 128, boot[0][1] - 128).clickAndHold();
                for (int i = 1; i < boot.length; i++) a.moveByOffset(boot[i][0] - boot[i - 1][0], boot[i][1] - boot[i - 1][1]);
                a.release().moveToElement(pad, 80 - 128, 178 - 128).clickAndHold().moveByOffset(130, 0).release().perform();
                wait.until(d -> "0.5".equals(grid.getAttribute("data-strength")));
                WebElement teacherGrid = browser.findElement(By.id("teacher-grid"));
                browser.findElement(By.id("teacher-run")).click();   // 25 steps: the last 12 run at strength 0.5 (from t = 479)
                wait.until(d -> "0.5".equals(teacherGrid.getAttribute("data-strength")));
                Thread.sleep(500);                                    // the last images decoded and painted
                Files.write(OUT, browser.getScreenshotAs(OutputType.BYTES));
                System.out.println("wrote " + OUT);
            } finally {
                browser.quit();
            }
        }
    }
}
