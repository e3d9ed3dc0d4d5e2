package dev.caravan.coordinator.pipeline;

import static org.junit.jupiter.api.Assertions.fail;

import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * Real embedded Hazelcast members in the test JVM, in a cluster of their own (unique name, loopback, the first member's
 * address as the join list). {@link #close} shuts every member down; a test calls it in {@code @AfterEach}.
 */
final class TestMembers implements AutoCloseable {
  static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final String clusterName = "plans-test-" + UUID.randomUUID();
  private final List<HazelcastInstance> members = new ArrayList<>();
  private String firstAddress;

  /** A data member with the coordinator role (it holds the map partitions). */
  HazelcastInstance coordinator() {
    return start(Map.of(ClusterNames.ATTR_ROLE, ClusterNames.ROLE_COORDINATOR), false);
  }

  /** A lite member with the attributes a shard worker publishes (no gRPC behind them). */
  HazelcastInstance worker(String grpcAddress, String model, String fingerprint) {
    Map<String, String> attrs = new HashMap<>();
    attrs.put(ClusterNames.ATTR_ROLE, ClusterNames.ROLE_WORKER);
    attrs.put(ClusterNames.ATTR_GRPC, grpcAddress);
    attrs.put(ClusterNames.ATTR_MODEL, model);
    attrs.put(ClusterNames.ATTR_MODEL_FINGERPRINT, fingerprint);
    attrs.put(ClusterNames.ATTR_MEMORY, Long.toString(1L << 40));
    attrs.put(ClusterNames.ATTR_CORES, "2");
    attrs.put(ClusterNames.ATTR_SECONDS_PER_LAYER, "0.01");
    return start(attrs, true);
  }

  /** A member with no Caravan role (another writer, a tool). */
  HazelcastInstance other(boolean lite) {
    return start(Map.of(ClusterNames.ATTR_ROLE, "test"), lite);
  }

  HazelcastInstance start(Map<String, String> attributes, boolean lite) {
    int port = freePort();
    List<String> join = List.of(firstAddress != null ? firstAddress : "127.0.0.1:" + port);
    HazelcastInstance hz = ClusterMember.start(new ClusterMember.Options(clusterName, "127.0.0.1", port, true, join, attributes, lite));
    synchronized (members) {
      members.add(hz);
    }
    if (firstAddress == null) {
      firstAddress = "127.0.0.1:" + hz.getCluster().getLocalMember().getAddress().getPort();
    }
    return hz;
  }

  /** Shuts one member down (it leaves the cluster cleanly). */
  void stop(HazelcastInstance hz) {
    synchronized (members) {
      members.remove(hz);
    }
    hz.shutdown();
  }

  static String uuid(HazelcastInstance hz) {
    return hz.getCluster().getLocalMember().getUuid().toString();
  }

  @Override
  public void close() {
    List<HazelcastInstance> all;
    synchronized (members) {
      all = new ArrayList<>(members);
      members.clear();
    }
    // lite members first, the data members last: nothing migrates to a member that is about to go
    for (int i = all.size() - 1; i >= 0; i--) {
      try {
        all.get(i).shutdown();
      } catch (RuntimeException e) {
        // already down
      }
    }
  }

  /** The first element of {@code queue} (taken in order, others dropped) that matches, or the test fails. */
  /** Every write of {@code model}'s plan into {@code hz}'s plans map from now on, added or replaced, in order. */
  static BlockingQueue<EntryEvent<String, Plan>> planWrites(HazelcastInstance hz, String model) {
    BlockingQueue<EntryEvent<String, Plan>> writes = new LinkedBlockingQueue<>();
    hz.<String, Plan>getMap(ClusterNames.PLANS).addEntryListener(new PlanWrites(writes), model, true);
    return writes;
  }

  /** Waits for a write in {@code writes} (see {@link #planWrites}) of a plan that {@code matches}; returns that plan. */
  static Plan awaitPlan(BlockingQueue<EntryEvent<String, Plan>> writes, Predicate<Plan> matches, String what) throws InterruptedException {
    return await(writes, e -> matches.test(e.getValue()), what).getValue();
  }

  private record PlanWrites(BlockingQueue<EntryEvent<String, Plan>> to) implements EntryAddedListener<String, Plan>, EntryUpdatedListener<String, Plan> {
    @Override
    public void entryAdded(EntryEvent<String, Plan> e) {
      to.add(e);
    }

    @Override
    public void entryUpdated(EntryEvent<String, Plan> e) {
      to.add(e);
    }
  }

  static <T> T await(BlockingQueue<T> queue, Predicate<T> matches, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (true) {
      long left = deadline - System.nanoTime();
      T t = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : null;
      if (t == null) {
        return fail("timed out after " + TIMEOUT.toSeconds() + " s waiting for " + what);
      }
      if (matches.test(t)) {
        return t;
      }
    }
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
