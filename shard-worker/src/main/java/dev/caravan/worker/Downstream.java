package dev.caravan.worker;

import dev.caravan.cluster.Channels;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import dev.caravan.proto.v1.ShardGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Long-lived outbound streams from this worker: to the next stage's {@code Shard.Forward} and to the coordinator's
 * {@code PipelineSink.Deliver}, one per address, opened on first use and reopened after a failure. Frames a broken
 * stream had not acknowledged are reported through {@code onLost}, so the coordinator hears which batches died where.
 */
final class Downstream implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Downstream.class);

  enum Kind {
    STAGE,
    SINK
  }

  private final Map<String, Link> links = new ConcurrentHashMap<>();
  private final BiConsumer<ActivationFrame, String> onLost;

  /** @param onLost called with each unacknowledged frame and the reason when a link breaks */
  Downstream(BiConsumer<ActivationFrame, String> onLost) {
    this.onLost = onLost;
  }

  /** Sends {@code frame} to {@code address}; returns false when the link could not take it (already reported as lost). */
  boolean send(Kind kind, String address, ActivationFrame frame) {
    Link link = links.computeIfAbsent(kind + "|" + address, k -> new Link(kind, address));
    return link.send(frame);
  }

  @Override
  public void close() {
    links.values().forEach(Link::close);
    links.clear();
  }

  /** One outbound stream. */
  private final class Link implements StreamObserver<FrameAck> {
    private final Kind kind;
    private final String address;
    private final ManagedChannel channel;
    private final Map<Long, ActivationFrame> unacked = new ConcurrentHashMap<>();
    private StreamObserver<ActivationFrame> out;
    private boolean broken;

    Link(Kind kind, String address) {
      this.kind = kind;
      this.address = address;
      this.channel = Channels.forAddress(address);
    }

    synchronized boolean send(ActivationFrame frame) {
      if (out == null || broken) {
        broken = false;
        out = kind == Kind.STAGE ? ShardGrpc.newStub(channel).forward(this) : PipelineSinkGrpc.newStub(channel).deliver(this);
      }
      unacked.put(frame.getBatchId(), frame);
      try {
        out.onNext(frame);
        return true;
      } catch (RuntimeException e) {
        fail("could not send to " + address + ": " + e.getMessage());
        return false;
      }
    }

    @Override
    public void onNext(FrameAck ack) {
      unacked.remove(ack.getBatchId());
      if (!ack.getError().isEmpty()) {
        LOG.debug("{} reported frame {}: {}", address, ack.getBatchId(), ack.getError());
      }
    }

    @Override
    public void onError(Throwable t) {
      Status s = Status.fromThrowable(t);
      fail((kind == Kind.STAGE ? "next stage at " : "coordinator at ") + address + " is unreachable: " + s.getCode() + (s.getDescription() == null ? "" : " " + s.getDescription()));
    }

    @Override
    public void onCompleted() {
      fail((kind == Kind.STAGE ? "next stage at " : "coordinator at ") + address + " closed the stream");
    }

    private void fail(String reason) {
      Set<Long> lost;
      synchronized (this) {
        broken = true;
        lost = Set.copyOf(unacked.keySet());
      }
      if (!lost.isEmpty()) {
        LOG.warn("{}; {} frame(s) lost", reason, lost.size());
      }
      for (Long id : lost) {
        ActivationFrame f = unacked.remove(id);
        if (f != null) {
          onLost.accept(f, reason);
        }
      }
    }

    void close() {
      synchronized (this) {
        if (out != null && !broken) {
          try {
            out.onCompleted();
          } catch (RuntimeException ignored) {
            // the peer is gone already
          }
        }
      }
      Channels.close(channel);
    }
  }
}
