package dev.caravan.cluster;

import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns the lifecycle of one gRPC server: start, health ({@code grpc.health.v1}), server reflection (public ports only),
 * keepalive, graceful drain and stop. The services themselves are thin adapters handed in; the {@link ServerBuilder} is
 * handed in too (with its TLS, see {@code ClusterTls.server}), so tests can choose the transport.
 */
public final class GrpcServer {
  private static final Logger LOG = LoggerFactory.getLogger(GrpcServer.class);
  /** Activation frames of large batches are big; logits of many sequences too. */
  public static final int MAX_MESSAGE_BYTES = 256 << 20;

  private final String name;
  private final HealthStatusManager health = new HealthStatusManager();
  private final Server server;

  /**
   * @param interceptors run on every call of {@code services} (not on health or reflection), e.g. a role or API-key check
   * @param reflection   whether to serve gRPC server reflection: on the public API, not on internal ports (it would tell
   *                     anyone who reaches them what they can call)
   */
  public GrpcServer(String name, ServerBuilder<?> builder, List<BindableService> services, List<ServerInterceptor> interceptors, boolean reflection) {
    this.name = name;
    if (builder instanceof NettyServerBuilder netty) {
      // keepalive: detect dead peers on idle streams; allow clients to ping us as often as every 10 s
      netty.keepAliveTime(20, TimeUnit.SECONDS)
          .keepAliveTimeout(10, TimeUnit.SECONDS)
          .permitKeepAliveTime(5, TimeUnit.SECONDS)
          .permitKeepAliveWithoutCalls(true);
    }
    for (BindableService s : services) {
      // malformed requests are refused as INVALID_ARGUMENT before any interceptor or service sees them
      builder.addService(ServerInterceptors.intercept(MalformedRequests.guard(s.bindService()), interceptors));
    }
    builder.addService(health.getHealthService());
    if (reflection) {
      builder.addService(ProtoReflectionServiceV1.newInstance());
    }
    this.server = builder.build();
  }

  /** A server on {@code host:port} (port 0: any free port) over Netty, taking messages up to {@link #MAX_MESSAGE_BYTES}. */
  public static NettyServerBuilder netty(String host, int port) {
    return netty(host, port, MAX_MESSAGE_BYTES);
  }

  /** A server on {@code host:port} over Netty that refuses (RESOURCE_EXHAUSTED) any message larger than {@code maxInboundBytes}. */
  public static NettyServerBuilder netty(String host, int port, int maxInboundBytes) {
    return NettyServerBuilder.forAddress(new java.net.InetSocketAddress(host, port)).maxInboundMessageSize(maxInboundBytes);
  }

  public GrpcServer start() throws IOException {
    server.start();
    health.setStatus("", ServingStatus.SERVING);
    LOG.info("{} gRPC server listening on port {}", name, port());
    return this;
  }

  public int port() {
    return server.getPort();
  }

  public HealthStatusManager health() {
    return health;
  }

  /** Tells health checkers this server takes no new work (draining or not ready). */
  public void setServing(boolean serving) {
    health.setStatus("", serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  }

  /** Stops taking new calls, lets running calls finish within {@code grace}, then cancels what is left. */
  public void drain(Duration grace) {
    setServing(false);
    server.shutdown();
    try {
      if (!server.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        LOG.warn("{}: calls still running after {}; cancelling them", name, grace);
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
    health.enterTerminalState();
  }

  public void stop() {
    health.enterTerminalState();
    server.shutdownNow();
    try {
      server.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  public void awaitTermination() throws InterruptedException {
    server.awaitTermination();
  }
}
