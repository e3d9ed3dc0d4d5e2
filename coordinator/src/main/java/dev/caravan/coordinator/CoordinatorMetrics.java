package dev.caravan.coordinator;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The coordinator's Prometheus metrics, named like vLLM's serving metrics (with a caravan_ prefix) in base units.
 * Intervals are computed from timestamps taken in this process only.
 */
public final class CoordinatorMetrics {
  private static final double[] LATENCY_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80};

  public final PrometheusRegistry registry = new PrometheusRegistry();

  public final Gauge requestsRunning = Gauge.builder().name("caravan_requests_running").help("Requests generating now").register(registry);
  public final Gauge requestsWaiting = Gauge.builder().name("caravan_requests_waiting").help("Requests queued for a slot").register(registry);
  public final Histogram timeToFirstToken = Histogram.builder().name("caravan_time_to_first_token_seconds").help("Time from accepting a request to its first generated token").classicUpperBounds(LATENCY_BUCKETS).register(registry);
  public final Histogram interTokenLatency = Histogram.builder().name("caravan_inter_token_latency_seconds").help("Time between successive generated tokens of a request").classicUpperBounds(LATENCY_BUCKETS).register(registry);
  public final Histogram queueTime = Histogram.builder().name("caravan_request_queue_time_seconds").help("Time from accepting a request until it first runs (waiting for a slot, KV room or a plan)").classicUpperBounds(LATENCY_BUCKETS).register(registry);
  public final Histogram e2eLatency = Histogram.builder().name("caravan_e2e_request_latency_seconds").help("Time from accepting a request to its end").classicUpperBounds(LATENCY_BUCKETS).register(registry);
  public final Counter promptTokens = Counter.builder().name("caravan_prompt_tokens_total").help("Prompt tokens of accepted requests").register(registry);
  public final Counter promptTokensComputed = Counter.builder().name("caravan_prompt_tokens_computed_total").help("Prompt tokens run through the pipeline (prompt tokens minus those reused from a session's KV cache)").register(registry);
  public final Counter promptTokensCached = Counter.builder().name("caravan_prompt_tokens_cached_total").help("Prompt tokens whose KV cache was reused from the session's previous turn").register(registry);
  public final Counter generationTokens = Counter.builder().name("caravan_generation_tokens_total").help("Tokens generated").register(registry);
  public final Counter requestSuccess = Counter.builder().name("caravan_request_success_total").help("Requests that finished, by finish reason").labelNames("finished_reason").register(registry);
  public final Counter requestErrors = Counter.builder().name("caravan_request_errors_total").help("Requests that ended with an error, by gRPC status code").labelNames("code").register(registry);
  public final Counter migrations = Counter.builder().name("caravan_request_migrations_total").help("Requests moved to another plan and recomputed there, by reason (failure: a stage was lost; plan_change: a planned re-plan; preempted: made room for KV)").labelNames("reason").register(registry);
  public final Counter recomputedTokens = Counter.builder().name("caravan_recomputed_tokens_total").help("Positions computed again because their request moved to another plan").register(registry);
  public final Histogram batchTokens = Histogram.builder().name("caravan_batch_tokens").help("Tokens per pipeline batch").classicUpperBounds(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048).register(registry);
  public final Gauge planEpoch = Gauge.builder().name("caravan_plan_epoch").help("Epoch of the plan serving new requests (-1: none)").register(registry);
  public final Gauge workers = Gauge.builder().name("caravan_workers").help("Workers in the cluster").register(registry);
  public final Gauge stages = Gauge.builder().name("caravan_plan_stages").help("Stages of the serving plan").register(registry);

  {
    // every reason has a series from the start (0 until it happens), so dashboards and alerts see them before the first move
    for (String reason : new String[] {"failure", "plan_change", "preempted"}) {
      migrations.labelValues(reason);
    }
  }
}
