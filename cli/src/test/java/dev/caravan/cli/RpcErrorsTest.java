package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.Channels;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.ListModelsRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** What the client subcommands say when a call fails, from real gRPC calls over loopback. */
class RpcErrorsTest {

  @Test
  void aTargetWithNothingListeningIsNamedWithWhatToDo() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort(); // free once closed: nothing listens there
    }
    String target = "127.0.0.1:" + port;
    ManagedChannel channel = Channels.forAddress(target);
    try {
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).listModels(ListModelsRequest.getDefaultInstance()));
      String message = RpcErrors.describe(target, e);
      assertTrue(message.startsWith("UNAVAILABLE: no coordinator answers at " + target), message);
      assertTrue(message.contains("ops/cluster up"), message);
    } finally {
      Channels.close(channel);
    }
  }

  @Test
  void otherFailuresKeepTheServersCodeAndMessage() {
    StatusRuntimeException e = Status.INVALID_ARGUMENT.withDescription("max_tokens must be >= 1, not 0").asRuntimeException();
    assertEquals("INVALID_ARGUMENT: max_tokens must be >= 1, not 0", RpcErrors.describe("127.0.0.1:7070", e));
  }
}
