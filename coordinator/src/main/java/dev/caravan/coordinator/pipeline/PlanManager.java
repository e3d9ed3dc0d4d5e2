package dev.caravan.coordinator.pipeline;

import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.InitialMembershipEvent;
import com.hazelcast.cluster.InitialMembershipListener;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryRemovedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.Planner;
import dev.caravan.coordinator.CoordinatorMetrics;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.core.GenerationError;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the layer plan in step with the cluster. It watches membership, worker drain requests and which workers have
 * loaded their layers, and on every change (handed off to its own thread; Hazelcast's event threads never block):
 *
 * <ul>
 *   <li>a lost worker fails the requests of every plan that used it (UNAVAILABLE naming the stage) and removes their KV
 *       records;
 *   <li>a new plan over the live, non-draining workers of this model is computed ({@link Planner}) and stored in
 *       Hazelcast under a new epoch, so the workers load their ranges;
 *   <li>once every stage of the newest plan reports its layers loaded, new requests use it; older plans serve the
 *       requests already bound to them and are retired when none remain.
 * </ul>
 */
public final class PlanManager implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PlanManager.class);

  private final HazelcastInstance hz;
  private final String model;
  private final String fingerprint;
  private final int layers;
  private final long bytesPerLayer;
  private final PipelineExecutor executor;
  private final EngineCore loop;
  private final KvPlacements placements;
  private final CoordinatorMetrics metrics;
  private final ExecutorService events = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "caravan-plan");
    t.setDaemon(true);
    return t;
  });
  private final ScheduledExecutorService timer;
  private final IMap<String, Plan> plans;
  private final IMap<String, Long> ready;
  private final IMap<String, String> workerState;
  private final Map<String, Member> workers = new HashMap<>();
  private Plan latest;
  private Plan serving;

  public PlanManager(HazelcastInstance hz, String model, String fingerprint, int layers, long bytesPerLayer, PipelineExecutor executor, EngineCore loop, KvPlacements placements, CoordinatorMetrics metrics, ScheduledExecutorService timer) {
    this.hz = hz;
    this.model = model;
    this.fingerprint = fingerprint;
    this.layers = layers;
    this.bytesPerLayer = bytesPerLayer;
    this.executor = executor;
    this.loop = loop;
    this.placements = placements;
    this.metrics = metrics;
    this.timer = timer;
    this.plans = hz.getMap(ClusterNames.PLANS);
    this.ready = hz.getMap(ClusterNames.READY);
    this.workerState = hz.getMap(ClusterNames.WORKER_STATE);
  }

  public PlanManager start() {
    // a plan left by an earlier coordinator of this cluster: keep counting epochs from it
    latest = plans.get(model);
    ready.addEntryListener(new ChangeListener<Long>(this::checkReady), true);
    workerState.addEntryListener(new ChangeListener<String>(this::replan), false);
    hz.getCluster().addMembershipListener(new InitialMembershipListener() {
      @Override
      public void init(InitialMembershipEvent event) {
        List<Member> members = List.copyOf(event.getMembers());
        events.execute(() -> {
          members.forEach(PlanManager.this::memberAdded);
          replan();
        });
      }

      @Override
      public void memberAdded(MembershipEvent event) {
        Member m = event.getMember();
        events.execute(() -> {
          PlanManager.this.memberAdded(m);
          replan();
        });
      }

      @Override
      public void memberRemoved(MembershipEvent event) {
        Member m = event.getMember();
        events.execute(() -> {
          memberLost(m);
          replan();
        });
      }
    });
    // retire plans no request uses any more
    timer.scheduleWithFixedDelay(() -> events.execute(this::retireUnused), 1, 1, TimeUnit.SECONDS);
    return this;
  }

  /** The plan new requests use, or null. */
  public Plan serving() {
    return serving;
  }

  /** The newest plan (possibly still loading), or null. */
  public Plan latest() {
    return latest;
  }

  public Plan plan(long epoch) {
    return executor.plans().get(epoch);
  }

  private void memberAdded(Member m) {
    if (!ClusterNames.ROLE_WORKER.equals(m.getAttribute(ClusterNames.ATTR_ROLE))) {
      return;
    }
    if (!model.equals(m.getAttribute(ClusterNames.ATTR_MODEL)) || !fingerprint.equals(m.getAttribute(ClusterNames.ATTR_MODEL_FINGERPRINT))) {
      LOG.warn("worker {} at {} serves model {} ({}), not {} ({}): not planned", m.getUuid(), m.getAttribute(ClusterNames.ATTR_GRPC), m.getAttribute(ClusterNames.ATTR_MODEL), m.getAttribute(ClusterNames.ATTR_MODEL_FINGERPRINT), model, fingerprint);
      return;
    }
    workers.put(m.getUuid().toString(), m);
    LOG.info("worker joined: {} at {}", m.getUuid(), m.getAttribute(ClusterNames.ATTR_GRPC));
  }

  private void memberLost(Member m) {
    String uuid = m.getUuid().toString();
    if (workers.remove(uuid) == null) {
      return;
    }
    String address = m.getAttribute(ClusterNames.ATTR_GRPC);
    LOG.warn("worker left: {} at {}", uuid, address);
    String why = "worker " + address + " left the cluster";
    for (Long epoch : executor.workerLost(uuid, why)) {
      Plan p = executor.plans().get(epoch);
      String message = p == null ? why : PipelineExecutor.lostMessage(p.stageOf(uuid).orElseThrow(), why);
      loop.planLost(epoch, GenerationError.of(GenerationError.Kind.UNAVAILABLE, message));
    }
    placements.removeWorker(uuid);
    ready.delete(uuid);
    workerState.delete(uuid);
    if (serving != null && serving.involves(uuid)) {
      serving = null;
      loop.setServingPlan(-1, 0, "stage lost with worker " + address + "; re-planning over the remaining workers");
    }
  }

  /** Computes the plan for the workers present now and publishes it if it differs from the newest one. */
  private void replan() {
    metrics.workers.set(workers.size());
    List<Planner.Candidate> candidates = new ArrayList<>();
    int draining = 0;
    for (Member m : workers.values()) {
      String uuid = m.getUuid().toString();
      if (ClusterNames.STATE_DRAINING.equals(workerState.get(uuid))) {
        draining++;
        continue;
      }
      candidates.add(new Planner.Candidate(uuid, m.getAttribute(ClusterNames.ATTR_GRPC), ClusterMember.capacity(m), joinOrder(m)));
    }
    long epoch = latest == null ? 1 : latest.epoch() + 1;
    Plan next = Planner.plan(epoch, model, layers, bytesPerLayer, candidates);
    if (latest != null && next.sameLayoutAs(latest)) {
      return;
    }
    publish(next);
    if (next.isEmpty()) {
      String reason = workers.isEmpty()
          ? "no workers: the cluster has no worker serving model " + model
          : candidates.isEmpty() ? "no workers: all " + draining + " workers of model " + model + " are draining" : "the " + candidates.size() + " workers cannot hold model " + model + " (" + layers + " layers of " + bytesPerLayer + " bytes)";
      serving = null;
      loop.setServingPlan(-1, 0, reason);
      LOG.warn("no plan: {}", reason);
    } else {
      LOG.info("new {}", next);
      checkReady();
    }
  }

  private void publish(Plan next) {
    Plan prev = latest;
    boolean stored = prev == null ? plans.putIfAbsent(model, next) == null : plans.replace(model, prev, next);
    if (!stored) {
      // someone else wrote a plan (an earlier coordinator): take its epoch as the base and write over it
      Plan other = plans.get(model);
      next = new Plan((other == null ? 0 : other.epoch()) + 1, next.model(), next.layers(), next.stages());
      plans.put(model, next);
    }
    latest = next;
    executor.addPlan(next);
  }

  /** Makes the newest plan the serving one once every stage has loaded it. */
  private void checkReady() {
    if (latest == null || latest.isEmpty() || latest == serving) {
      return;
    }
    for (var s : latest.stages()) {
      Long e = ready.get(s.workerUuid());
      if (e == null || e < latest.epoch()) {
        return;
      }
    }
    serving = latest;
    loop.setServingPlan(serving.epoch(), serving.stages().size(), null);
    LOG.info("serving {}", serving);
  }

  private void retireUnused() {
    if (serving == null) {
      return;
    }
    try {
      long oldest = Math.min(loop.oldestEpochInUse().get(5, TimeUnit.SECONDS), serving.epoch());
      if (executor.plans().keySet().stream().anyMatch(e -> e < oldest)) {
        loop.retireBelow(oldest);
        executor.retireBelow(oldest);
      }
    } catch (Exception e) {
      LOG.debug("retire check failed: {}", e.toString());
    }
  }

  /** Pipeline order: join order (older members first), by member list position. */
  private long joinOrder(Member m) {
    int i = 0;
    for (Member x : hz.getCluster().getMembers()) {
      if (x.getUuid().equals(m.getUuid())) {
        return i;
      }
      i++;
    }
    return i;
  }

  /** Whether a worker is draining. */
  public boolean isDraining(String uuid) {
    return ClusterNames.STATE_DRAINING.equals(workerState.get(uuid));
  }

  @Override
  public void close() {
    events.shutdownNow();
  }

  /** Any change of a map entry: hand the reaction to the plan thread. */
  private final class ChangeListener<V> implements EntryAddedListener<String, V>, EntryUpdatedListener<String, V>, EntryRemovedListener<String, V> {
    private final Runnable reaction;

    ChangeListener(Runnable reaction) {
      this.reaction = reaction;
    }

    @Override
    public void entryAdded(com.hazelcast.core.EntryEvent<String, V> e) {
      events.execute(reaction);
    }

    @Override
    public void entryUpdated(com.hazelcast.core.EntryEvent<String, V> e) {
      events.execute(reaction);
    }

    @Override
    public void entryRemoved(com.hazelcast.core.EntryEvent<String, V> e) {
      events.execute(reaction);
    }
  }
}
