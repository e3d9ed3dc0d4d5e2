package dev.caravan.loadtest;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Path;
import javax.net.ssl.SSLException;
import io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;

/**
 * Channels to a coordinator's public {@code Inference} API, for clients that are no cluster members (this load tester,
 * {@code caravan generate} and {@code caravan status}): plaintext or TLS, an API key as a bearer token on every call,
 * keepalive, large messages. The same settings as the cluster's own {@code dev.caravan.cluster.Channels}, without
 * depending on the cluster module (and so on Hazelcast).
 */
public final class ClientChannels {
  /** Largest inbound message: the servers' limit ({@code GrpcServer.MAX_MESSAGE_BYTES}, 256 MiB). */
  static final int MAX_MESSAGE_BYTES = 256 << 20;
  private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private ClientChannels() {}

  /** A plaintext channel to {@code hostPort} ({@code HOST:PORT}) without a key, connecting lazily. */
  public static ManagedChannel forAddress(String hostPort) {
    return forAddress(hostPort, null, null, false);
  }

  /**
   * A channel to {@code hostPort}, connecting lazily.
   *
   * @param apiKey sent as {@code authorization: Bearer <key>} on every call; null: none
   * @param tlsCa  TLS trusting this CA certificate (chain and host name checked); null: see {@code tls}
   * @param tls    TLS trusting the JVM's default CAs (when {@code tlsCa} is null); false and no CA: plaintext
   */
  public static ManagedChannel forAddress(String hostPort, String apiKey, Path tlsCa, boolean tls) {
    NettyChannelBuilder b = NettyChannelBuilder.forTarget(hostPort);
    if (tlsCa != null) {
      try {
        b.sslContext(GrpcSslContexts.forClient().trustManager(tlsCa.toFile()).build());
      } catch (SSLException | IllegalArgumentException e) {
        throw new IllegalArgumentException("--tls-ca: cannot use " + tlsCa + ": " + e.getMessage());
      }
    } else if (tls) {
      b.useTransportSecurity();
    } else {
      b.usePlaintext();
    }
    if (apiKey != null) {
      Metadata md = new Metadata();
      md.put(AUTHORIZATION, "Bearer " + apiKey);
      b.intercept(MetadataUtils.newAttachHeadersInterceptor(md));
    }
    return b
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
