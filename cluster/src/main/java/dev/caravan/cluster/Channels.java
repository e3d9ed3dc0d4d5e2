package dev.caravan.cluster;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/** Client channels between Caravan processes: plaintext on a trusted network, keepalive, large messages. */
public final class Channels {
  private Channels() {}

  public static ManagedChannel forAddress(String hostPort) {
    return NettyChannelBuilder.forTarget(hostPort)
        .usePlaintext()
        .keepAliveTime(10, TimeUnit.SECONDS)
        .keepAliveTimeout(5, TimeUnit.SECONDS)
        .keepAliveWithoutCalls(true)
        .maxInboundMessageSize(GrpcServer.MAX_MESSAGE_BYTES)
        .build();
  }

  public static void close(ManagedChannel channel) {
    channel.shutdownNow();
    try {
      channel.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
