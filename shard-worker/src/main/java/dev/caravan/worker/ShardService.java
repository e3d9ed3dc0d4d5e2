package dev.caravan.worker;

import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.ReleaseRequest;
import dev.caravan.proto.v1.ReleaseResponse;
import dev.caravan.proto.v1.ShardGrpc;
import dev.caravan.proto.v1.ShardStatusRequest;
import dev.caravan.proto.v1.ShardStatusResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The Shard gRPC service: a thin adapter from proto calls to {@link ShardWorker}. */
final class ShardService extends ShardGrpc.ShardImplBase {
  private static final Logger LOG = LoggerFactory.getLogger(ShardService.class);
  private final ShardWorker worker;

  ShardService(ShardWorker worker) {
    this.worker = worker;
  }

  @Override
  public StreamObserver<ActivationFrame> forward(StreamObserver<FrameAck> acks) {
    // acks go out from the compute thread; errors and completion from gRPC threads: serialize them
    StreamObserver<FrameAck> safeAcks = new StreamObserver<>() {
      private boolean closed;

      @Override
      public synchronized void onNext(FrameAck ack) {
        if (!closed) {
          try {
            acks.onNext(ack);
          } catch (RuntimeException e) {
            closed = true; // the upstream hop went away; the frame itself was already passed on
          }
        }
      }

      @Override
      public synchronized void onError(Throwable t) {
        if (!closed) {
          closed = true;
          acks.onError(t);
        }
      }

      @Override
      public synchronized void onCompleted() {
        if (!closed) {
          closed = true;
          acks.onCompleted();
        }
      }
    };
    return new StreamObserver<>() {
      @Override
      public void onNext(ActivationFrame frame) {
        worker.accept(frame, safeAcks);
      }

      @Override
      public void onError(Throwable t) {
        LOG.debug("upstream stream ended: {}", Status.fromThrowable(t));
      }

      @Override
      public void onCompleted() {
        safeAcks.onCompleted();
      }
    };
  }

  @Override
  public void release(ReleaseRequest request, StreamObserver<ReleaseResponse> response) {
    worker.release(request).whenComplete((r, e) -> {
      if (e != null) {
        response.onError(Status.INTERNAL.withDescription(e.getMessage()).asRuntimeException());
      } else {
        response.onNext(r);
        response.onCompleted();
      }
    });
  }

  @Override
  public void status(ShardStatusRequest request, StreamObserver<ShardStatusResponse> response) {
    worker.status().whenComplete((r, e) -> {
      if (e != null) {
        response.onError(Status.INTERNAL.withDescription(e.getMessage()).asRuntimeException());
      } else {
        response.onNext(r);
        response.onCompleted();
      }
    });
  }
}
