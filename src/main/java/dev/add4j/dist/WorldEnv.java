package dev.add4j.dist;

import dev.add4j.Add4jException;

import java.util.Map;

/**
 * Where this process stands in a data-parallel job, as torchrun's variables say: RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT ({@code add4j launch} sets them; a cluster's scheduler may too). Without WORLD_SIZE, or
 * with WORLD_SIZE=1, the process is a job of one: {@link #SINGLE}.
 *
 * @param rank       this process's rank in [0, worldSize)
 * @param worldSize  processes in the job
 * @param localRank  this process's rank on its machine (which GPU it takes)
 * @param masterAddr host of rank 0, where the rendezvous store listens
 * @param masterPort the store's TCP port
 */
public record WorldEnv(int rank, int worldSize, int localRank, String masterAddr, int masterPort) {
    public static final WorldEnv SINGLE = new WorldEnv(0, 1, 0, "127.0.0.1", 29500);
    /** torchrun's default port. */
    public static final int DEFAULT_PORT = 29500;

    public WorldEnv {
        if (worldSize < 1) throw new Add4jException("WORLD_SIZE must be >= 1, got " + worldSize);
        if (rank < 0 || rank >= worldSize) throw new Add4jException("RANK must be in [0, " + worldSize + "), got " + rank);
        if (localRank < 0 || localRank > rank) throw new Add4jException("LOCAL_RANK must be in [0, RANK=" + rank + "], got " + localRank);
        if (masterPort < 1 || masterPort > 65535) throw new Add4jException("MASTER_PORT must be in [1, 65535], got " + masterPort);
    }

    /** Whether this is a job of more than one process. */
    public boolean distributed() { return worldSize > 1; }

    /** Reads the variables from {@code env} (the process's environment); missing ones are an error in a job of several. */
    public static WorldEnv of(Map<String, String> env) {
        String ws = env.get("WORLD_SIZE");
        if (ws == null || ws.isBlank() || ws.trim().equals("1")) return SINGLE;
        int worldSize = integer(env, "WORLD_SIZE");
        int rank = integer(env, "RANK");
        int localRank = env.containsKey("LOCAL_RANK") ? integer(env, "LOCAL_RANK") : rank;
        String addr = env.getOrDefault("MASTER_ADDR", "");
        if (addr.isBlank()) throw new Add4jException("MASTER_ADDR is not set (WORLD_SIZE is " + worldSize + "): the host of rank 0");
        int port = env.containsKey("MASTER_PORT") ? integer(env, "MASTER_PORT") : DEFAULT_PORT;
        return new WorldEnv(rank, worldSize, localRank, addr.trim(), port);
    }

    private static int integer(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null || v.isBlank()) throw new Add4jException(name + " is not set (WORLD_SIZE is " + env.get("WORLD_SIZE") + ")");
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new Add4jException(name + ": expected an integer, got '" + v + "'");
        }
    }
}
