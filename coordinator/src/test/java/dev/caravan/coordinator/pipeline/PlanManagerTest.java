package dev.caravan.coordinator.pipeline;

import static dev.caravan.coordinator.pipeline.TestMembers.await;
import static dev.caravan.coordinator.pipeline.TestMembers.uuid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.map.IMap;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.MaxEpoch;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.coordinator.CoordinatorMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The plan owner against real Hazelcast members in this JVM: a coordinator (data) member runs the PlanManager, worker
 * members carry the attributes it checks and report "loaded" through {@code caravan.ready} like shard workers do. The
 * serving core and the pipeline are fakes that record what they are told.
 */
class PlanManagerTest {
  private static final String MODEL = "m";
  private static final String FINGERPRINT = "fp";
  private static final int LAYERS = 8;
  private static final long BYTES_PER_LAYER = 1000;

  /** What the serving core was told. */
  record Change(Plan plan, String reason) {}

  record Lost(long epoch, String message) {}

  static final class FakeListener implements PlanListener {
    final BlockingQueue<Change> changes = new LinkedBlockingQueue<>();
    final BlockingQueue<Lost> lost = new LinkedBlockingQueue<>();
    final BlockingQueue<Long> retired = new LinkedBlockingQueue<>();
    volatile long inUse = Long.MAX_VALUE;

    @Override
    public void servingPlanChanged(Plan plan, String unavailableReason) {
      changes.add(new Change(plan, unavailableReason));
    }

    @Override
    public void planLost(long epoch, String message) {
      lost.add(new Lost(epoch, message));
    }

    @Override
    public CompletableFuture<Long> oldestEpochInUse() {
      return CompletableFuture.completedFuture(inUse);
    }

    @Override
    public void retireBelow(long epoch) {
      retired.add(epoch);
    }
  }

  /** Records the transport's calls; checks that retiring plans are still in the book when it is told. */
  static final class FakePipeline implements PipelineControl {
    final BlockingQueue<List<String>> lost = new LinkedBlockingQueue<>();
    final BlockingQueue<Long> retired = new LinkedBlockingQueue<>();
    final AtomicBoolean retiredPlansWereInBook = new AtomicBoolean(true);
    PlanBook book;

    @Override
    public void workerLost(String workerUuid, String why) {
      lost.add(List.of(workerUuid, why));
    }

    @Override
    public void retireBelow(long epoch) {
      if (book.snapshot().oldestEpoch() >= epoch) {
        retiredPlansWereInBook.set(false);
      }
      retired.add(epoch);
    }
  }

  private final TestMembers members = new TestMembers();
  private final PlanBook book = new PlanBook();
  private final FakeListener listener = new FakeListener();
  private final FakePipeline pipeline = new FakePipeline();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  /** Every write of this model's plan into caravan.plans, in order (old and new value). */
  private BlockingQueue<EntryEvent<String, Plan>> writes;
  private HazelcastInstance coordinator;
  private PlanManager manager;

  @BeforeEach
  void setUp() {
    pipeline.book = book;
    coordinator = members.coordinator();
    writes = TestMembers.planWrites(coordinator, MODEL);
  }

  @AfterEach
  void tearDown() {
    if (manager != null) {
      manager.close();
    }
    timer.shutdownNow();
    members.close();
  }

  /** Addresses whose gRPC server does not answer the probe. */
  private final java.util.Set<String> silent = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final PlanManager.Probe probe = address -> CompletableFuture.completedFuture(!silent.contains(address));

  private void startManager() {
    manager = new PlanManager(coordinator, MODEL, FINGERPRINT, LAYERS, BYTES_PER_LAYER, book, listener, pipeline, new CoordinatorMetrics(), timer).start();
  }

  private void startManager(int spares) {
    manager = new PlanManager(coordinator, MODEL, FINGERPRINT, LAYERS, BYTES_PER_LAYER, book, listener, pipeline, new CoordinatorMetrics(), timer,
        new PlanManager.Recovery(spares, probe, java.time.Duration.ofMillis(200))).start();
  }

  private Long spareEntry(HazelcastInstance w) {
    return coordinator.<String, Long>getMap(ClusterNames.SPARES).get(uuid(w));
  }

  private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TestMembers.TIMEOUT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        org.junit.jupiter.api.Assertions.fail("timed out waiting for " + what);
      }
      Thread.sleep(20);
    }
  }

  private HazelcastInstance worker(int n) {
    return members.worker(address(n), MODEL, FINGERPRINT);
  }

  private static String address(int n) {
    return "127.0.0.1:" + (7000 + n);
  }

  /** What a shard worker does once its layers of plan {@code epoch} are loaded. */
  private static void ready(HazelcastInstance worker, long epoch) {
    worker.<String, Long>getMap(ClusterNames.READY).executeOnKey(uuid(worker), new MaxEpoch(epoch));
  }

  private Plan awaitStored(java.util.function.Predicate<Plan> matches, String what) throws InterruptedException {
    return TestMembers.awaitPlan(writes, matches, what);
  }

  private Plan awaitServing(Plan plan) throws InterruptedException {
    return await(listener.changes, c -> plan.equals(c.plan()), "serving " + plan).plan();
  }

  private static List<String> workersOf(Plan p) {
    return p.stages().stream().map(StageAssignment::workerUuid).toList();
  }

  @Test
  void firstPlanCoversTheLayersAndServesOnceEveryStageHasLoadedIt() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance w2 = worker(2);
    startManager();

    Plan p = awaitStored(x -> true, "the first plan");
    assertEquals(1, p.epoch());
    assertEquals(List.of(uuid(w1), uuid(w2)), workersOf(p), "join order");
    assertEquals(0, p.stages().get(0).layerStart());
    assertEquals(LAYERS, p.stages().get(1).layerEnd());

    ready(w1, 1);
    ready(w2, 1);
    Change c = await(listener.changes, x -> x.plan() != null, "a serving plan");
    assertEquals(p, c.plan());
    assertNull(c.reason());
    assertEquals(p, book.serving());
    assertEquals(p, book.latest());
    assertEquals(p, book.plan(1));
  }

  @Test
  void aJoiningWorkerYieldsANewEpochAndUnusedPlansRetire() throws Exception {
    HazelcastInstance w1 = worker(1);
    startManager();
    Plan p1 = awaitStored(x -> !x.isEmpty(), "the first plan");
    assertEquals(1, p1.epoch());
    assertEquals(List.of(uuid(w1)), workersOf(p1));
    ready(w1, 1);
    awaitServing(p1);

    HazelcastInstance w2 = worker(2);
    Plan p2 = awaitStored(x -> x.stages().size() == 2, "a plan over both workers");
    assertEquals(2, p2.epoch());
    ready(w1, 2);
    ready(w2, 2);
    awaitServing(p2);

    // nothing uses plan #1 any more: the next retirement check drops it everywhere
    assertEquals(2L, await(listener.retired, e -> true, "retirement in the serving core"));
    assertEquals(2L, await(pipeline.retired, e -> true, "retirement in the pipeline"));
    assertTrue(pipeline.retiredPlansWereInBook.get(), "the pipeline reads the retiring plans from the book");

    // reactions run in order on the plan thread: by the time plan #3 serves, #1 is out of the book
    HazelcastInstance w3 = worker(3);
    Plan p3 = awaitStored(x -> x.stages().size() == 3, "a plan over three workers");
    assertEquals(3, p3.epoch());
    for (HazelcastInstance w : List.of(w1, w2, w3)) {
      ready(w, 3);
    }
    awaitServing(p3);
    assertNull(book.plan(1));
  }

  @Test
  void aWorkerOfAnotherModelFingerprintIsNotPlanned() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance stranger = members.worker(address(2), MODEL, "another-fingerprint");
    startManager();
    Plan p1 = awaitStored(x -> true, "the first plan");
    assertEquals(List.of(uuid(w1)), workersOf(p1));

    HazelcastInstance w3 = worker(3);
    Plan p2 = awaitStored(x -> x.stages().size() == 2, "a plan with the new worker");
    assertEquals(List.of(uuid(w1), uuid(w3)), workersOf(p2));
    assertFalse(p2.involves(uuid(stranger)));
  }

  @Test
  void aLostWorkerFailsItsPlansAndIsPlannedAround() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance w2 = worker(2);
    startManager();
    Plan p1 = awaitStored(x -> true, "the first plan");
    ready(w1, 1);
    ready(w2, 1);
    awaitServing(p1);
    String lostUuid = uuid(w2);
    StageAssignment lostStage = p1.stageOf(lostUuid).orElseThrow();

    members.stop(w2);

    assertEquals(List.of(lostUuid, "worker 127.0.0.1:7002 left the cluster"), await(pipeline.lost, x -> true, "workerLost"));
    Lost lost = await(listener.lost, x -> true, "planLost");
    assertEquals(1, lost.epoch());
    assertEquals("stage 1 (worker 127.0.0.1:7002, layers [" + lostStage.layerStart() + ", 8)) was lost: worker 127.0.0.1:7002 left the cluster", lost.message());
    Change none = await(listener.changes, x -> true, "the serving plan withdrawn");
    assertNull(none.plan());
    assertEquals("stage lost with worker 127.0.0.1:7002; re-planning over the remaining workers", none.reason());

    Plan p2 = awaitStored(x -> x.epoch() == 2, "a plan without the lost worker");
    assertEquals(List.of(uuid(w1)), workersOf(p2));
    assertEquals(LAYERS, p2.stages().get(0).layerEnd());
    ready(w1, 2);
    awaitServing(p2);
    assertEquals(p2, book.serving());
  }

  @Test
  void aDrainingWorkerIsPlannedAroundWhileTheOldPlanServes() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance w2 = worker(2);
    startManager();
    Plan p1 = awaitStored(x -> true, "the first plan");
    ready(w1, 1);
    ready(w2, 1);
    awaitServing(p1);

    w2.<String, String>getMap(ClusterNames.WORKER_STATE).put(uuid(w2), ClusterNames.STATE_DRAINING);

    Plan p2 = awaitStored(x -> x.epoch() == 2, "a plan without the draining worker");
    assertEquals(List.of(uuid(w1)), workersOf(p2));
    ready(w1, 2);
    // the next change is straight to plan #2: the draining worker's plan kept serving until then
    Change next = await(listener.changes, x -> true, "the next serving change");
    assertEquals(p2, next.plan());
    assertTrue(book.isDraining(uuid(w2)));
    assertFalse(book.isDraining(uuid(w1)));
  }

  @Test
  void anotherWritersNewerEpochIsBuiltOnNotOverwritten() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance rival = members.other(true);
    startManager();
    Plan p1 = awaitStored(x -> true, "the first plan");

    IMap<String, Plan> rivalPlans = rival.getMap(ClusterNames.PLANS);
    Plan theirs = Plan.empty(41, MODEL, LAYERS);
    assertTrue(rivalPlans.replace(MODEL, p1, theirs));
    awaitStored(theirs::equals, "the rival's plan");

    worker(2);
    EntryEvent<String, Plan> ours = await(writes, e -> e.getValue().stages().size() == 2, "our next plan");
    assertEquals(42, ours.getValue().epoch(), "above the newer stored epoch");
    assertEquals(theirs, ours.getOldValue(), "written over the rival's plan, which it had read");
  }

  @Test
  void concurrentWritersLoseNoUpdate() throws Exception {
    worker(1);
    HazelcastInstance rival = members.other(true);
    startManager();
    Plan first = awaitStored(x -> true, "the first plan");
    List<EntryEvent<String, Plan>> seen = new ArrayList<>();

    // the rival writes plan after plan by compare-and-set until our three-worker plan is stored
    IMap<String, Plan> rivalPlans = rival.getMap(ClusterNames.PLANS);
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger rivalWrites = new AtomicInteger();
    CompletableFuture<Void> rivalDone = CompletableFuture.runAsync(() -> {
      while (!stop.get() && rivalWrites.get() < 5000) {
        Plan stored = rivalPlans.get(MODEL);
        if (rivalPlans.replace(MODEL, stored, Plan.empty(stored.epoch() + 1, MODEL, LAYERS))) {
          rivalWrites.incrementAndGet();
        }
      }
    });
    worker(2);
    worker(3);
    Plan last = null;
    while (last == null) {
      EntryEvent<String, Plan> e = await(writes, x -> true, "plan writes until our three-worker plan");
      seen.add(e);
      if (e.getValue().stages().size() == 3) {
        last = e.getValue();
      }
    }
    stop.set(true);
    rivalDone.get(30, TimeUnit.SECONDS);
    // the rival's writes after ours
    Plan stored = coordinator.<String, Plan>getMap(ClusterNames.PLANS).get(MODEL);
    while (!seen.get(seen.size() - 1).getValue().equals(stored)) {
      seen.add(await(writes, x -> true, "the rival's last writes"));
    }

    // one unbroken chain: every write replaced the one before it, epochs strictly grow, none is missing
    Plan previous = first;
    int rivals = 0;
    for (EntryEvent<String, Plan> e : seen) {
      assertEquals(previous, e.getOldValue(), "write of " + e.getValue() + " replaced what was stored");
      assertTrue(e.getValue().epoch() > previous.epoch());
      rivals += e.getValue().isEmpty() ? 1 : 0;
      previous = e.getValue();
    }
    assertEquals(rivalWrites.get(), rivals, "every rival write is in the chain");
    assertTrue(rivals > 0, "the rival wrote concurrently");
    assertNotNull(last);
  }

  @Test
  void aLostStageIsReplacedByTheSpareWithEveryOtherStageUnchanged() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance w2 = worker(2);
    HazelcastInstance w3 = worker(3);
    startManager(1);
    Plan p1 = awaitStored(x -> !x.isEmpty(), "the first plan");
    assertEquals(List.of(uuid(w1), uuid(w2)), workersOf(p1), "the newest worker is held back");
    awaitTrue(() -> Long.valueOf(p1.epoch()).equals(spareEntry(w3)), "w3 told it is the spare of plan #" + p1.epoch());
    assertNull(spareEntry(w1));
    ready(w1, p1.epoch());
    ready(w2, p1.epoch());
    awaitServing(p1);

    members.stop(w2);

    Lost lost = await(listener.lost, x -> true, "planLost");
    assertEquals(p1.epoch(), lost.epoch());
    Plan p2 = awaitStored(x -> x.epoch() > p1.epoch(), "a plan with the spare in the lost stage's place");
    assertEquals(List.of(uuid(w1), uuid(w3)), workersOf(p2));
    assertEquals(p1.stages().get(0), p2.stages().get(0), "stage 0 unchanged: same worker, same layers");
    assertEquals(p1.stages().get(1).range(), p2.stages().get(1).range(), "the spare takes the lost stage's layers");
    assertEquals(address(3), p2.stages().get(1).grpcAddress());
    awaitTrue(() -> spareEntry(w3) == null, "w3 no longer a spare");
    ready(w1, p2.epoch());
    ready(w3, p2.epoch());
    awaitServing(p2);

    // a replacement becomes the next spare; the serving plan stays
    HazelcastInstance w4 = worker(4);
    awaitTrue(() -> Long.valueOf(p2.epoch()).equals(spareEntry(w4)), "w4 the spare of plan #" + p2.epoch());
    assertEquals(p2, book.latest(), "no new plan for a new spare");
  }

  @Test
  void aStageThatStopsAnsweringIsPlannedAroundAtOnceAndReadmittedWhenItAnswersAgain() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance w2 = worker(2);
    startManager(0);
    Plan p1 = awaitStored(x -> x.stages().size() == 2, "the first plan");
    ready(w1, p1.epoch());
    ready(w2, p1.epoch());
    awaitServing(p1);

    silent.add(address(2)); // w2 is still a Hazelcast member, but its gRPC server is gone
    manager.stageFailed(p1.epoch(), "stream to stage 0 failed");

    assertEquals(uuid(w2), await(pipeline.lost, x -> true, "workerLost").get(0));
    assertTrue(await(listener.lost, x -> true, "planLost").message().startsWith("stage 1 (worker 127.0.0.1:7002"));
    Plan p2 = awaitStored(x -> x.epoch() > p1.epoch(), "a plan without the suspect");
    assertEquals(List.of(uuid(w1)), workersOf(p2));
    ready(w1, p2.epoch());
    awaitServing(p2);

    silent.clear(); // it answers again: re-admitted
    Plan p3 = awaitStored(x -> x.stages().size() == 2, "a plan with the re-admitted worker");
    assertEquals(List.of(uuid(w1), uuid(w2)), workersOf(p3));
  }

  @Test
  void aFailedBatchWhoseStagesAllAnswerGetsTheSameStagesUnderANewEpoch() throws Exception {
    HazelcastInstance w1 = worker(1);
    HazelcastInstance w2 = worker(2);
    startManager(0);
    Plan p1 = awaitStored(x -> x.stages().size() == 2, "the first plan");
    ready(w1, p1.epoch());
    ready(w2, p1.epoch());
    awaitServing(p1);

    manager.stageFailed(p1.epoch(), "a stream broke");
    manager.stageFailed(p1.epoch(), "another batch of the same plan"); // one probe round per plan

    Plan p2 = awaitStored(x -> x.epoch() > p1.epoch(), "the same stages under a new epoch");
    assertTrue(p2.sameLayoutAs(p1));
    ready(w1, p2.epoch());
    ready(w2, p2.epoch());
    awaitServing(p2);
    assertTrue(pipeline.lost.isEmpty(), "no worker was lost");
    Thread.sleep(300);
    assertEquals(p2, book.latest(), "one new epoch, not one per report");
  }
}
