package dev.caravan.worker;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** A shard worker's Prometheus metrics (base units, counters end in _total). */
final class WorkerMetrics {
  final PrometheusRegistry registry = new PrometheusRegistry();

  /** Seconds one stage's forward pass took per frame. */
  final Histogram forwardSeconds = Histogram.builder()
      .name("caravan_worker_forward_seconds")
      .help("Time of one stage's forward pass over one activation frame")
      .labelNames("stage")
      .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
      .register(registry);

  /** Tokens this worker's stages computed. */
  final Counter tokens = Counter.builder()
      .name("caravan_worker_tokens_total")
      .help("Tokens run through this worker's layers")
      .labelNames("stage")
      .register(registry);

  /** Activation bytes received from the previous hop and sent to the next. */
  final Counter activationBytes = Counter.builder()
      .name("caravan_worker_activation_bytes_total")
      .help("Activation payload bytes, by direction (in: from the previous hop, out: to the next)")
      .labelNames("direction")
      .register(registry);

  final Counter frameErrors = Counter.builder()
      .name("caravan_worker_frame_errors_total")
      .help("Frames this worker could not process or pass on")
      .register(registry);

  final Gauge sessions = Gauge.builder()
      .name("caravan_worker_sessions")
      .help("Sessions whose KV cache this worker holds")
      .register(registry);

  final Gauge kvTokens = Gauge.builder()
      .name("caravan_worker_kv_tokens")
      .help("Token positions held in this worker's KV caches")
      .register(registry);

  final Gauge kvBytes = Gauge.builder()
      .name("caravan_worker_kv_bytes")
      .help("Bytes allocated to this worker's KV caches")
      .register(registry);

  final Gauge layers = Gauge.builder()
      .name("caravan_worker_layers")
      .help("Layers of the current plan this worker runs")
      .register(registry);

  final Gauge weightBytes = Gauge.builder()
      .name("caravan_worker_weight_bytes")
      .help("Bytes of the GGUF tensors of the layers of the current plan this worker runs (token embedding and output head included where its stage has them)")
      .register(registry);
}
