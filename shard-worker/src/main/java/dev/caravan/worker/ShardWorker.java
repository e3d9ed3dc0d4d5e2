package dev.caravan.worker;

import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryRemovedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.GrpcServer;
import dev.caravan.cluster.MaxEpoch;
import dev.caravan.cluster.MetricsServer;
import dev.caravan.cluster.ModelIdentity;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.cluster.security.JoinSecret;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LayerRange;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.model.LlamaModel;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A shard worker process: a {@link ShardNode} (the Shard service, its stages, compute thread and frame links) that
 * joins the Hazelcast cluster, takes its layer range from the current plan, serves Prometheus metrics, frees idle
 * sessions and drains before it leaves.
 *
 * <p>Threads: gRPC threads only enqueue; the node's compute thread runs frames, releases and expiry in order; one loader
 * thread loads layers for a new plan so serving the old plan goes on meanwhile.
 */
public final class ShardWorker implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ShardWorker.class);

  /** Validated settings (see {@code WorkerCommand} for their meaning and defaults). */
  public record Config(
      Path model,
      List<String> join,
      String clusterName,
      String host,
      int grpcPort,
      int hazelcastPort,
      int metricsPort,
      int threads,
      int framesInFlight,
      long memoryLimitBytes,
      long kvBudgetBytes,
      Duration idleTimeout,
      Duration drainTimeout,
      Duration spareWarmUp) {}

  private final Config config;
  private final String modelId;
  private final ExecutorService loader = Executors.newSingleThreadExecutor(r -> daemon(r, "caravan-loader"));
  private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "caravan-timers"));
  private ShardNode node;
  private MetricsServer metricsServer;
  private HazelcastInstance hz;
  private String uuid;
  private volatile boolean draining;
  private long newestPlanSeen; // loader thread only
  private long spareFor = -1; // loader thread only: the plan epoch whose ranges this worker keeps warm as a spare, or -1

  private final ClusterTls tls;
  private final JoinSecret secret;
  /** The newest plan epoch of our model seen in Hazelcast's events (any thread). */
  private final AtomicLong newestPlanSeenAnywhere = new AtomicLong();

  /**
   * @param tls    this worker's identity on internal connections (mutual TLS), or insecure
   * @param secret the cluster's join secret: it names the Hazelcast cluster and proves this worker to the coordinator
   */
  public ShardWorker(Config config, ClusterTls tls, JoinSecret secret) {
    this.config = config;
    this.tls = tls;
    this.secret = secret;
    this.modelId = ModelIdentity.id(config.model());
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  /** Validates the model, measures capacity, starts gRPC, metrics and the Hazelcast member. */
  public ShardWorker start() throws IOException {
    String fingerprint;
    double secondsPerLayer;
    try (GgufFile f = GgufFile.open(config.model())) {
      LlamaConfig.from(f);
      fingerprint = ModelIdentity.fingerprint(f);
    }
    node = new ShardNode(config.model(), config.threads(), config.host() + ":" + config.grpcPort(), tls.server(GrpcServer.netty(config.host(), config.grpcPort())), config.framesInFlight(), tls, this::newestPlanEpoch);
    node.onStagesRetired(() -> loader.execute(this::reportLoaded));
    node.setKvBudget(config.kvBudgetBytes());
    secondsPerLayer = measureSecondsPerLayer();
    String address = node.address();
    metricsServer = MetricsServer.start(config.host(), config.metricsPort(), node.metrics().registry);

    Map<String, String> attrs = new HashMap<>();
    attrs.put(ClusterNames.ATTR_ROLE, ClusterNames.ROLE_WORKER);
    attrs.put(ClusterNames.ATTR_GRPC, address);
    attrs.put(ClusterNames.ATTR_MODEL, modelId);
    attrs.put(ClusterNames.ATTR_MODEL_FINGERPRINT, fingerprint);
    attrs.put(ClusterNames.ATTR_MEMORY, Long.toString(freeMemory()));
    attrs.put(ClusterNames.ATTR_KV_BUDGET, Long.toString(config.kvBudgetBytes()));
    attrs.put(ClusterNames.ATTR_CORES, Integer.toString(config.threads()));
    attrs.put(ClusterNames.ATTR_SECONDS_PER_LAYER, Double.toString(secondsPerLayer));
    attrs.put(ClusterNames.ATTR_MEMBER_PROOF, secret.memberProof(ClusterNames.ROLE_WORKER, address));
    hz = ClusterMember.start(new ClusterMember.Options(secret.hazelcastClusterName(config.clusterName()), config.host(), config.hazelcastPort(), true, config.join(), attrs, true));
    uuid = hz.getCluster().getLocalMember().getUuid().toString();

    // follow the plan: listeners hand off to the loader thread and never block Hazelcast's event threads
    IMap<String, Plan> plans = hz.getMap(ClusterNames.PLANS);
    plans.addEntryListener(new PlanListener(), modelId, true);
    Plan current = plans.get(modelId);
    if (current != null) {
      newestPlanSeenAnywhere.accumulateAndGet(current.epoch(), Math::max);
      loader.execute(() -> adopt(current));
    }
    // whether we are a spare, and for which plan (the coordinator writes our entry)
    IMap<String, Long> spares = hz.getMap(ClusterNames.SPARES);
    spares.addEntryListener(new SpareListener(), uuid, true);
    Long spare = spares.get(uuid);
    if (spare != null) {
      loader.execute(() -> spare(spare));
    }
    timers.scheduleAtFixedRate(() -> node.expireIdle(config.idleTimeout()), 5, 5, TimeUnit.SECONDS);
    LOG.info("worker {} serving {} (fingerprint {}) at {}, {}, metrics on port {}, {} threads, {} frames in flight per hop, {} s/layer measured", uuid, modelId, fingerprint, address, tls.describe(), metricsServer.port(), config.threads(), config.framesInFlight(), String.format("%.6f", secondsPerLayer));
    return this;
  }

  public String uuid() {
    return uuid;
  }

  /**
   * The newest plan epoch of our model the cluster has published, for checking control calls: what the plan events
   * said, or what the plans map says now when a call names a later one (the event may be on its way).
   */
  private long newestPlanEpoch() {
    long seen = newestPlanSeenAnywhere.get();
    try {
      Plan stored = hz.<String, Plan>getMap(ClusterNames.PLANS).get(modelId);
      return stored == null ? seen : Math.max(seen, stored.epoch());
    } catch (RuntimeException e) {
      return seen; // Hazelcast is leaving: what we saw is all we know
    }
  }

  /**
   * After a Release retired stages (loader thread, like every write of our ready entry): if the epoch we reported loaded
   * is gone, report the newest one we still hold, or none, so the coordinator no longer counts a plan whose layers left
   * this worker as ready.
   */
  private void reportLoaded() {
    try {
      IMap<String, Long> ready = hz.getMap(ClusterNames.READY);
      Long reported = ready.get(uuid);
      if (reported == null || node.holds(reported)) {
        return;
      }
      long still = node.newestEpoch();
      if (still > 0) {
        ready.set(uuid, still);
      } else {
        ready.delete(uuid);
      }
      LOG.warn("the layers of plan #{} were retired here; reporting {} loaded", reported, still > 0 ? "plan #" + still : "no plan");
    } catch (RuntimeException e) {
      LOG.warn("cannot report which plan is loaded: {}", e.toString());
    }
  }

  public int grpcPort() {
    return node.grpc().port();
  }

  public int metricsPort() {
    return metricsServer.port();
  }

  private long freeMemory() {
    long free = Runtime.getRuntime().maxMemory();
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      free = os.getFreeMemorySize() + Runtime.getRuntime().maxMemory();
    }
    return config.memoryLimitBytes() > 0 ? Math.min(config.memoryLimitBytes(), free) : free;
  }

  /** Seconds to run one layer for one token: loads layer 0 alone and times decode steps after a warm-up (median). */
  private double measureSecondsPerLayer() throws IOException {
    try (LlamaModel probe = LlamaModel.open(config.model(), new LayerRange(0, 1), node.parallel(), null)) {
      KvCache cache = probe.layers().newCache(64);
      Batch batch = new Batch(1);
      float[] out = new float[probe.layers().outputSize(oneToken(batch, cache))];
      long[] times = new long[31];
      for (int i = -60; i < times.length; i++) {
        if (cache.length() >= cache.capacity()) {
          cache.truncate(0);
        }
        oneToken(batch, cache);
        long t0 = System.nanoTime();
        probe.layers().forward(batch, null, out);
        if (i >= 0) {
          times[i] = System.nanoTime() - t0;
        }
      }
      java.util.Arrays.sort(times);
      return times[times.length / 2] / 1e9;
    }
  }

  private static Batch oneToken(Batch batch, KvCache cache) {
    batch.clear();
    batch.add(1, cache.length(), cache, false);
    return batch;
  }

  /**
   * Loads our layers of {@code plan} (loader thread), then tells the cluster this epoch is ready. Plan events can arrive
   * out of order (the initial read races the listener): a plan older than one already seen is skipped.
   */
  private void adopt(Plan plan) {
    if (!plan.model().equals(modelId) || draining && plan.involves(uuid) || plan.epoch() < newestPlanSeen) {
      return;
    }
    newestPlanSeen = plan.epoch();
    try {
      if (node.install(plan, uuid)) {
        hz.<String, Long>getMap(ClusterNames.READY).executeOnKey(uuid, new MaxEpoch(plan.epoch()));
        LOG.info("ready for plan #{} (t={} ms)", plan.epoch(), System.nanoTime() / 1_000_000);
      }
    } catch (IOException | RuntimeException e) {
      LOG.error("cannot load my layers of {}", plan, e);
    }
  }

  /**
   * This worker is a spare for plan {@code epoch} (loader thread): keeps every stage range of that plan loaded and warm,
   * so that taking one over is instant. -1: no longer a spare.
   */
  private void spare(long epoch) {
    if (epoch < 0) {
      // taken into a plan? its event may come after this one (another map): install first, so the warm range is used
      Plan current = hz.<String, Plan>getMap(ClusterNames.PLANS).get(modelId);
      if (current != null && current.involves(uuid)) {
        adopt(current);
      }
      if (spareFor >= 0) {
        spareFor = -1;
        node.stopSpare();
        LOG.info("no longer a spare");
      }
      return;
    }
    Plan plan = hz.<String, Plan>getMap(ClusterNames.PLANS).get(modelId);
    if (plan == null || plan.epoch() != epoch || plan.involves(uuid) || draining) {
      return; // a newer plan (and its spare entry) is on its way, or we serve in it
    }
    spareFor = epoch;
    try {
      long t0 = System.nanoTime();
      int opened = node.warmAsSpare(plan, config.spareWarmUp());
      LOG.info("warm as a spare for plan #{}: {} stage range(s), {} opened now, in {} ms (t={} ms)", epoch, plan.stages().size(), opened, (System.nanoTime() - t0) / 1_000_000, System.nanoTime() / 1_000_000);
    } catch (IOException | RuntimeException e) {
      LOG.error("cannot warm the ranges of {} as a spare", plan, e);
    }
  }

  /**
   * Leaves gracefully: says so in the cluster (the coordinator plans without us), waits until the coordinator has
   * retired every plan we serve — it does when their last request ends — (or the drain timeout passes), then stops.
   */
  public void drain() {
    if (hz == null || draining) {
      return;
    }
    draining = true;
    LOG.info("draining: waiting up to {} for sessions to finish", config.drainTimeout());
    node.grpc().setServing(false);
    try {
      hz.<String, String>getMap(ClusterNames.WORKER_STATE).put(uuid, ClusterNames.STATE_DRAINING);
      long deadline = System.nanoTime() + config.drainTimeout().toNanos();
      while (System.nanoTime() < deadline) {
        // done when the current plan leaves us out and the coordinator has retired every older plan we served
        // (it does so once no request runs on them)
        Plan current = hz.<String, Plan>getMap(ClusterNames.PLANS).get(modelId);
        int stages = node.stageCount().get(5, TimeUnit.SECONDS);
        if ((current == null || !current.involves(uuid)) && stages == 0) {
          LOG.info("drained: no plan in use needs this worker");
          break;
        }
        Thread.sleep(200);
      }
    } catch (Exception e) {
      LOG.warn("drain cut short: {}", e.toString());
    }
    close();
  }

  @Override
  public void close() {
    timers.shutdownNow();
    if (hz != null) {
      // the "draining" mark stays until the member is gone (the coordinator removes it then): deleting it here, while
      // still a member, would make this worker plannable again for a moment
      hz.shutdown();
    }
    loader.shutdownNow();
    if (node != null) {
      node.close(Duration.ofSeconds(2));
    }
    if (metricsServer != null) {
      metricsServer.close();
    }
  }

  public void awaitTermination() throws InterruptedException {
    node.grpc().awaitTermination();
  }

  /** Our entry in the spares map, handed to the loader thread. */
  private final class SpareListener implements EntryAddedListener<String, Long>, EntryUpdatedListener<String, Long>, EntryRemovedListener<String, Long> {
    @Override
    public void entryAdded(EntryEvent<String, Long> event) {
      long epoch = event.getValue();
      loader.execute(() -> spare(epoch));
    }

    @Override
    public void entryUpdated(EntryEvent<String, Long> event) {
      long epoch = event.getValue();
      loader.execute(() -> spare(epoch));
    }

    @Override
    public void entryRemoved(EntryEvent<String, Long> event) {
      loader.execute(() -> spare(-1));
    }
  }

  /** Plan changes of our model, handed to the loader thread. */
  private final class PlanListener implements EntryAddedListener<String, Plan>, EntryUpdatedListener<String, Plan> {
    @Override
    public void entryAdded(EntryEvent<String, Plan> event) {
      Plan p = event.getValue();
      newestPlanSeenAnywhere.accumulateAndGet(p.epoch(), Math::max);
      loader.execute(() -> adopt(p));
    }

    @Override
    public void entryUpdated(EntryEvent<String, Plan> event) {
      Plan p = event.getValue();
      newestPlanSeenAnywhere.accumulateAndGet(p.epoch(), Math::max);
      loader.execute(() -> adopt(p));
    }
  }
}
