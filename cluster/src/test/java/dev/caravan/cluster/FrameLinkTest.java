package dev.caravan.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The frame stream's flow control on its own: in-process servers written here, no model. */
class FrameLinkTest {
  private static final long TIMEOUT_S = 10;

  private final String name = "frame-link-" + UUID.randomUUID();
  private final String address = Channels.IN_PROCESS + name;
  private final List<AutoCloseable> resources = new ArrayList<>();
  private Server server;

  @AfterEach
  void tearDown() throws Exception {
    Collections.reverse(resources);
    for (AutoCloseable r : resources) {
      r.close();
    }
    if (server != null) {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static ActivationFrame frame(long id) {
    return ActivationFrame.newBuilder().setBatchId(id).build();
  }

  /** What a link's listener heard. */
  private static final class Heard implements FrameLink.Listener {
    final List<Long> acked = new CopyOnWriteArrayList<>();
    final List<Long> lost = new CopyOnWriteArrayList<>();
    final List<String> reasons = new CopyOnWriteArrayList<>();
    final BlockingQueue<Long> ackEvents = new LinkedBlockingQueue<>();
    final BlockingQueue<Long> lossEvents = new LinkedBlockingQueue<>();

    @Override
    public void onAck(long batchId, String error) {
      acked.add(batchId);
      ackEvents.add(batchId);
    }

    @Override
    public void onLost(ActivationFrame frame, String reason) {
      lost.add(frame.getBatchId());
      reasons.add(reason);
      lossEvents.add(frame.getBatchId());
    }

    void awaitAcks(int n) throws InterruptedException {
      for (int i = 0; i < n; i++) {
        assertNotNull(ackEvents.poll(TIMEOUT_S, TimeUnit.SECONDS), "ack " + (i + 1) + " of " + n);
      }
    }

    void awaitLosses(int n) throws InterruptedException {
      for (int i = 0; i < n; i++) {
        assertNotNull(lossEvents.poll(TIMEOUT_S, TimeUnit.SECONDS), "loss " + (i + 1) + " of " + n);
      }
    }
  }

  /**
   * A sink with gRPC's automatic flow control (it would take any number of frames) whose acks the test sends: only the
   * link's window bounds what arrives. Counts the most frames it ever held unacknowledged.
   */
  private static final class ManualSink extends PipelineSinkGrpc.PipelineSinkImplBase {
    final BlockingQueue<ActivationFrame> received = new LinkedBlockingQueue<>();
    final List<StreamObserver<FrameAck>> streams = new CopyOnWriteArrayList<>();
    private final List<Long> unacked = new ArrayList<>();
    private int maxUnacked;

    @Override
    public StreamObserver<ActivationFrame> deliver(StreamObserver<FrameAck> acks) {
      streams.add(acks);
      return new StreamObserver<>() {
        @Override
        public void onNext(ActivationFrame f) {
          synchronized (ManualSink.this) {
            unacked.add(f.getBatchId());
            maxUnacked = Math.max(maxUnacked, unacked.size());
          }
          received.add(f);
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
      };
    }

    /** Acknowledges the oldest frame held on the newest stream. */
    void ackOldest() {
      long id;
      synchronized (this) {
        id = unacked.remove(0);
      }
      streams.getLast().onNext(FrameAck.newBuilder().setBatchId(id).build());
    }

    synchronized int maxUnacked() {
      return maxUnacked;
    }

    /** Forgets what the last stream held (it broke). */
    synchronized void forget() {
      unacked.clear();
    }
  }

  private ActivationFrame take(BlockingQueue<ActivationFrame> q) throws InterruptedException {
    ActivationFrame f = q.poll(TIMEOUT_S, TimeUnit.SECONDS);
    assertNotNull(f, "a frame arrives");
    return f;
  }

  private void serve(io.grpc.BindableService service) throws IOException {
    server = InProcessServerBuilder.forName(name).addService(service).build().start();
  }

  private FrameLink link(FrameLink.Kind kind, int window, FrameLink.Listener listener) {
    FrameLink link = new FrameLink(kind, address, window, listener, dev.caravan.cluster.security.ClusterTls.insecure());
    resources.add(link);
    return link;
  }

  @Test
  void atMostTheWindowIsInFlightAndQueuedFramesDrainAsAcksArrive() throws Exception {
    ManualSink sink = new ManualSink();
    serve(sink);
    Heard heard = new Heard();
    FrameLink link = link(FrameLink.Kind.SINK, 3, heard);
    AtomicInteger sent = new AtomicInteger();

    for (int i = 1; i <= 10; i++) {
      link.send(frame(i), sent::incrementAndGet);
    }
    for (int i = 1; i <= 3; i++) {
      assertEquals(i, take(sink.received).getBatchId());
    }
    // nothing is acknowledged: the window is full and the rest waits in the link
    assertEquals(3, link.inFlight());
    assertEquals(7, link.queued());
    assertEquals(3, sent.get(), "onSent runs for the written frames only");

    // each ack lets exactly one more frame out, in order
    for (int i = 4; i <= 10; i++) {
      sink.ackOldest();
      assertEquals(i, take(sink.received).getBatchId());
    }
    for (int i = 0; i < 3; i++) {
      sink.ackOldest();
    }
    heard.awaitAcks(10);
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L), heard.acked);
    assertEquals(0, link.inFlight());
    assertEquals(0, link.queued());
    assertEquals(10, sent.get());
    assertEquals(3, link.maxInFlightSeen());
    assertEquals(3, sink.maxUnacked(), "the receiver never held more than the window");
    assertTrue(heard.lost.isEmpty());
  }

  @Test
  void framesWaitWhileTheStreamIsNotReadyEvenWithCredit() throws Exception {
    // a stage that acks at once but asks gRPC for frames only when the test says: credit is there, readiness is not
    BlockingQueue<ActivationFrame> received = new LinkedBlockingQueue<>();
    List<ServerCallStreamObserver<FrameAck>> calls = new CopyOnWriteArrayList<>();
    CountDownLatch started = new CountDownLatch(1);
    serve(new ShardGrpc.ShardImplBase() {
      @Override
      public StreamObserver<ActivationFrame> forward(StreamObserver<FrameAck> acks) {
        ServerCallStreamObserver<FrameAck> call = (ServerCallStreamObserver<FrameAck>) acks;
        call.disableAutoRequest();
        call.request(1);
        calls.add(call);
        started.countDown();
        return new StreamObserver<>() {
          @Override
          public void onNext(ActivationFrame f) {
            received.add(f);
            call.onNext(FrameAck.newBuilder().setBatchId(f.getBatchId()).build());
          }

          @Override
          public void onError(Throwable t) {}

          @Override
          public void onCompleted() {}
        };
      }
    });
    Heard heard = new Heard();
    FrameLink link = link(FrameLink.Kind.STAGE, 4, heard);

    for (int i = 1; i <= 5; i++) {
      link.send(frame(i), null);
    }
    assertEquals(1, take(received).getBatchId());
    heard.awaitAcks(1);
    assertEquals(0, link.inFlight(), "every frame sent is acknowledged");
    assertEquals(4, link.queued(), "yet the rest waits: the stream is not ready");

    assertTrue(started.await(TIMEOUT_S, TimeUnit.SECONDS));
    calls.getFirst().request(2); // onReady: the link drains as far as readiness allows
    assertEquals(2, take(received).getBatchId());
    assertEquals(3, take(received).getBatchId());
    heard.awaitAcks(2);
    assertEquals(2, link.queued());

    calls.getFirst().request(2);
    assertEquals(4, take(received).getBatchId());
    assertEquals(5, take(received).getBatchId());
    heard.awaitAcks(2);
    assertEquals(0, link.queued());
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L), heard.acked);
  }

  @Test
  void aBrokenStreamReportsQueuedAndUnackedFramesLostOnceAndTheNextSendReopens() throws Exception {
    ManualSink sink = new ManualSink();
    serve(sink);
    Heard heard = new Heard();
    FrameLink link = link(FrameLink.Kind.SINK, 2, heard);
    List<Long> sent = new CopyOnWriteArrayList<>();
    List<Long> dropped = new CopyOnWriteArrayList<>();
    Consumer<Long> send = id -> link.send(frame(id), () -> sent.add(id), () -> dropped.add(id));

    for (long i = 1; i <= 5; i++) {
      send.accept(i);
    }
    take(sink.received);
    take(sink.received);
    sink.ackOldest();
    heard.awaitAcks(1);
    assertEquals(3, take(sink.received).getBatchId());
    // now 2 and 3 are unacknowledged, 4 and 5 queued: the sink fails the stream
    sink.streams.getFirst().onError(Status.UNAVAILABLE.withDescription("going away").asRuntimeException());
    sink.forget();

    heard.awaitLosses(4);
    assertEquals(List.of(2L, 3L, 4L, 5L), heard.lost);
    assertTrue(heard.reasons.getFirst().contains("UNAVAILABLE"), heard.reasons.getFirst());
    assertEquals(List.of(1L, 2L, 3L), sent, "written frames ran onSent");
    assertEquals(List.of(4L, 5L), dropped, "frames never written ran onDropped instead");
    assertEquals(0, link.inFlight());
    assertEquals(0, link.queued());

    // the next send opens a new stream
    send.accept(6L);
    assertEquals(6, take(sink.received).getBatchId());
    assertEquals(2, sink.streams.size());
    sink.ackOldest();
    heard.awaitAcks(1);
    assertEquals(List.of(1L, 6L), heard.acked);

    // closing with a frame in flight reports that one, and nothing again
    send.accept(7L);
    assertEquals(7, take(sink.received).getBatchId());
    link.close();
    assertEquals(List.of(2L, 3L, 4L, 5L, 7L), heard.lost);
    assertTrue(heard.reasons.getLast().contains("closed"), heard.reasons.getLast());
    assertEquals(List.of(1L, 2L, 3L, 6L, 7L), sent);
    link.close();
    send.accept(8L); // a closed link takes nothing: the frame is lost at once
    assertEquals(List.of(2L, 3L, 4L, 5L, 7L, 8L), heard.lost);
    assertEquals(List.of(4L, 5L, 8L), dropped);
  }

  @Test
  void aFrameForAnUnreachableReceiverIsReportedLost() throws Exception {
    Heard heard = new Heard();
    FrameLink link = link(FrameLink.Kind.STAGE, 2, heard); // no server of that name
    CountDownLatch dropped = new CountDownLatch(1);
    link.send(frame(1), () -> {}, dropped::countDown);
    heard.awaitLosses(1);
    assertTrue(dropped.await(TIMEOUT_S, TimeUnit.SECONDS));
    assertTrue(heard.reasons.getFirst().startsWith("next stage at " + address + " is unreachable: UNAVAILABLE"), heard.reasons.getFirst());
    assertEquals(0, link.queued());
  }

  @Test
  void aReceiverHoldsAtMostItsWindowEvenFromASenderThatIgnoresIt() throws Exception {
    BlockingQueue<ActivationFrame> handled = new LinkedBlockingQueue<>();
    List<FrameLink.Receiver> receivers = new CopyOnWriteArrayList<>();
    serve(new PipelineSinkGrpc.PipelineSinkImplBase() {
      @Override
      public StreamObserver<ActivationFrame> deliver(StreamObserver<FrameAck> acks) {
        FrameLink.Receiver r = new FrameLink.Receiver(acks, 2, (f, from) -> handled.add(f));
        receivers.add(r);
        return r.requests();
      }
    });
    ManagedChannel channel = Channels.forAddress(address);
    resources.add(() -> Channels.close(channel));
    BlockingQueue<Long> acks = new LinkedBlockingQueue<>();
    CountDownLatch completed = new CountDownLatch(1);
    StreamObserver<ActivationFrame> eager = PipelineSinkGrpc.newStub(channel).deliver(new StreamObserver<>() {
      @Override
      public void onNext(FrameAck ack) {
        acks.add(ack.getBatchId());
      }

      @Override
      public void onError(Throwable t) {}

      @Override
      public void onCompleted() {
        completed.countDown();
      }
    });
    for (int i = 1; i <= 6; i++) {
      eager.onNext(frame(i)); // no window, no isReady: gRPC buffers these on the sender's side
    }
    eager.onCompleted();

    assertEquals(1, take(handled).getBatchId());
    assertEquals(2, take(handled).getBatchId());
    FrameLink.Receiver receiver = receivers.getFirst();
    assertEquals(2, receiver.held());
    for (int i = 1; i <= 6; i++) {
      receiver.ack(i, "");
      assertEquals(i, acks.poll(TIMEOUT_S, TimeUnit.SECONDS));
      if (i <= 4) {
        assertEquals(i + 2, take(handled).getBatchId());
      }
    }
    assertTrue(completed.await(TIMEOUT_S, TimeUnit.SECONDS), "the ack stream completes once every frame is acknowledged");
    assertEquals(2, receiver.maxHeldSeen());
    assertEquals(0, receiver.held());
  }
}
