package dev.caravan.coordinator.pipeline;

import static dev.caravan.coordinator.pipeline.TestMembers.await;
import static dev.caravan.coordinator.pipeline.TestMembers.uuid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.core.EntryEvent;
import com.hazelcast.core.HazelcastInstance;
import dev.caravan.cluster.ClusterNames;
import dev.caravan.cluster.MaxEpoch;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.cluster.security.JoinSecret;
import dev.caravan.coordinator.CoordinatorMetrics;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The plan owner's part in security, against real Hazelcast members: a worker that cannot prove the join secret is never
 * planned, and a serving plan whose stage no longer holds its layers is no longer served (and comes back under a new
 * epoch once the layers are loaded again).
 */
class PlanSecurityTest {
  private static final String MODEL = "m";
  private static final String FINGERPRINT = "fp";
  private static final JoinSecret SECRET = JoinSecret.of("plan-security-test-secret", "test");

  private final TestMembers members = new TestMembers();
  private final PlanBook book = new PlanBook();
  private final PlanManagerTest.FakeListener listener = new PlanManagerTest.FakeListener();
  private final PlanManagerTest.FakePipeline pipeline = new PlanManagerTest.FakePipeline();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private BlockingQueue<EntryEvent<String, Plan>> stored;
  private HazelcastInstance coordinator;
  private PlanManager manager;

  @BeforeEach
  void setUp() {
    pipeline.book = book;
    coordinator = members.coordinator();
    stored = TestMembers.planWrites(coordinator, MODEL);
  }

  @AfterEach
  void tearDown() {
    if (manager != null) {
      manager.close();
    }
    timer.shutdownNow();
    members.close();
  }

  private void startManager() {
    PlanManager.Recovery recovery = new PlanManager.Recovery(0, address -> CompletableFuture.completedFuture(true), java.time.Duration.ofSeconds(5));
    manager = new PlanManager(coordinator, MODEL, FINGERPRINT, 8, 1000, book, listener, pipeline, new CoordinatorMetrics(), timer, recovery, SECRET).start();
  }

  /** A worker member whose proof is {@code proof} (null: none). */
  private HazelcastInstance worker(String address, String proof) {
    Map<String, String> attrs = new HashMap<>();
    attrs.put(ClusterNames.ATTR_ROLE, ClusterNames.ROLE_WORKER);
    attrs.put(ClusterNames.ATTR_GRPC, address);
    attrs.put(ClusterNames.ATTR_MODEL, MODEL);
    attrs.put(ClusterNames.ATTR_MODEL_FINGERPRINT, FINGERPRINT);
    attrs.put(ClusterNames.ATTR_MEMORY, Long.toString(1L << 40));
    attrs.put(ClusterNames.ATTR_CORES, "2");
    attrs.put(ClusterNames.ATTR_SECONDS_PER_LAYER, "0.01");
    if (proof != null) {
      attrs.put(ClusterNames.ATTR_MEMBER_PROOF, proof);
    }
    return members.start(attrs, true);
  }

  private static void ready(HazelcastInstance w, long epoch) {
    w.<String, Long>getMap(ClusterNames.READY).executeOnKey(uuid(w), new MaxEpoch(epoch));
  }

  private static List<String> workersOf(Plan p) {
    return p.stages().stream().map(StageAssignment::workerUuid).toList();
  }

  @Test
  void aWorkerWithoutAValidProofIsNeverPlanned() throws Exception {
    HazelcastInstance noProof = worker("127.0.0.1:7001", null);
    HazelcastInstance copied = worker("127.0.0.1:7002", SECRET.memberProof(ClusterNames.ROLE_WORKER, "127.0.0.1:7009")); // another member's proof
    HazelcastInstance foreign = worker("127.0.0.1:7003", JoinSecret.of("another-secret-of-16+", "test").memberProof(ClusterNames.ROLE_WORKER, "127.0.0.1:7003"));
    HazelcastInstance real = worker("127.0.0.1:7004", SECRET.memberProof(ClusterNames.ROLE_WORKER, "127.0.0.1:7004"));
    assertEquals(5, coordinator.getCluster().getMembers().size(), "they all are Hazelcast members (the test gave them the cluster name)");
    startManager();
    Plan p = TestMembers.awaitPlan(stored, x -> !x.isEmpty(), "a plan");
    assertEquals(List.of(uuid(real)), workersOf(p), "only the worker that proves the secret is planned");
    for (HazelcastInstance w : List.of(noProof, copied, foreign)) {
      assertTrue(p.stageOf(uuid(w)).isEmpty());
    }
  }

  @Test
  void aServingPlanWhoseStageLostItsLayersIsNotReadyAndIsPublishedAgain() throws Exception {
    HazelcastInstance w1 = worker("127.0.0.1:7001", SECRET.memberProof(ClusterNames.ROLE_WORKER, "127.0.0.1:7001"));
    HazelcastInstance w2 = worker("127.0.0.1:7002", SECRET.memberProof(ClusterNames.ROLE_WORKER, "127.0.0.1:7002"));
    startManager();
    Plan p1 = TestMembers.awaitPlan(stored, x -> x.stages().size() == 2, "a plan over both workers");
    ready(w1, p1.epoch());
    ready(w2, p1.epoch());
    await(listener.changes, c -> p1.equals(c.plan()), "serving " + p1);

    // w2's layers of the plan were retired: it reports that it holds none (what ShardWorker does after such a Release)
    w2.<String, Long>getMap(ClusterNames.READY).delete(uuid(w2));
    PlanManagerTest.Change lost = await(listener.changes, c -> c.plan() == null, "the plan taken out of service");
    assertTrue(lost.reason().contains("no longer holds its layers of plan #" + p1.epoch()), lost.reason());
    assertNull(book.serving(), "ListModels and ClusterStatus no longer call it ready");

    Plan p2 = TestMembers.awaitPlan(stored, x -> x.epoch() > p1.epoch(), "the same stages under a new epoch");
    assertTrue(p2.sameLayoutAs(p1));
    ready(w1, p2.epoch());
    ready(w2, p2.epoch());
    await(listener.changes, c -> p2.equals(c.plan()), "serving " + p2);
  }
}
