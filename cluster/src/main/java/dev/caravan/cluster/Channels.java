package dev.caravan.cluster;

import dev.caravan.cluster.security.ClusterTls;
import io.grpc.ManagedChannel;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/**
 * Client channels between Caravan processes: mutual TLS with the cluster's certificates ({@link ClusterTls}), or
 * plaintext under {@code --insecure}; keepalive, large messages. An address {@code in-process:NAME} reaches an
 * in-process server of that name instead, so tests run real services in one JVM and still pass addresses around in
 * plans and frames.
 */
public final class Channels {
  /** Prefix of an in-process server's address; the rest is the name given to {@code InProcessServerBuilder.forName}. */
  public static final String IN_PROCESS = "in-process:";

  private Channels() {}

  /** A plaintext channel to {@code host:port} over Netty, or to {@code in-process:NAME}: for in-process tests and a public port without TLS. */
  public static ManagedChannel forAddress(String address) {
    return forAddress(address, ClusterTls.insecure());
  }

  /** A channel to {@code host:port} over Netty with the cluster's TLS (plaintext when insecure), or to {@code in-process:NAME}. */
  public static ManagedChannel forAddress(String address, ClusterTls tls) {
    if (address.startsWith(IN_PROCESS)) {
      // direct executor: in one JVM there is no network thread to protect, and callbacks stay cheap
      return InProcessChannelBuilder.forName(address.substring(IN_PROCESS.length()))
          .directExecutor()
          .maxInboundMessageSize(GrpcServer.MAX_MESSAGE_BYTES)
          .build();
    }
    return tls.client(NettyChannelBuilder.forTarget(address))
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
