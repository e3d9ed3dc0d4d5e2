package dev.caravan.coordinator.http;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** The HTTP API's metrics, in the coordinator's registry. */
final class HttpMetrics {
  /** Requests answered, by endpoint (the route, or {@code other}: bounded) and HTTP status (499: the client left first). */
  final Counter requests;

  HttpMetrics(PrometheusRegistry registry) {
    requests = Counter.builder().name("caravan_http_requests_total").help("HTTP API requests answered, by endpoint and HTTP status (499: the client closed the connection first)")
        .labelNames("endpoint", "status").register(registry);
  }

  void count(Route route, int status) {
    requests.labelValues(route.label, Integer.toString(status)).inc();
  }
}
