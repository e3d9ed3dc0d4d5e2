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
import java.util.concurrent.CompletableFuture;

/** The Shard gRPC service: a thin adapter from proto calls to a {@link ShardNode}. */
final class ShardService extends ShardGrpc.ShardImplBase {
  private final ShardNode node;

  ShardService(ShardNode node) {
    this.node = node;
  }

  @Override
  public StreamObserver<ActivationFrame> forward(StreamObserver<FrameAck> acks) {
    return node.router().forward(acks);
  }

  @Override
  public void release(ReleaseRequest request, StreamObserver<ReleaseResponse> response) {
    reply(node.release(request), response);
  }

  @Override
  public void status(ShardStatusRequest request, StreamObserver<ShardStatusResponse> response) {
    reply(node.status(), response);
  }

  private static <T> void reply(CompletableFuture<T> result, StreamObserver<T> response) {
    result.whenComplete((r, e) -> {
      Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e;
      if (cause instanceof io.grpc.StatusRuntimeException refused) {
        response.onError(refused); // a validation's status, e.g. INVALID_ARGUMENT naming the field
      } else if (cause != null) {
        response.onError(Status.INTERNAL.withDescription(String.valueOf(cause.getMessage())).asRuntimeException());
      } else {
        response.onNext(r);
        response.onCompleted();
      }
    });
  }
}
