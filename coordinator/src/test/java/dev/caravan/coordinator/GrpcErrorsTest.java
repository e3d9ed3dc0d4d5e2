package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.GrpcServer;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.proto.v1.ClusterStatusRequest;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class GrpcErrorsTest {

  /**
   * Found by GrpcApiFuzzTest: a status description travels in a trailer, and one over 8 KiB (an error repeating a long
   * client value) reached the client as INTERNAL "http2 exception". Descriptions are cut to 1 KiB, so the status
   * arrives.
   */
  @Test
  void aLongDescriptionStillReachesTheClientWithItsCode() throws Exception {
    String long20k = "x".repeat(20_000);
    InferenceGrpc.InferenceImplBase failing = new InferenceGrpc.InferenceImplBase() {
      @Override
      public void clusterStatus(ClusterStatusRequest request, StreamObserver<ClusterStatusResponse> observer) {
        observer.onError(GrpcErrors.toStatus(GenerationError.of(GenerationError.Kind.NOT_FOUND, "not found: " + long20k)).asRuntimeException());
      }
    };
    GrpcServer server = new GrpcServer("errors", GrpcServer.netty("127.0.0.1", 0), List.of(failing), List.of(), false).start();
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    try {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).clusterStatus(ClusterStatusRequest.getDefaultInstance()));
      assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode(), e.getStatus().toString());
      assertTrue(e.getStatus().getDescription().startsWith("not found: xxx"), e.getStatus().getDescription());
      assertEquals(GrpcErrors.MAX_DESCRIPTION_CHARS + "... (cut)".length(), e.getStatus().getDescription().length());
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      server.stop();
    }
  }
}
