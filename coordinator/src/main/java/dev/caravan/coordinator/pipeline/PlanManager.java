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
import dev.caravan.cluster.Channels;
import dev.caravan.cluster.ClusterMember;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.Planner;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.cluster.security.JoinSecret;
import dev.caravan.coordinator.CoordinatorMetrics;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
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
 * <p>A stage is also lost when a batch on its plan fails as UNAVAILABLE ({@link #stageFailed}, from the serving core's
 * executor) and its worker's gRPC server then does not answer a health check: the worker is <em>suspected</em> and
 * planned around at once — a SIGKILLed worker is known within milliseconds, long before Hazelcast drops the member. A
 * suspect that answers again while Hazelcast still lists it is re-admitted (checked every {@link Recovery#recheck}).
 *
 * <p>With {@link Recovery#spares} above zero the planner holds workers back as spares ({@link ClusterNames#SPARES}
 * tells each which plan's ranges to keep loaded and warm); a lost stage goes to a spare, same layers, and every other
 * stage stays as it was, so the survivors keep their layers and the spare has its own loaded already.
 *
 * <p>Start-up is one phase: {@link #start} registers the listeners, and the initial membership event (which carries the
 * members present and is followed by every later change) adopts a plan stored by an earlier coordinator and plans.
 */
public final class PlanManager implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(PlanManager.class);

  /** Whether a worker's gRPC server answers at all; completes false when it does not (within its own deadline). */
  @FunctionalInterface
  public interface Probe {
    CompletableFuture<Boolean> answers(String grpcAddress);
  }

  /**
   * How lost stages are found and replaced.
   *
   * @param spares  workers to hold back as spares (0: every worker serves)
   * @param probe   asks a worker whose plan failed a batch whether it is still there
   * @param recheck how often a suspected worker that Hazelcast still lists is probed again (it is re-admitted once it answers)
   */
  public record Recovery(int spares, Probe probe, Duration recheck) {
    /** No spares; the gRPC health check with a 2 s deadline over plaintext; suspects probed again every 5 s. */
    public static Recovery defaults() {
      return defaults(ClusterTls.insecure());
    }

    /** No spares; the gRPC health check with a 2 s deadline over the cluster's TLS; suspects probed again every 5 s. */
    public static Recovery defaults(ClusterTls tls) {
      return new Recovery(0, grpcHealth(Duration.ofSeconds(2), tls), Duration.ofSeconds(5));
    }

    public Recovery withSpares(int n) {
      return new Recovery(n, probe, recheck);
    }
  }

  /**
   * Probes with the standard gRPC health check (answered on the server's gRPC threads, so a busy compute thread does
   * not look dead) over a channel of its own. Any answer — SERVING, NOT_SERVING while draining, even an error status
   * from the server — means the process is there; no connection or no answer before {@code deadline} means it is not.
   */
  public static Probe grpcHealth(Duration deadline, ClusterTls tls) {
    return address -> {
      CompletableFuture<Boolean> answered = new CompletableFuture<>();
      ManagedChannel channel = Channels.forAddress(address, tls);
      HealthGrpc.newStub(channel).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).check(HealthCheckRequest.getDefaultInstance(), new StreamObserver<>() {
        @Override
        public void onNext(HealthCheckResponse r) {
          answered.complete(true);
        }

        @Override
        public void onError(Throwable t) {
          Status.Code code = Status.fromThrowable(t).getCode();
          answered.complete(code != Status.Code.UNAVAILABLE && code != Status.Code.DEADLINE_EXCEEDED);
        }

        @Override
        public void onCompleted() {
          answered.complete(true);
        }
      });
      return answered.whenComplete((ok, e) -> channel.shutdownNow());
    };
  }

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
  private final Recovery recovery;
  private final JoinSecret secret;
  private final IMap<String, Plan> plans;
  private final IMap<String, Long> spareMap;
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
  /** Workers whose plan failed a batch and whose gRPC server then did not answer: planned around until they answer again or leave. */
  private final Set<String> suspected = new HashSet<>();
  /** Plan epochs whose failed batch has had its stages probed (one probe round per plan). */
  private final Set<Long> probed = new HashSet<>();
  /** What {@link ClusterNames#SPARES} holds as far as this manager wrote it: spare uuid -> plan epoch. */
  private Map<String, Long> sparesPublished = new HashMap<>();
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
    this(hz, model, fingerprint, layers, bytesPerLayer, book, listener, pipeline, metrics, timer, Recovery.defaults());
  }

  /** @param recovery spares, and how a suspected worker is probed */
  public PlanManager(HazelcastInstance hz, String model, String fingerprint, int layers, long bytesPerLayer, PlanBook book, PlanListener listener, PipelineControl pipeline, CoordinatorMetrics metrics, ScheduledExecutorService timer, Recovery recovery) {
    this(hz, model, fingerprint, layers, bytesPerLayer, book, listener, pipeline, metrics, timer, recovery, JoinSecret.none());
  }

  /** @param secret the cluster's join secret: a worker is planned only when its member proof checks out against it */
  public PlanManager(HazelcastInstance hz, String model, String fingerprint, int layers, long bytesPerLayer, PlanBook book, PlanListener listener, PipelineControl pipeline, CoordinatorMetrics metrics, ScheduledExecutorService timer, Recovery recovery, JoinSecret secret) {
    this.secret = secret;
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
    this.recovery = recovery;
    this.plans = hz.getMap(ClusterNames.PLANS);
    this.spareMap = hz.getMap(ClusterNames.SPARES);
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

  /**
   * A batch of plan {@code epoch} failed as UNAVAILABLE (a broken stream, a lost next hop, the step timeout): every stage
   * of that plan is probed, and a worker that does not answer is suspected and planned around at once. When every stage
   * answers, the same stages are published under a new epoch (the serving core never uses a plan that lost a batch again).
   * Any thread; one probe round per plan.
   */
  public void stageFailed(long epoch, String why) {
    submit(() -> probeStages(epoch, why));
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
    sparesPublished = new HashMap<>(spareMap); // an earlier coordinator's spares: corrected by the first plan
    members.forEach(this::workerJoined);
    initialized = true;
    replan();
  }

  /** Whether {@code m} is a worker of this model and fingerprint that proves the join secret (now known). */
  private boolean workerJoined(Member m) {
    if (!ClusterNames.ROLE_WORKER.equals(m.getAttribute(ClusterNames.ATTR_ROLE))) {
      return false;
    }
    if (!secret.verify(ClusterNames.ROLE_WORKER, m.getAttribute(ClusterNames.ATTR_GRPC), m.getAttribute(ClusterNames.ATTR_MEMBER_PROOF))) {
      LOG.warn("member {} at {} claims to be a worker but does not prove the cluster's join secret: ignored, never planned", m.getUuid(), m.getAddress());
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
    boolean wasSuspected = suspected.remove(uuid);
    String address = m.getAttribute(ClusterNames.ATTR_GRPC);
    LOG.warn("worker left: {} at {}{} (t={} ms)", uuid, address, wasSuspected ? " (suspected already)" : "", monoMillis());
    lose(uuid, address, "worker " + address + " left the cluster");
    // its entries go with it (their removal events replan again, harmlessly)
    ready.delete(uuid);
    workerState.delete(uuid);
    return true;
  }

  /** Fails what ran on {@code uuid}: batches in flight, the requests of every plan that used it, the serving plan. */
  private void lose(String uuid, String address, String why) {
    pipeline.workerLost(uuid, why);
    PlanBook.Snapshot now = book.snapshot();
    for (Plan p : now.byEpoch().values()) {
      p.stageOf(uuid).ifPresent(s -> listener.planLost(p.epoch(), lostMessage(s, why)));
    }
    if (now.serving() != null && now.serving().involves(uuid)) {
      book.update(s -> s.withServing(null));
      listener.servingPlanChanged(null, "stage lost with worker " + address + "; re-planning over the remaining workers");
    }
  }

  /** Probes every stage of plan {@code epoch} after one of its batches failed (see {@link #stageFailed}). */
  private void probeStages(long epoch, String why) {
    Plan p = book.plan(epoch);
    if (!initialized || p == null || p.isEmpty() || !probed.add(epoch)) {
      return;
    }
    LOG.info("plan #{} failed a batch ({}): probing its {} stage(s) (t={} ms)", epoch, why, p.stages().size(), monoMillis());
    List<CompletableFuture<Boolean>> answers = new ArrayList<>();
    for (StageAssignment s : p.stages()) {
      CompletableFuture<Boolean> answer = probe(s.grpcAddress());
      answers.add(answer);
      answer.thenAccept(ok -> {
        if (!ok) {
          submit(() -> suspect(s.workerUuid(), "it does not answer after a batch of plan #" + epoch + " failed"));
        }
      });
    }
    CompletableFuture.allOf(answers.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> submit(() -> everyStageAnswered(p)));
  }

  private CompletableFuture<Boolean> probe(String address) {
    try {
      return recovery.probe().answers(address).exceptionally(e -> false);
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(false);
    }
  }

  /**
   * After the probe round of {@code failed}: if its workers are all still here, none answered late as lost, and it is
   * still the newest plan, the same stages go out under a new epoch — the core does not use a plan that lost a batch.
   */
  private void everyStageAnswered(Plan failed) {
    boolean allHere = failed.stages().stream().allMatch(s -> workers.containsKey(s.workerUuid()) && !suspected.contains(s.workerUuid()));
    Plan latest = book.latest();
    if (!allHere || latest == null || latest.epoch() != failed.epoch()) {
      return;
    }
    Plan next = publish(failed.withEpoch(0));
    book.update(s -> s.withLatest(next));
    LOG.info("published {}: every stage of plan #{} answers, so the same stages under a new epoch (t={} ms)", next, failed.epoch(), monoMillis());
    updateSpares(next.epoch(), List.copyOf(sparesPublished.keySet()));
    checkReady();
  }

  /** Plans around a worker that does not answer, and probes it again later. */
  private void suspect(String uuid, String why) {
    Member m = workers.get(uuid);
    if (m == null || !suspected.add(uuid)) {
      return;
    }
    String address = m.getAttribute(ClusterNames.ATTR_GRPC);
    LOG.warn("suspected worker {} at {}: {}; planning without it (t={} ms)", uuid, address, why, monoMillis());
    lose(uuid, address, "worker " + address + " does not answer (" + why + ")");
    replan();
    recheckLater(uuid);
  }

  private void recheckLater(String uuid) {
    try {
      timer.schedule(() -> submit(() -> recheck(uuid)), recovery.recheck().toMillis(), TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // closed
    }
  }

  /** A suspect Hazelcast still lists: re-admitted once it answers (it was busy or cut off, not dead). */
  private void recheck(String uuid) {
    Member m = workers.get(uuid);
    if (m == null || !suspected.contains(uuid)) {
      return; // it left meanwhile
    }
    String address = m.getAttribute(ClusterNames.ATTR_GRPC);
    probe(address).thenAccept(ok -> submit(() -> {
      if (!workers.containsKey(uuid) || !suspected.contains(uuid)) {
        return;
      }
      if (ok) {
        suspected.remove(uuid);
        LOG.info("re-admitted worker {} at {}: it answers again and is still a member (t={} ms)", uuid, address, monoMillis());
        replan();
      } else {
        recheckLater(uuid);
      }
    }));
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
      if (!draining.contains(uuid) && !suspected.contains(uuid)) {
        candidates.add(new Planner.Candidate(uuid, m.getAttribute(ClusterNames.ATTR_GRPC), ClusterMember.capacity(m), joinOrder(m)));
      }
    }
    // numbered when stored; with spares, the stages of the newest plan stay where they can and a spare takes a lost one
    Planner.Layout layout = Planner.plan(0, model, layers, bytesPerLayer, candidates, recovery.spares(), book.latest());
    Plan computed = layout.plan();
    if (computed.sameLayoutAs(book.latest())) {
      updateSpares(book.latest().epoch(), layout.spareUuids());
      checkReady(); // e.g. the serving plan was lost and the newest one, already without the worker, may be ready
      return;
    }
    Plan next = publish(computed);
    book.update(s -> s.withLatest(next));
    updateSpares(next.epoch(), next.isEmpty() ? List.of() : layout.spareUuids());
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
   * Tells the spares (and only them) which plan's ranges to keep warm: one entry per spare in {@link ClusterNames#SPARES},
   * written only where it changed. This manager is the map's one writer, so plain writes do.
   */
  private void updateSpares(long epoch, List<String> spares) {
    Map<String, Long> want = new HashMap<>();
    spares.forEach(u -> want.put(u, epoch));
    if (want.equals(sparesPublished)) {
      return;
    }
    for (String u : sparesPublished.keySet()) {
      if (!want.containsKey(u)) {
        spareMap.delete(u);
      }
    }
    want.forEach((u, e) -> {
      if (!e.equals(sparesPublished.get(u))) {
        spareMap.set(u, e);
      }
    });
    sparesPublished = want;
    List<String> addresses = spares.stream().map(u -> workers.containsKey(u) ? workers.get(u).getAttribute(ClusterNames.ATTR_GRPC) : u).toList();
    LOG.info("spares for plan #{}: {}", epoch, addresses.isEmpty() ? "none" : String.join(", ", addresses));
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

  /**
   * Makes the newest plan the serving one once every stage has loaded it; and takes a serving plan out of service when a
   * stage's worker, still here, reports that it no longer holds the plan's layers (they were retired there), then
   * publishes the same stages under a new epoch so the workers load them again.
   */
  private void checkReady() {
    if (!initialized) {
      return;
    }
    servingStillLoaded();
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

  /** See {@link #checkReady}: false when the serving plan was taken out of service. */
  private boolean servingStillLoaded() {
    Plan serving = book.serving();
    if (serving == null || serving.isEmpty()) {
      return true;
    }
    Map<String, Long> loaded = ready.getAll(new HashSet<>(serving.stages().stream().map(StageAssignment::workerUuid).toList()));
    for (StageAssignment s : serving.stages()) {
      Long e = loaded.get(s.workerUuid());
      boolean present = workers.containsKey(s.workerUuid()) && !suspected.contains(s.workerUuid());
      if (present && (e == null || e < serving.epoch())) {
        String why = "stage " + s.index() + " (worker " + s.grpcAddress() + ") no longer holds its layers of plan #" + serving.epoch();
        LOG.warn("{}: plan #{} is not ready any more; publishing its stages again (t={} ms)", why, serving.epoch(), monoMillis());
        book.update(x -> x.withServing(null));
        listener.servingPlanChanged(null, why + "; its layers are loading again");
        Plan latest = book.latest();
        if (latest != null && latest.epoch() == serving.epoch()) { // else a newer plan is on its way already
          Plan next = publish(serving.withEpoch(0));
          book.update(x -> x.withLatest(next));
          updateSpares(next.epoch(), List.copyOf(sparesPublished.keySet()));
          LOG.info("published {} (t={} ms)", next, monoMillis());
        }
        return false;
      }
    }
    return true;
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
    probed.removeIf(e -> e < oldest);
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
