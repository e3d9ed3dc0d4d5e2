package dev.caravan.coordinator.pipeline;

import com.hazelcast.cluster.InitialMembershipEvent;
import com.hazelcast.cluster.InitialMembershipListener;
import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import com.hazelcast.map.listener.EntryAddedListener;
import com.hazelcast.map.listener.EntryRemovedListener;
import com.hazelcast.map.listener.EntryUpdatedListener;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.Planner;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.coordinator.CoordinatorMetrics;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the layer plan in step with the cluster: the only writer of {@link PlanBook} and of this model's entry in
 * Hazelcast's {@link ClusterNames#PLANS}. It watches membership, worker drain requests ({@link ClusterNames#WORKER_STATE})
 * and which workers have loaded their layers ({@link ClusterNames#READY}). Hazelcast's event threads only hand events
 * to its own single thread, where every reaction runs in order:
 *
 * <ul>
 *   <li>a lost worker fails the batches ({@link PipelineControl#workerLost}) and the requests
 *       ({@link PlanListener#planLost}, naming the stage) of every plan that used it;
 *   <li>a new plan over the live, non-draining workers of this model and fingerprint is computed ({@link Planner}) and
 *       stored in Hazelcast by compare-and-set under an epoch above every stored one, so the workers load their ranges;
 *   <li>once every stage of the newest plan reports its epoch loaded, new requests use it
 *       ({@link PlanListener#servingPlanChanged}); older plans serve the requests already bound to them and are retired
 *       (every second) when none remain.
 * </ul>
 *
 * <p>Start-up is one phase: {@link #start} registers the listeners, and the initial membership event (which carries the
 * members present and is followed by every later change) adopts a plan stored by an earlier coordinator and plans.
 */
public final class PlanManager implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PlanManager.class);

  private final HazelcastInstance hz;
  private final String model;
  private final String fingerprint;
  private final int layers;
  private final long bytesPerLayer;
  private final PlanBook book;
  private final PlanListener listener;
  private final PipelineControl pipeline;
  private final CoordinatorMetrics metrics;
  private final ScheduledExecutorService timer;
  private final IMap<String, Plan> plans;
  private final IMap<String, Long> ready;
  private final IMap<String, String> workerState;
  private final ExecutorService events = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "caravan-plan");
    t.setDaemon(true);
    return t;
  });

  // ---- touched only on the event thread ----
  /** Workers of this model and fingerprint, by uuid. */
  private final Map<String, Member> workers = new LinkedHashMap<>();
  /** False until the initial membership event: reactions before it would plan over no workers. */
  private boolean initialized;
  /** A retirement check is waiting for the serving core's answer. */
  private boolean retiring;

  // ---- for close() ----
  private UUID readyRegistration;
  private UUID stateRegistration;
  private UUID membershipRegistration;
  private ScheduledFuture<?> retireTask;

  /**
   * @param layers        layers of the model
   * @param bytesPerLayer weight bytes of one layer (the planner keeps each worker within its memory)
   * @param book          where the plan state is published; only this manager changes it
   * @param timer         runs the retirement check every second (the check itself runs on this manager's thread)
   */
  public PlanManager(HazelcastInstance hz, String model, String fingerprint, int layers, long bytesPerLayer, PlanBook book, PlanListener listener, PipelineControl pipeline, CoordinatorMetrics metrics, ScheduledExecutorService timer) {
    this.hz = hz;
    this.model = model;
    this.fingerprint = fingerprint;
    this.layers = layers;
    this.bytesPerLayer = bytesPerLayer;
    this.book = book;
    this.listener = listener;
    this.pipeline = pipeline;
    this.metrics = metrics;
    this.timer = timer;
    this.plans = hz.getMap(ClusterNames.PLANS);
    this.ready = hz.getMap(ClusterNames.READY);
    this.workerState = hz.getMap(ClusterNames.WORKER_STATE);
  }

  /** Starts following the cluster; the first plan follows on this manager's thread. */
  public PlanManager start() {
    // map listeners first, so no change after the initial membership event is missed; reactions before it are no-ops
    readyRegistration = ready.addEntryListener(new ChangeListener<Long>(this::checkReady), false);
    stateRegistration = workerState.addEntryListener(new ChangeListener<String>(this::drainingChanged), false);
    membershipRegistration = hz.getCluster().addMembershipListener(new InitialMembershipListener() {
      @Override
      public void init(InitialMembershipEvent event) {
        List<Member> members = List.copyOf(event.getMembers());
        submit(() -> initialize(members));
      }

      @Override
      public void memberAdded(MembershipEvent event) {
        Member m = event.getMember();
        submit(() -> {
          if (workerJoined(m)) {
            replan();
          }
        });
      }

      @Override
      public void memberRemoved(MembershipEvent event) {
        Member m = event.getMember();
        submit(() -> {
          if (workerLeft(m)) {
            replan();
          }
        });
      }
    });
    retireTask = timer.scheduleWithFixedDelay(() -> submit(this::retireUnused), 1, 1, TimeUnit.SECONDS);
    return this;
  }

  /** "stage 1 (worker 127.0.0.1:7002, layers [3, 5)) was lost: ..." — the text requests of a lost plan fail with. */
  public static String lostMessage(StageAssignment s, String why) {
    return "stage " + s.index() + " (worker " + s.grpcAddress() + ", layers [" + s.layerStart() + ", " + s.layerEnd() + ")) was lost: " + why;
  }

  private void submit(Runnable reaction) {
    try {
      events.execute(() -> {
        try {
          reaction.run();
        } catch (RuntimeException e) {
          // Hazelcast shutting down, a map call timing out: the next event plans again
          LOG.warn("plan reaction failed: {}", e.toString(), e);
        }
      });
    } catch (RejectedExecutionException e) {
      // closed
    }
  }

  // ---- reactions, all on the event thread ------------------------------------------------------------------------

  private void initialize(List<Member> members) {
    // a plan left by an earlier coordinator of this cluster: if the workers are still the same it stays in use
    Plan stored = plans.get(model);
    if (stored != null) {
      book.update(s -> s.withLatest(stored));
      LOG.info("found {}", stored);
    }
    book.update(s -> s.withDraining(readDraining()));
    members.forEach(this::workerJoined);
    initialized = true;
    replan();
  }

  /** Whether {@code m} is a worker of this model and fingerprint (now known). */
  private boolean workerJoined(Member m) {
    if (!ClusterNames.ROLE_WORKER.equals(m.getAttribute(ClusterNames.ATTR_ROLE))) {
      return false;
    }
    if (!model.equals(m.getAttribute(ClusterNames.ATTR_MODEL)) || !fingerprint.equals(m.getAttribute(ClusterNames.ATTR_MODEL_FINGERPRINT))) {
      LOG.warn("worker {} at {} serves model {} ({}), not {} ({}): not planned", m.getUuid(), m.getAttribute(ClusterNames.ATTR_GRPC), m.getAttribute(ClusterNames.ATTR_MODEL), m.getAttribute(ClusterNames.ATTR_MODEL_FINGERPRINT), model, fingerprint);
      return false;
    }
    workers.put(m.getUuid().toString(), m);
    LOG.info("worker joined: {} at {}", m.getUuid(), m.getAttribute(ClusterNames.ATTR_GRPC));
    return true;
  }

  /** Whether {@code m} was one of our workers: then its batches and requests have been failed. */
  private boolean workerLeft(Member m) {
    String uuid = m.getUuid().toString();
    if (workers.remove(uuid) == null) {
      return false;
    }
    String address = m.getAttribute(ClusterNames.ATTR_GRPC);
    LOG.warn("worker left: {} at {} (t={} ms)", uuid, address, monoMillis());
    String why = "worker " + address + " left the cluster";
    pipeline.workerLost(uuid, why);
    PlanBook.Snapshot now = book.snapshot();
    for (Plan p : now.byEpoch().values()) {
      p.stageOf(uuid).ifPresent(s -> listener.planLost(p.epoch(), lostMessage(s, why)));
    }
    // its entries go with it (their removal events replan again, harmlessly)
    ready.delete(uuid);
    workerState.delete(uuid);
    if (now.serving() != null && now.serving().involves(uuid)) {
      book.update(s -> s.withServing(null));
      listener.servingPlanChanged(null, "stage lost with worker " + address + "; re-planning over the remaining workers");
    }
    return true;
  }

  private void drainingChanged() {
    if (!initialized) {
      return;
    }
    Set<String> draining = readDraining();
    if (!draining.equals(book.snapshot().drainingWorkers())) {
      book.update(s -> s.withDraining(draining));
      replan();
    }
  }

  /** The workers asked to leave, read from Hazelcast (the map, not the events, is the truth). */
  private Set<String> readDraining() {
    Set<String> draining = new HashSet<>();
    workerState.forEach((uuid, state) -> {
      if (ClusterNames.STATE_DRAINING.equals(state)) {
        draining.add(uuid);
      }
    });
    return draining;
  }

  /** Computes the plan for the workers present now and publishes it if it differs from the newest one. */
  private void replan() {
    if (!initialized) {
      return;
    }
    metrics.workers.set(workers.size());
    Set<String> draining = book.snapshot().drainingWorkers();
    List<Planner.Candidate> candidates = new ArrayList<>();
    for (Member m : workers.values()) {
      String uuid = m.getUuid().toString();
      if (!draining.contains(uuid)) {
        candidates.add(new Planner.Candidate(uuid, m.getAttribute(ClusterNames.ATTR_GRPC), ClusterMember.capacity(m), joinOrder(m)));
      }
    }
    // numbered when stored
    Plan computed = Planner.plan(0, model, layers, bytesPerLayer, candidates);
    if (computed.sameLayoutAs(book.latest())) {
      checkReady(); // e.g. the serving plan was lost and the newest one, already without the worker, may be ready
      return;
    }
    Plan next = publish(computed);
    book.update(s -> s.withLatest(next));
    if (next.isEmpty()) {
      int drainingHere = workers.size() - candidates.size();
      String reason = workers.isEmpty()
          ? "no workers: the cluster has no worker serving model " + model
          : candidates.isEmpty() ? "no workers: all " + drainingHere + " workers of model " + model + " are draining" : "the " + candidates.size() + " workers cannot hold model " + model + " (" + layers + " layers of " + bytesPerLayer + " bytes)";
      book.update(s -> s.withServing(null));
      listener.servingPlanChanged(null, reason);
      LOG.warn("no plan: {}", reason);
    } else {
      LOG.info("published {} (t={} ms)", next, monoMillis());
      checkReady();
    }
  }

  /**
   * Stores {@code computed} as this model's plan by compare-and-set: read the stored plan, number ours above both it and
   * our own newest, write only if the stored one is still that one, else read again. Another writer (an earlier
   * coordinator, or anyone) never loses an update and never gets an epoch reused.
   */
  private Plan publish(Plan computed) {
    Plan own = book.latest();
    for (int attempt = 1; ; attempt++) {
      Plan stored = plans.get(model);
      long base = Math.max(stored == null ? 0 : stored.epoch(), own == null ? 0 : own.epoch());
      Plan next = computed.withEpoch(base + 1);
      boolean written = stored == null ? plans.putIfAbsent(model, next) == null : plans.replace(model, stored, next);
      if (written) {
        return next;
      }
      LOG.debug("plan of {} changed while storing plan #{} (attempt {}): reading it again", model, next.epoch(), attempt);
    }
  }

  /** Makes the newest plan the serving one once every stage has loaded it. */
  private void checkReady() {
    if (!initialized) {
      return;
    }
    PlanBook.Snapshot now = book.snapshot();
    Plan latest = now.latest();
    if (latest == null || latest.isEmpty() || latest.equals(now.serving())) {
      return;
    }
    Map<String, Long> loaded = ready.getAll(new HashSet<>(latest.stages().stream().map(StageAssignment::workerUuid).toList()));
    for (StageAssignment s : latest.stages()) {
      Long e = loaded.get(s.workerUuid());
      if (e == null || e < latest.epoch()) {
        return;
      }
    }
    book.update(s -> s.withServing(latest));
    listener.servingPlanChanged(latest, null);
    LOG.info("serving {} (t={} ms)", latest, monoMillis());
  }

  /** Asks the serving core which epochs are still in use; the answer comes back to this thread. */
  private void retireUnused() {
    if (retiring || book.serving() == null) {
      return;
    }
    retiring = true;
    listener.oldestEpochInUse().copy().orTimeout(5, TimeUnit.SECONDS).whenComplete((oldest, error) -> submit(() -> {
      retiring = false;
      if (error != null) {
        LOG.debug("retire check failed: {}", error.toString());
      } else {
        retireBelow(oldest);
      }
    }));
  }

  private void retireBelow(long inUse) {
    PlanBook.Snapshot now = book.snapshot();
    if (now.serving() == null) {
      return;
    }
    // new requests bind to the serving plan: it and everything newer stay
    long oldest = Math.min(inUse, now.serving().epoch());
    if (now.oldestEpoch() >= oldest) {
      return;
    }
    listener.retireBelow(oldest);
    pipeline.retireBelow(oldest); // reads the retiring plans from the book: drop them only after
    book.update(s -> s.retireBelow(oldest));
    LOG.info("retired plans below #{}", oldest);
  }

  /**
   * The monotonic clock in milliseconds, stamped on the log lines of a recovery (worker lost, plan published, plan
   * serving) so the phases can be timed from the logs. On Linux {@code System.nanoTime} is CLOCK_MONOTONIC, one clock
   * for every process on the host: a worker's and the coordinator's stamps compare.
   */
  static long monoMillis() {
    return System.nanoTime() / 1_000_000;
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

  @Override
  public void close() {
    if (retireTask != null) {
      retireTask.cancel(false);
    }
    try {
      if (readyRegistration != null) {
        ready.removeEntryListener(readyRegistration);
      }
      if (stateRegistration != null) {
        workerState.removeEntryListener(stateRegistration);
      }
      if (membershipRegistration != null) {
        hz.getCluster().removeMembershipListener(membershipRegistration);
      }
    } catch (RuntimeException e) {
      // Hazelcast is already down: its listeners went with it
    }
    events.shutdownNow();
  }

  /** Any change of a map entry: hand the reaction to the plan thread. */
  private final class ChangeListener<V> implements EntryAddedListener<String, V>, EntryUpdatedListener<String, V>, EntryRemovedListener<String, V> {
    private final Runnable reaction;

    ChangeListener(Runnable reaction) {
      this.reaction = reaction;
    }

    @Override
    public void entryAdded(EntryEvent<String, V> e) {
      submit(reaction);
    }

    @Override
    public void entryUpdated(EntryEvent<String, V> e) {
      submit(reaction);
    }

    @Override
    public void entryRemoved(EntryEvent<String, V> e) {
      submit(reaction);
    }
  }
}
