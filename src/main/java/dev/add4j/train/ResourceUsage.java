package dev.add4j.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this process (Linux), to show native memory stays flat over long runs. */
public final class ResourceUsage {
    private ResourceUsage() {}

    /** VmRSS in MiB, or -1 where /proc is not there. */
    public static double rssMiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
        } catch (IOException | NumberFormatException ignored) {
            // not Linux: report nothing rather than fail a training run
        }
        return -1;
    }
}
