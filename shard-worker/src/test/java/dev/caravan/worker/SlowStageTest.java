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
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * Backpressure through a real two-stage pipeline: stage 1 is held still, then slow; the sender pushes 40 frames into
 * stage 0 as fast as it can. Every hop keeps at most its window in flight, every worker holds at most its window, the
 * rest waits in the sender's own queue, and all 40 results still arrive, in order.
 */
class SlowStageTest {
  private static final int WINDOW = 2;
  private static final int FRAMES = 40;

  /** Polls a state the pipeline must settle in (not a result: there is nothing to wait on but the state itself). */
  private static void awaitState(BooleanSupplier settled, String what) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Pipelines.TIMEOUT_S);
    while (!settled.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "the pipeline settles: " + what);
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
    }
  }

  @Test
  void aSlowStageMakesUpstreamWaitAndKeepsEveryQueueBounded() throws Exception {
    Path model = TestData.stories260K();
    String n0 = Pipelines.name("slow-w0");
    String n1 = Pipelines.name("slow-w1");
    CountDownLatch gate = new CountDownLatch(1);
    try (Pipelines.Reference reference = new Pipelines.Reference(model);
        Pipelines.Sink sink = new Pipelines.Sink(WINDOW);
        ShardNode w0 = new ShardNode(model, 1, Channels.IN_PROCESS + n0, InProcessServerBuilder.forName(n0), WINDOW);
        ShardNode w1 = new ShardNode(model, 1, Channels.IN_PROCESS + n1, InProcessServerBuilder.forName(n1), WINDOW);
        FrameLink toStage0 = new FrameLink(FrameLink.Kind.STAGE, w0.address(), WINDOW, new FrameLink.Listener() {
          @Override
          public void onAck(long batchId, String error) {}

          @Override
          public void onLost(ActivationFrame frame, String reason) {
            throw new AssertionError("batch " + frame.getBatchId() + " lost: " + reason);
          }
        }, dev.caravan.cluster.security.ClusterTls.insecure())) {
      int vocab = reference.model.config().vocabSize();
      Plan plan = Pipelines.twoStages(1, reference.model.config().layers(), 2, w0.address(), w1.address());
      assertTrue(w0.install(plan, "w0"));
      assertTrue(w1.install(plan, "w1"));
      // stage 1: held at the gate first, then 5 ms slower than its layers per frame
      w1.beforeEachFrame(f -> {
        try {
          assertTrue(gate.await(Pipelines.TIMEOUT_S, TimeUnit.SECONDS));
          Thread.sleep(5);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });

      for (int i = 1; i <= FRAMES; i++) {
        toStage0.send(frame(i, 1, sink.address, "r:" + i, 0, i % vocab), null);
      }

      // with stage 1 held, the pipeline fills exactly to its windows and stops: stage 1 holds 2 (computing one),
      // stage 0 holds 2 computed results that its link to stage 1 has no credit for, the 2 it passed on are stage 1's,
      // and the sender keeps the other 36 in its own queue
      awaitState(() -> {
        FrameLink next = w0.router().linkTo(FrameLink.Kind.STAGE, w1.address());
        return next != null && next.queued() == WINDOW && w1.router().held() == WINDOW && w0.router().held() == WINDOW && toStage0.queued() == FRAMES - 2 * WINDOW;
      }, "stage 1 holds " + WINDOW + ", stage 0 " + WINDOW + " waiting for credit, the sender queues " + (FRAMES - 2 * WINDOW));
      FrameLink w0ToW1 = w0.router().linkTo(FrameLink.Kind.STAGE, w1.address());
      assertEquals(WINDOW, w0ToW1.inFlight(), "the frames stage 1 holds");
      assertEquals(WINDOW, toStage0.inFlight(), "the frames stage 0 holds");
      assertTrue(sink.received.isEmpty());

      gate.countDown();
      for (int i = 1; i <= FRAMES; i++) {
        ActivationFrame result = sink.take();
        assertFalse(result.hasError(), () -> result.getError().toString());
        assertEquals(i, result.getBatchId(), "results arrive in order");
        assertArrayEquals(reference.next("r:" + i, i % vocab), Pipelines.logits(result, vocab));
      }

      FrameLink w1ToSink = w1.router().linkTo(FrameLink.Kind.SINK, sink.address);
      assertNotNull(w1ToSink);
      assertEquals(WINDOW, toStage0.maxInFlightSeen(), "sender -> stage 0");
      assertEquals(WINDOW, w0ToW1.maxInFlightSeen(), "stage 0 -> stage 1");
      assertTrue(w1ToSink.maxInFlightSeen() <= WINDOW, "stage 1 -> sink: " + w1ToSink.maxInFlightSeen());
      assertEquals(WINDOW, w0.router().maxHeldSeen(), "stage 0 never held more than its window");
      assertEquals(WINDOW, w1.router().maxHeldSeen(), "stage 1 never held more than its window");
      assertTrue(sink.maxHeldSeen() <= WINDOW);
      awaitState(() -> toStage0.inFlight() == 0 && w0.router().held() == 0 && w1.router().held() == 0, "everything acknowledged");
      assertEquals(0, toStage0.queued());
    }
  }
}
