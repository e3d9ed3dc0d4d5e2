package dev.caravan.loadtest;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/**
 * Channels to a coordinator's public {@code Inference} API, for clients that are no cluster members (this load tester,
 * {@code caravan generate} and {@code caravan status}): plaintext on a trusted network, keepalive, large messages. The
 * same settings as the cluster's own {@code dev.caravan.cluster.Channels}, without depending on the cluster module (and
 * so on Hazelcast).
 */
public final class ClientChannels {
  /** Largest inbound message: the servers' limit ({@code GrpcServer.MAX_MESSAGE_BYTES}, 256 MiB). */
  static final int MAX_MESSAGE_BYTES = 256 << 20;

  private ClientChannels() {}

  /** A channel to {@code hostPort} ({@code HOST:PORT}), connecting lazily. */
  public static ManagedChannel forAddress(String hostPort) {
    return NettyChannelBuilder.forTarget(hostPort)
        .usePlaintext()
        .keepAliveTime(10, TimeUnit.SECONDS)
        .keepAliveTimeout(5, TimeUnit.SECONDS)
        .keepAliveWithoutCalls(true)
        .maxInboundMessageSize(MAX_MESSAGE_BYTES)
        .build();
  }

  /** Shuts {@code channel} down now, waiting up to 2 s for it to terminate. */
  public static void close(ManagedChannel channel) {
    channel.shutdownNow();
    try {
      channel.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
