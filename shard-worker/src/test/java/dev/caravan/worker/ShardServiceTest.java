package dev.caravan.worker;

import static dev.caravan.worker.Pipelines.frame;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Channels;
import dev.caravan.cluster.FrameLink;
import dev.caravan.cluster.Plan;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ShardGrpc;
import dev.caravan.proto.v1.ShardStatusRequest;
import dev.caravan.proto.v1.ShardStatusResponse;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Shard service end to end in one JVM: two ShardNodes (stage 0 and stage 1 of stories260K) and a sink, all
 * in-process, driven through a FrameLink the way the coordinator drives stage 0.
 */
class ShardServiceTest {
  private final Path model = TestData.stories260K();
  private Pipelines.Reference reference;
  private Pipelines.Sink sink;
  private ShardNode w0;
  private ShardNode w1;
  private FrameLink toStage0;
  private final BlockingQueue<String> acks = new LinkedBlockingQueue<>();
  private final BlockingQueue<String> lost = new LinkedBlockingQueue<>();
  private int vocab;

  @BeforeEach
  void setUp() throws Exception {
    reference = new Pipelines.Reference(model);
    vocab = reference.model.config().vocabSize();
    sink = new Pipelines.Sink(4);
    String n0 = Pipelines.name("w0");
    String n1 = Pipelines.name("w1");
    w0 = new ShardNode(model, 1, Channels.IN_PROCESS + n0, InProcessServerBuilder.forName(n0), 4);
    w1 = new ShardNode(model, 1, Channels.IN_PROCESS + n1, InProcessServerBuilder.forName(n1), 4);
    Plan plan = Pipelines.twoStages(1, reference.model.config().layers(), 3, w0.address(), w1.address());
    assertTrue(w0.install(plan, "w0"));
    assertTrue(w1.install(plan, "w1"));
    toStage0 = new FrameLink(FrameLink.Kind.STAGE, w0.address(), 4, new FrameLink.Listener() {
      @Override
      public void onAck(long batchId, String error) {
        acks.add(batchId + ":" + error);
      }

      @Override
      public void onLost(ActivationFrame frame, String reason) {
        lost.add(frame.getBatchId() + ":" + reason);
      }
    }, dev.caravan.cluster.security.ClusterTls.insecure());
  }

  @AfterEach
  void tearDown() throws Exception {
    toStage0.close();
    w0.close();
    w1.close();
    sink.close();
    reference.close();
  }

  private String ack() throws InterruptedException {
    String a = acks.poll(Pipelines.TIMEOUT_S, TimeUnit.SECONDS);
    assertNotNull(a, "stage 0 acknowledges the frame");
    return a;
  }

  @Test
  void aFrameSentToStageZeroComesBackAsTheLogitsOfTheWholeModel() throws Exception {
    toStage0.send(frame(1, 1, sink.address, "s:a", 0, 1, 30, 200), null);
    ActivationFrame result = sink.take();
    assertFalse(result.hasError(), () -> result.getError().toString());
    assertEquals(1, result.getBatchId());
    assertEquals(2, result.getStage());
    assertArrayEquals(reference.next("s:a", 1, 30, 200), Pipelines.logits(result, vocab));
    assertEquals("1:", ack(), "acknowledged without error once passed on");

    toStage0.send(frame(2, 1, sink.address, "s:a", 3, 17), null);
    assertArrayEquals(reference.next("s:a", 17), Pipelines.logits(sink.take(), vocab));
    assertEquals("2:", ack());

    ManagedChannel channel = Channels.forAddress(w1.address());
    try {
      ShardStatusResponse status = ShardGrpc.newBlockingStub(channel).status(ShardStatusRequest.getDefaultInstance());
      assertEquals("w1", status.getWorkerUuid());
      assertEquals(1, status.getStages(0).getStage());
      assertEquals(4, status.getStages(0).getSessions(0).getTokens());
    } finally {
      Channels.close(channel);
    }
  }

  @Test
  void controlFieldsAreValidatedAndAnEpochFromTheFutureRetiresNothing() throws Exception {
    // the plan installed in setUp is #1: nothing later is known to these workers
    toStage0.send(frame(1, 1, sink.address, "s:c", 0, 5, 6), null);
    assertArrayEquals(reference.next("s:c", 5, 6), Pipelines.logits(sink.take(), vocab));
    ack();
    ManagedChannel channel = Channels.forAddress(w1.address());
    try {
      var stub = ShardGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
      io.grpc.StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class,
          () -> stub.release(ReleaseRequest.newBuilder().setRetireBelowEpoch(1L << 62).build()));
      assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
      assertTrue(e.getStatus().getDescription().contains("later than the newest plan this worker knows (#1)"), e.getStatus().toString());
      e = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class, () -> stub.release(ReleaseRequest.newBuilder().setRetireBelowEpoch(2).build()));
      assertEquals(io.grpc.Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), "one past the newest is the future too");
      e = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class, () -> stub.release(ReleaseRequest.newBuilder().setPlanEpoch(-1).build()));
      assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
      e = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class, () -> stub.release(ReleaseRequest.newBuilder().addCacheKeys("s:" + "x".repeat(300)).build()));
      assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
      // the stage and the session are still there, and the next step runs
      ShardStatusResponse status = stub.status(ShardStatusRequest.getDefaultInstance());
      assertEquals(1, status.getStages(0).getPlanEpoch());
      assertEquals(2, status.getStages(0).getSessions(0).getTokens());
      // retiring below the newest plan is what the coordinator does: allowed, and it drops nothing of plan #1
      assertEquals(0, stub.release(ReleaseRequest.newBuilder().setRetireBelowEpoch(1).build()).getSessionsReleased());
    } finally {
      Channels.close(channel);
    }
    toStage0.send(frame(2, 1, sink.address, "s:c", 2, 7), null);
    assertArrayEquals(reference.next("s:c", 7), Pipelines.logits(sink.take(), vocab));
  }

  @Test
  void aFrameAStageFailsReachesTheSinkAsAnErrorFrameNamingThatStage() throws Exception {
    toStage0.send(frame(1, 1, sink.address, "s:b", 0, 5, 6), null);
    sink.take();
    ack();
    // stage 1 forgets the session (Release RPC); stage 0 still holds it, so the next step fails on stage 1
    ManagedChannel channel = Channels.forAddress(w1.address());
    try {
      assertEquals(1, ShardGrpc.newBlockingStub(channel).release(ReleaseRequest.newBuilder().addCacheKeys("s:b").build()).getSessionsReleased());
    } finally {
      Channels.close(channel);
    }
    toStage0.send(frame(2, 1, sink.address, "s:b", 2, 7), null);
    ActivationFrame error = sink.take();
    assertTrue(error.hasError());
    assertEquals(2, error.getBatchId());
    assertEquals(1, error.getError().getStage());
    assertEquals(w1.address(), error.getError().getWorkerAddress());
    assertEquals("FAILED_PRECONDITION", error.getError().getCode());
    assertEquals("2:", ack(), "stage 0 passed it on");

    // a frame stage 0 cannot run names stage 0, and stage 0's ack carries the error
    toStage0.send(frame(3, 1, sink.address, "s:none", 9, 7), null);
    ActivationFrame early = sink.take();
    assertEquals(0, early.getError().getStage());
    assertEquals(w0.address(), early.getError().getWorkerAddress());
    assertTrue(ack().startsWith("3:session s:none continues at position 9"));
  }

  @Test
  void whenTheNextStageIsGoneTheSinkHearsWhichStageWasLost() throws Exception {
    w1.close();
    toStage0.send(frame(1, 1, sink.address, "s:c", 0, 3), null);
    ActivationFrame error = sink.take();
    assertEquals(1, error.getBatchId());
    assertEquals("UNAVAILABLE", error.getError().getCode());
    assertEquals(1, error.getError().getStage(), "names the lost stage");
    assertEquals(w1.address(), error.getError().getWorkerAddress(), "and the lost stage's worker, not the reporter");
    assertTrue(error.getError().getMessage().startsWith("lost: next stage at " + w1.address()), error.getError().getMessage());
    assertTrue(ack().startsWith("1:not passed on"), "stage 0's slot is freed with the loss");
    assertTrue(lost.isEmpty(), "stage 0 itself acknowledged the frame");
    assertEquals(0, w0.router().held());
  }

  @Test
  void aFreshWorkerSendsOneFrameThroughItsOwnPathBeforeItsFirstStageServes() throws Exception {
    String n2 = Pipelines.name("fresh");
    try (ShardNode fresh = new ShardNode(model, 1, Channels.IN_PROCESS + n2, InProcessServerBuilder.forName(n2), 4)) {
      int layers = reference.model.config().layers();
      assertTrue(fresh.install(Pipelines.twoStages(1, layers, 3, w0.address(), fresh.address()), "w1"));
      assertEquals(4.0, fresh.metrics().tokens.labelValues("1").get(), 0.0, "the warm-up frame's four tokens went through stage 1");
      assertEquals(1, fresh.stageCount().get(5, TimeUnit.SECONDS), "and its warm-up epoch is gone again");
      // once per process: the next plan's stage does not warm up again
      assertTrue(fresh.install(Pipelines.twoStages(2, layers, 2, w0.address(), fresh.address()), "w1"));
      assertEquals(4.0, fresh.metrics().tokens.labelValues("1").get(), 0.0);
    }
  }

  @Test
  void aSpareWarmsEveryRangeAheadAndTakesOverALostStageWithItsLayersLoaded() throws Exception {
    String n2 = Pipelines.name("spare");
    try (ShardNode spare = new ShardNode(model, 1, Channels.IN_PROCESS + n2, InProcessServerBuilder.forName(n2), 4)) {
      Plan plan = Pipelines.twoStages(1, reference.model.config().layers(), 3, w0.address(), w1.address());
      assertEquals(2, spare.warmAsSpare(plan, java.time.Duration.ZERO), "both ranges opened and run once through its own frame path");
      assertEquals(0, spare.warmAsSpare(plan, java.time.Duration.ZERO), "already open");
      assertEquals(0, spare.stageCount().get(5, TimeUnit.SECONDS), "the warm-up serves no plan");

      toStage0.send(frame(1, 1, sink.address, "s:d", 0, 1, 30), null);
      sink.take();
      ack();
      w1.close(); // stage 1 is lost: the spare takes its place, stage 0 stays as it is
      Plan next = Pipelines.twoStages(2, reference.model.config().layers(), 3, w0.address(), spare.address());
      assertTrue(w0.install(next, "w0"));
      assertTrue(spare.install(next, "w1")); // twoStages names stage 1's worker "w1"
      toStage0.send(frame(2, 2, sink.address, "s:e", 0, 1, 30, 200), null);
      ActivationFrame result = sink.take();
      while (result.getBatchId() != 2) {
        result = sink.take(); // stage 0's report of batch 1, which w1 never acknowledged before it went
      }
      ActivationFrame logits = result;
      assertFalse(logits.hasError(), () -> logits.getError().toString());
      assertArrayEquals(reference.next("s:e", 1, 30, 200), Pipelines.logits(logits, vocab));
    }
  }
}
