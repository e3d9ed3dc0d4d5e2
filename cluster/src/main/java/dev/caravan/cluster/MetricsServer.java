package dev.caravan.cluster;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;

/** Serves a registry's metrics, with the JVM's, at {@code http://host:port/metrics} (Prometheus text format). */
public final class MetricsServer implements AutoCloseable {
  private final HTTPServer server;

  private MetricsServer(HTTPServer server) {
    this.server = server;
  }

  /** Port 0 picks a free port. JVM metrics are registered once per registry. */
  public static MetricsServer start(String host, int port, PrometheusRegistry registry) throws IOException {
    JvmMetrics.builder().register(registry);
    return new MetricsServer(HTTPServer.builder().hostname(host).port(port).registry(registry).buildAndStart());
  }

  public int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    server.close();
  }
}
