package dev.add4j.diffusion;

import java.util.ArrayList;
import java.util.List;

/** Timestep sets for samplers and the student, as plain lists, high to low. */
public final class Timesteps {
    private Timesteps() {}

    /**
     * "Trailing" spacing (Lin et al. 2023, Table 2; diffusers' timestep_spacing="trailing"): n steps that start at
     * the last timestep, so sampling starts from pure noise. trailing(4) = [999, 749, 499, 249].
     */
    public static List<Integer> trailing(int n) {
        if (n < 1 || n > NoiseSchedule.T)
            throw new IllegalArgumentException("steps must be in 1.." + NoiseSchedule.T + ", got " + n);
        List<Integer> ts = new ArrayList<>(n);
        for (int i = 0; i < n; i++) ts.add((int) Math.round(NoiseSchedule.T - i * (double) NoiseSchedule.T / n) - 1);
        return ts;
    }

    /** Parses "999,749,499,249"; checks range, strict decrease and that the first is 999 when {@code mustStartAtNoise}. */
    public static List<Integer> parse(String csv, boolean mustStartAtNoise) {
        List<Integer> ts = new ArrayList<>();
        try {
            for (String p : csv.split(",")) ts.add(Integer.parseInt(p.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("timesteps: expected integers like 999,749,499,249, got '" + csv + "'");
        }
        for (int i = 0; i < ts.size(); i++) {
            int t = ts.get(i);
            if (t < 0 || t >= NoiseSchedule.T) throw new IllegalArgumentException("timesteps: " + t + " is outside 0..999");
            if (i > 0 && t >= ts.get(i - 1)) throw new IllegalArgumentException("timesteps must decrease, got " + csv);
        }
        if (mustStartAtNoise && (ts.isEmpty() || ts.get(0) != NoiseSchedule.T - 1))
            throw new IllegalArgumentException("timesteps must start at 999 (pure noise), got " + csv);
        return List.copyOf(ts);
    }
}
