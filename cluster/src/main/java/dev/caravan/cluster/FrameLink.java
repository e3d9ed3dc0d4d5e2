package dev.caravan.cluster;

import dev.caravan.cluster.security.ClusterTls;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One hop of the pipeline as seen by its sender: a long-lived stream of activation frames to a stage's
 * {@code Shard.Forward} or to the coordinator's {@code PipelineSink.Deliver}, with the flow control {@code shard.proto}
 * promises. At most {@code window} frames are unacknowledged on the stream, and a frame is written only while gRPC says
 * the stream {@code isReady()}; everything else waits in this link's queue, so a slow receiver makes the sender wait
 * instead of letting frames pile up in buffers. {@link #send} never blocks: whoever produces frames decides how many it
 * lets queue (the worker, for one, stops asking its own upstream for more).
 *
 * <p>When the stream breaks (the peer fails or ends it, or a write throws) every queued and unacknowledged frame is
 * reported lost, once, and the next {@link #send} opens a new stream. Thread-safe. Callbacks ({@link Listener}, the
 * per-frame runnables) run on whichever thread caused them — gRPC's, or the sender's — and never while this link holds
 * its lock, so they may call back into it.
 *
 * <p>{@link Receiver} is the other end of the same contract, for the services that take such streams.
 */
public final class FrameLink implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(FrameLink.class);

  /** What the link talks to: a stage ({@code Shard.Forward}) or the coordinator ({@code PipelineSink.Deliver}). */
  public enum Kind {
    STAGE,
    SINK
  }

  /** What becomes of the frames sent on a link. */
  public interface Listener {
    /** The receiver acknowledged a frame (error empty when it was processed and passed on). */
    void onAck(long batchId, String error);

    /** A frame that was queued or sent but never acknowledged when the stream broke or the link closed; reported once. */
    void onLost(ActivationFrame frame, String reason);
  }

  /** A frame on its way, and what to run when it is written or dropped; the flags are guarded by the link's lock. */
  private static final class Pending {
    final ActivationFrame frame;
    final Runnable onSent;
    final Runnable onDropped;
    boolean written;
    boolean dropped;

    Pending(ActivationFrame frame, Runnable onSent, Runnable onDropped) {
      this.frame = frame;
      this.onSent = onSent;
      this.onDropped = onDropped;
    }
  }

  private final Kind kind;
  private final String address;
  private final int window;
  private final Listener listener;
  private final ManagedChannel channel;

  private final Object lock = new Object();
  // all guarded by lock
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private final ArrayDeque<Pending> unacked = new ArrayDeque<>(); // in the order they were written
  private Stream stream; // null until the first send and after a break
  private boolean closed;
  private boolean draining; // one thread at a time opens streams and writes: the one in drain()
  private boolean again; // something changed while a thread was draining: it looks once more before it leaves
  private int maxInFlightSeen;

  /**
   * Opens the link's channel via {@link Channels#forAddress(String, ClusterTls)}; the first stream opens on the first send.
   *
   * @param window most frames unacknowledged at once, at least 1
   * @param tls    this process's identity on internal connections (or plaintext when insecure)
   */
  public FrameLink(Kind kind, String address, int window, Listener listener, ClusterTls tls) {
    if (window < 1) {
      throw new IllegalArgumentException("a frame window holds at least 1 frame, not " + window);
    }
    this.kind = kind;
    this.address = address;
    this.window = window;
    this.listener = listener;
    this.channel = Channels.forAddress(address, tls);
  }

  public Kind kind() {
    return kind;
  }

  public String address() {
    return address;
  }

  public int window() {
    return window;
  }

  /**
   * Queues the frame; sends it when fewer than {@code window} frames are unacknowledged and the stream isReady(). Never
   * blocks. {@code onSent} (may be null) runs once it is written to the stream.
   */
  public void send(ActivationFrame frame, Runnable onSent) {
    send(frame, onSent, null);
  }

  /**
   * As {@link #send(ActivationFrame, Runnable)}; {@code onDropped} (may be null) runs instead of {@code onSent} when the
   * frame is lost before it could be written (after the listener heard of it). Exactly one of the two runs for every
   * frame, once the frame is written, its stream breaks or the link closes.
   */
  public void send(ActivationFrame frame, Runnable onSent, Runnable onDropped) {
    Pending p = new Pending(frame, onSent, onDropped);
    synchronized (lock) {
      if (closed) {
        p.dropped = true;
      } else {
        queue.add(p);
      }
    }
    if (p.dropped) {
      lose(List.of(p), "the link to " + address + " is closed");
      return;
    }
    drain();
  }

  /** Frames sent and not yet acknowledged. */
  public int inFlight() {
    synchronized (lock) {
      return unacked.size();
    }
  }

  /** Frames waiting for credit (an ack) or for the stream to become ready. */
  public int queued() {
    synchronized (lock) {
      return queue.size();
    }
  }

  /** The most frames ever unacknowledged at once on this link (for tests: it never exceeds the window). */
  public int maxInFlightSeen() {
    synchronized (lock) {
      return maxInFlightSeen;
    }
  }

  /** Ends the stream, reports every queued and unacknowledged frame lost, and closes the channel. */
  @Override
  public void close() {
    List<Pending> lost;
    Stream s;
    boolean midWrite;
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      s = stream;
      stream = null;
      midWrite = draining;
      lost = takeAll();
    }
    if (s != null && s.call != null) {
      try {
        if (lost.isEmpty() && !midWrite) {
          s.call.onCompleted(); // nothing outstanding: a clean half-close; no write can start once closed is set
        } else {
          s.call.cancel("the link to " + address + " closed", null); // cancel is the one call safe beside a write
        }
      } catch (RuntimeException ignored) {
        // the stream is gone already
      }
    }
    lose(lost, "the link to " + address + " closed");
    Channels.close(channel);
  }

  /**
   * Writes queued frames while there is credit and the stream is ready; opens a stream when there is none. Only one
   * thread drains at a time (writes to a gRPC stream must not overlap); any other caller only tells it to look again.
   */
  private void drain() {
    synchronized (lock) {
      if (draining) {
        again = true;
        return;
      }
      draining = true;
    }
    while (true) {
      Pending next = null;
      Stream s = null;
      boolean open = false;
      synchronized (lock) {
        if (!closed && !queue.isEmpty()) {
          if (stream == null) {
            open = true;
            stream = s = new Stream(); // published before the call starts: its events may come at once
          } else if (unacked.size() < window && stream.call.isReady()) {
            next = queue.poll();
            unacked.add(next);
            maxInFlightSeen = Math.max(maxInFlightSeen, unacked.size());
            s = stream;
          }
        }
        if (s == null) {
          if (again) {
            again = false;
            continue;
          }
          draining = false;
          return;
        }
      }
      if (open) {
        start(s);
      } else {
        write(s, next);
      }
    }
  }

  private void start(Stream s) {
    try {
      if (kind == Kind.STAGE) {
        ShardGrpc.newStub(channel).forward(s);
      } else {
        PipelineSinkGrpc.newStub(channel).deliver(s);
      }
    } catch (RuntimeException e) {
      broken(s, "could not open a stream to " + peer() + ": " + e);
    }
  }

  private void write(Stream s, Pending p) {
    try {
      s.call.onNext(p.frame);
    } catch (RuntimeException e) {
      try {
        s.call.cancel("write failed", e);
      } catch (RuntimeException ignored) {
        // already cancelled
      }
      broken(s, "could not send to " + peer() + ": " + e);
    }
    boolean sent;
    synchronized (lock) {
      // the stream may have broken during the write: then the frame was reported dropped already
      sent = !p.dropped;
      p.written = sent;
    }
    if (sent) {
      run(p.onSent);
    }
  }

  private void acked(Stream s, FrameAck ack) {
    boolean known = false;
    synchronized (lock) {
      if (stream != s) {
        return; // an ack from a stream already given up: its frames were reported lost
      }
      // acks come in order, so this is the head; a search keeps a receiver that reorders them from leaking credit
      for (Iterator<Pending> it = unacked.iterator(); it.hasNext(); ) {
        if (it.next().frame.getBatchId() == ack.getBatchId()) {
          it.remove();
          known = true;
          break;
        }
      }
    }
    if (known) {
      try {
        listener.onAck(ack.getBatchId(), ack.getError());
      } catch (RuntimeException e) {
        LOG.warn("ack listener of the link to {} failed", address, e);
      }
    } else {
      LOG.debug("{} acknowledged batch {}, which is not in flight", address, ack.getBatchId());
    }
    drain();
  }

  private void broken(Stream s, String reason) {
    List<Pending> lost;
    synchronized (lock) {
      if (stream != s) {
        return; // reported already
      }
      stream = null;
      lost = takeAll();
    }
    if (!lost.isEmpty()) {
      LOG.warn("{}; {} frame(s) lost", reason, lost.size());
    }
    lose(lost, reason);
    drain(); // frames queued since the break go out on a new stream
  }

  /** Empties the queue and the unacknowledged list; frames not yet written are marked dropped. Holds the lock. */
  private List<Pending> takeAll() {
    List<Pending> all = new ArrayList<>(unacked.size() + queue.size());
    all.addAll(unacked);
    all.addAll(queue);
    unacked.clear();
    queue.clear();
    for (Pending p : all) {
      if (!p.written) {
        p.dropped = true;
      }
    }
    return all;
  }

  private void lose(List<Pending> lost, String reason) {
    for (Pending p : lost) {
      try {
        listener.onLost(p.frame, reason);
      } catch (RuntimeException e) {
        LOG.warn("loss listener of the link to {} failed", address, e);
      }
      if (p.dropped) {
        run(p.onDropped);
      }
    }
  }

  private void run(Runnable r) {
    if (r != null) {
      try {
        r.run();
      } catch (RuntimeException e) {
        LOG.warn("a frame callback of the link to {} failed", address, e);
      }
    }
  }

  private String peer() {
    return (kind == Kind.STAGE ? "next stage at " : "coordinator at ") + address;
  }

  /** One gRPC stream of the link; events of a stream the link has given up are ignored. */
  private final class Stream implements ClientResponseObserver<ActivationFrame, FrameAck> {
    volatile ClientCallStreamObserver<ActivationFrame> call;

    @Override
    public void beforeStart(ClientCallStreamObserver<ActivationFrame> requestStream) {
      call = requestStream;
      requestStream.setOnReadyHandler(FrameLink.this::drain);
    }

    @Override
    public void onNext(FrameAck ack) {
      acked(this, ack);
    }

    @Override
    public void onError(Throwable t) {
      Status s = Status.fromThrowable(t);
      broken(this, peer() + " is unreachable: " + s.getCode() + (s.getDescription() == null ? "" : " " + s.getDescription()));
    }

    @Override
    public void onCompleted() {
      broken(this, peer() + " closed the stream");
    }
  }

  /**
   * The receiving end of a frame stream, for the services that take one ({@code Shard.Forward},
   * {@code PipelineSink.Deliver}). It turns gRPC's automatic inbound flow control off and asks for {@code window}
   * frames, then for one more after each {@link #ack}: so this side never holds more than its window of frames, even
   * when a sender ignores the contract, and a receiver that acknowledges late makes its sender wait.
   *
   * <p>Acks are written as they come, without waiting for {@code isReady()}: they are tiny and never more than a window
   * of them is outstanding, so they cannot pile up. Writes are serialized (acks come from any thread). When the sender
   * half-closes, the ack stream completes once every frame received has been acknowledged.
   */
  public static final class Receiver {
    private final ServerCallStreamObserver<FrameAck> call;
    private final BiConsumer<ActivationFrame, Receiver> onFrame;
    private final Object lock = new Object();
    // guarded by lock
    private final ArrayDeque<FrameAck> acks = new ArrayDeque<>();
    private boolean writing;
    private boolean senderDone;
    private boolean ended;
    private int held;
    private int maxHeldSeen;

    /**
     * Call it inside the service method, before it returns (that is when gRPC lets automatic requests be turned off).
     *
     * @param onFrame gets each frame and this receiver; it must {@link #ack} the frame exactly once, now or later, from
     *                any thread, and must not throw
     */
    public Receiver(StreamObserver<FrameAck> responses, int window, BiConsumer<ActivationFrame, Receiver> onFrame) {
      if (window < 1) {
        throw new IllegalArgumentException("a frame window holds at least 1 frame, not " + window);
      }
      this.call = (ServerCallStreamObserver<FrameAck>) responses;
      this.onFrame = onFrame;
      call.disableAutoRequest();
      // a cancelled call then drops our writes instead of throwing at whoever acks
      call.setOnCancelHandler(() -> {
        synchronized (lock) {
          ended = true;
          acks.clear();
        }
      });
      call.request(window);
    }

    /** The observer the service method returns. */
    public StreamObserver<ActivationFrame> requests() {
      return new StreamObserver<>() {
        @Override
        public void onNext(ActivationFrame frame) {
          synchronized (lock) {
            held++;
            maxHeldSeen = Math.max(maxHeldSeen, held);
          }
          onFrame.accept(frame, Receiver.this);
        }

        @Override
        public void onError(Throwable t) {
          synchronized (lock) {
            ended = true; // the sender is gone: frames still held are passed on, their acks go nowhere
            acks.clear();
          }
        }

        @Override
        public void onCompleted() {
          synchronized (lock) {
            senderDone = true;
          }
          flush();
        }
      };
    }

    /** Acknowledges a frame received (error empty when it was processed and passed on) and asks for one more. */
    public void ack(long batchId, String error) {
      synchronized (lock) {
        held--;
        if (!ended) {
          acks.add(FrameAck.newBuilder().setBatchId(batchId).setError(error).build());
        }
      }
      call.request(1); // before the ack goes out, so the sender rarely finds the stream not ready
      flush();
    }

    /** Frames received and not yet acknowledged. */
    public int held() {
      synchronized (lock) {
        return held;
      }
    }

    /** The most frames ever held at once (for tests: it never exceeds the window). */
    public int maxHeldSeen() {
      synchronized (lock) {
        return maxHeldSeen;
      }
    }

    private void flush() {
      while (true) {
        FrameAck next;
        synchronized (lock) {
          if (writing || ended) {
            return; // the thread writing picks up what was added
          }
          next = acks.poll();
          if (next == null && !(senderDone && held == 0)) {
            return;
          }
          if (next == null) {
            ended = true;
          }
          writing = true;
        }
        try {
          if (next == null) {
            call.onCompleted();
          } else {
            call.onNext(next);
          }
        } catch (RuntimeException e) {
          synchronized (lock) {
            ended = true; // the sender went away; the frames themselves were passed on
            acks.clear();
          }
        } finally {
          synchronized (lock) {
            writing = false;
          }
        }
      }
    }
  }
}
