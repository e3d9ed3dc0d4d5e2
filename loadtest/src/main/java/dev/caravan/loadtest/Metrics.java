package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The benchmark's numbers, with vLLM's definitions ({@code vllm/benchmarks/serve.py}, {@code calculate_metrics}):
 * token totals, latencies and goodput count successful requests only; throughputs divide by the benchmark duration;
 * TPOT is {@code (e2el - ttft) / (output_tokens - 1)} over requests with more than one output token; ITL pools every
 * inter-token latency of every request. Latencies are in milliseconds.
 *
 * @param completed successful requests
 * @param failed failed requests
 * @param totalInput prompt tokens of successful requests
 * @param totalOutput generated tokens of successful requests
 * @param durationSeconds the benchmark duration
 * @param requestThroughput completed / duration
 * @param requestGoodput successful requests meeting every SLO / duration, or null when no SLO was given
 * @param outputThroughput totalOutput / duration
 * @param totalTokenThroughput (totalInput + totalOutput) / duration
 * @param maxOutputTokensPerSecond output tokens of the busiest one-second bucket
 * @param peakConcurrency most requests in flight at once
 * @param ttft time to first token
 * @param tpot time per output token, excluding the first
 * @param itl inter-token latency
 * @param e2el end-to-end latency
 * @param errorsByStatus failed requests by gRPC status code name
 * @param migratedRequests successful requests the server moved to another plan at least once ({@code Usage.migrations > 0})
 * @param recomputedTokens tokens those moves recomputed, over all requests
 * @param recovery how long streams stalled across the run's faults
 */
record Metrics(int completed, int failed, long totalInput, long totalOutput, double durationSeconds, double requestThroughput, Double requestGoodput, double outputThroughput,
    double totalTokenThroughput, double maxOutputTokensPerSecond, int peakConcurrency, Latency ttft, Latency tpot, Latency itl, Latency e2el, Map<String, Long> errorsByStatus,
    int migratedRequests, long recomputedTokens, RecoveryGaps recovery) {

  /**
   * Summary of one latency, in milliseconds.
   *
   * @param percentiles the requested percentiles (e.g. 90, 99) to their values
   */
  record Latency(int count, double mean, double median, double std, Map<Double, Double> percentiles) {
    static Latency of(Stats s, List<Double> percentiles) {
      Map<Double, Double> p = new LinkedHashMap<>();
      for (double q : percentiles) {
        p.put(q, s.percentile(q));
      }
      return new Latency(s.count(), s.mean(), s.median(), s.std(), p);
    }

    /** The highest reported percentile (the median when none was asked for). */
    double tail() {
      double v = median;
      for (double x : percentiles.values()) {
        v = x;
      }
      return v;
    }
  }

  /** The metrics of a run. {@code percentiles} in (0, 100], e.g. [90, 99]. */
  static Metrics of(RunOutcome run, Slo slo, List<Double> percentiles) {
    List<RequestResult> ok = run.results().stream().filter(RequestResult::success).toList();
    double duration = run.durationSeconds() > 0 ? run.durationSeconds() : Double.MIN_NORMAL;
    long input = 0;
    long output = 0;
    int good = 0;
    double[] ttfts = new double[ok.size()];
    double[] e2els = new double[ok.size()];
    List<Double> tpots = new ArrayList<>();
    int itlCount = 0;
    for (RequestResult r : ok) {
      itlCount += r.itlSeconds().length;
    }
    double[] itls = new double[itlCount];
    int k = 0;
    for (int i = 0; i < ok.size(); i++) {
      RequestResult r = ok.get(i);
      input += r.inputTokens();
      output += r.outputTokens();
      ttfts[i] = r.ttftSeconds() * 1000;
      e2els[i] = r.latencySeconds() * 1000;
      if (r.outputTokens() > 1) {
        tpots.add(r.tpotSeconds() * 1000);
      }
      for (double itl : r.itlSeconds()) {
        itls[k++] = itl * 1000;
      }
      if (slo.any() && slo.met(ttfts[i], r.tpotSeconds() * 1000, e2els[i])) {
        good++;
      }
    }
    Map<String, Long> errors = new TreeMap<>();
    int migrated = 0;
    long recomputed = 0;
    for (RequestResult r : run.results()) {
      if (!r.success()) {
        errors.merge(r.status().name(), 1L, Long::sum);
      }
      if (r.migrations() > 0) {
        migrated++;
      }
      recomputed += r.recomputedTokens();
    }
    double peakTokens = 0;
    for (Timeline.Second s : Timeline.of(run).seconds()) {
      peakTokens = Math.max(peakTokens, s.outputTokens());
    }
    return new Metrics(ok.size(), run.results().size() - ok.size(), input, output, run.durationSeconds(), ok.size() / duration, slo.any() ? good / duration : null,
        output / duration, (input + output) / duration, peakTokens, run.peakConcurrency(),
        Latency.of(Stats.of(ttfts), percentiles), Latency.of(Stats.of(tpots.stream().mapToDouble(Double::doubleValue).toArray()), percentiles),
        Latency.of(Stats.of(itls), percentiles), Latency.of(Stats.of(e2els), percentiles), errors, migrated, recomputed, RecoveryGaps.of(run.results(), run.faults()));
  }
}
