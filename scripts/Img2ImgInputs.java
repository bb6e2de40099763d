import dev.add4j.TorchRuntime;
import dev.add4j.data.FashionMnist;
import dev.add4j.io.Images;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The two inputs of README's image-to-image figure (scripts/img2img-figure.sh runs it): a sketch of an ankle boot as
 * the page's pad would hold it (256 x 256, light strokes on black), and Fashion-MNIST test image 0 (an ankle boot) as
 * a 32 x 32 PNG. Run: java -cp target/classes:$(cat target/add4j.classpath) scripts/Img2ImgInputs.java DIR DATA_DIR
 */
public class Img2ImgInputs {
    public static void main(String[] args) throws Exception {
        Path dir = Files.createDirectories(Path.of(args[0]));
        BufferedImage pad = new BufferedImage(256, 256, BufferedImage.TYPE_INT_RGB);   // black, as the pad starts
        var g = pad.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.setStroke(new BasicStroke(14, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        // a boot's outline, toe to the right: shaft, instep, toe, sole, heel
        g.drawPolyline(new int[]{78, 146, 150, 206, 226, 222, 64, 66, 78}, new int[]{44, 44, 134, 156, 182, 206, 206, 120, 44}, 9);
        g.drawLine(80, 178, 210, 178);   // the welt above the sole
        g.dispose();
        Images.writePng(dir.resolve("sketch-ankle-boot.png"), pad);
        TorchRuntime.init();
        var test = FashionMnist.read(Path.of(args[1]), false);
        Images.writeEach(FashionMnist.images(test, new int[]{0}), List.of(dir.resolve("fmnist-test-0.png")));
        System.out.println("wrote " + dir.resolve("sketch-ankle-boot.png") + " and " + dir.resolve("fmnist-test-0.png")
                + " (test label " + test.labels()[0] + ")");
    }
}
