package dev.caravan.worker;

import dev.caravan.cluster.FrameLink;
import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves frames through a worker: takes them from the previous hop's stream, runs them through the {@link StageHost} on
 * the one compute thread, and sends each result on a {@link FrameLink} — to the next stage, or to the coordinator's sink
 * for logits and error frames.
 *
 * <p>Flow control: each inbound stream asks for {@code window} frames, and a frame is acknowledged (and one more asked
 * for) only once its result has been written to the next hop. So per inbound stream this worker holds at most
 * {@code window} frames — waiting to compute, or computed and waiting for downstream credit — and a slow next stage
 * makes the previous hop wait. When a link to the next stage breaks, each frame it had not acknowledged is reported to
 * the coordinator's sink as an error frame naming the stage that was lost.
 */
final class FrameRouter implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(FrameRouter.class);

  private final StageHost host;
  private final WorkerMetrics metrics;
  private final int window;
  private final ClusterTls tls;
  private final ExecutorService compute = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "caravan-compute");
    t.setDaemon(true);
    return t;
  });
  private final Map<String, FrameLink> links = new HashMap<>(); // guarded by itself
  private final AtomicInteger held = new AtomicInteger();
  private final AtomicInteger maxHeldSeen = new AtomicInteger();
  private volatile Consumer<ActivationFrame> beforeFrame = f -> {};
  private volatile boolean closed;

  /** @param window frames in flight per hop: what each inbound stream may hold and each link may have unacknowledged */
  FrameRouter(StageHost host, WorkerMetrics metrics, int window, ClusterTls tls) {
    this.tls = tls;
    this.host = host;
    this.metrics = metrics;
    this.window = window;
  }

  /** Serves one {@code Shard.Forward} stream from the previous hop. */
  StreamObserver<ActivationFrame> forward(StreamObserver<FrameAck> acks) {
    return new FrameLink.Receiver(acks, window, this::accept).requests();
  }

  /** Runs {@code task} on the compute thread, after the frames already waiting. */
  <T> CompletableFuture<T> onCompute(Supplier<T> task) {
    return CompletableFuture.supplyAsync(task, compute);
  }

  /**
   * For tests: runs on the compute thread before each frame is processed, e.g. to make a stage deliberately slow.
   * It may block; the worker then stops taking frames once its window is full, as behind a slow forward pass.
   */
  void beforeEachFrame(Consumer<ActivationFrame> hook) {
    this.beforeFrame = hook;
  }

  /** Frames taken from upstream and not yet passed on, over all inbound streams. */
  int held() {
    return held.get();
  }

  /** The most frames ever held at once. */
  int maxHeldSeen() {
    return maxHeldSeen.get();
  }

  /** The link to {@code address}, or null when nothing has been sent there. */
  FrameLink linkTo(FrameLink.Kind kind, String address) {
    synchronized (links) {
      return links.get(kind + "|" + address);
    }
  }

  private void accept(ActivationFrame frame, FrameLink.Receiver from) {
    Slot slot = new Slot(frame.getBatchId(), from);
    try {
      compute.execute(() -> run(frame, slot));
    } catch (RejectedExecutionException e) {
      slot.release("worker is shutting down");
    }
  }

  /** Compute thread: the frame through this stage, the result onward. */
  private void run(ActivationFrame frame, Slot slot) {
    try {
      beforeFrame.accept(frame);
    } catch (RuntimeException e) {
      LOG.warn("the before-frame hook failed", e);
    }
    ActivationFrame result = host.process(frame);
    if (result.hasError()) {
      send(FrameLink.Kind.SINK, frame.getReplyTo(), result, slot, result.getError().getMessage());
      return;
    }
    String next = host.nextHop(frame.getPlanEpoch());
    if (next != null) {
      send(FrameLink.Kind.STAGE, next, result, slot, "");
    } else {
      send(FrameLink.Kind.SINK, frame.getReplyTo(), result, slot, "");
    }
  }

  /** Sends a result; its inbound frame is acknowledged when the result is written (or dropped by a broken stream). */
  private void send(FrameLink.Kind kind, String address, ActivationFrame result, Slot slot, String ackError) {
    FrameLink link;
    try {
      link = link(kind, address);
    } catch (RuntimeException e) {
      metrics.frameErrors.inc();
      LOG.warn("batch {}: cannot reach {}: {}", result.getBatchId(), address, e.getMessage());
      slot.release("cannot reach " + address + ": " + e.getMessage());
      return;
    }
    link.send(result, () -> slot.release(ackError), () -> slot.release("not passed on: the stream to " + address + " broke"));
  }

  private FrameLink link(FrameLink.Kind kind, String address) {
    synchronized (links) {
      if (closed) {
        throw new IllegalStateException("the worker is closed");
      }
      return links.computeIfAbsent(kind + "|" + address, k -> new FrameLink(kind, address, window, new Listener(kind, address), tls));
    }
  }

  /** A frame a link never got acknowledged: for a lost stage, tell the coordinator which stage it was. */
  private void lost(FrameLink.Kind kind, String address, ActivationFrame frame, String reason) {
    metrics.frameErrors.inc();
    if (closed) {
      return; // leaving: the coordinator hears of it through membership
    }
    if (kind == FrameLink.Kind.SINK || frame.hasError()) {
      LOG.warn("batch {} could not reach the coordinator at {}: {}", frame.getBatchId(), address, reason);
      return;
    }
    // the frame was for the next stage: the error names that stage and its worker, not this one
    ActivationFrame error = host.errorFrame(frame, Status.Code.UNAVAILABLE, "lost: " + reason, address);
    try {
      // not bounded by an inbound slot: at most one report per frame a link held, so at most a window per link
      link(FrameLink.Kind.SINK, frame.getReplyTo()).send(error, null);
    } catch (RuntimeException e) {
      LOG.warn("batch {}: cannot tell the coordinator at {} that stage {} was lost: {}", frame.getBatchId(), frame.getReplyTo(), frame.getStage(), e.getMessage());
    }
  }

  @Override
  public void close() {
    List<FrameLink> open;
    synchronized (links) {
      closed = true;
      open = new ArrayList<>(links.values());
      links.clear();
    }
    compute.shutdownNow();
    open.forEach(FrameLink::close); // outside the lock: closing reports losses, which come back here
  }

  /** One inbound frame's place in its stream's window: released once, when its result has left. */
  private final class Slot {
    private final long batchId;
    private final FrameLink.Receiver from;
    private final AtomicBoolean released = new AtomicBoolean();

    Slot(long batchId, FrameLink.Receiver from) {
      this.batchId = batchId;
      this.from = from;
      maxHeldSeen.accumulateAndGet(held.incrementAndGet(), Math::max);
    }

    void release(String error) {
      if (released.compareAndSet(false, true)) {
        held.decrementAndGet();
        from.ack(batchId, error);
      }
    }
  }

  /** What a link reports: acks are logged, losses reported. */
  private final class Listener implements FrameLink.Listener {
    private final FrameLink.Kind kind;
    private final String address;

    Listener(FrameLink.Kind kind, String address) {
      this.kind = kind;
      this.address = address;
    }

    @Override
    public void onAck(long batchId, String error) {
      if (!error.isEmpty()) {
        LOG.debug("{} reported batch {}: {}", address, batchId, error);
      }
    }

    @Override
    public void onLost(ActivationFrame frame, String reason) {
      lost(kind, address, frame, reason);
    }
  }
}
