package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.grpc.Status;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** vLLM's metric definitions on a hand-made run whose every number is worked out below. */
class MetricsTest {
  private static final double EPS = 1e-9;

  static RequestResult ok(long index, double start, double ttft, double latency, int input, double... itls) {
    return new RequestResult(index, start, 0, ttft, latency, itls, input, itls.length + 1, Status.Code.OK, "");
  }

  static RequestResult failed(long index, double start, Status status) {
    return RequestResult.failure(index, start, 0, 0.5, 10, status);
  }

  /**
   * A: ttft 0.1, e2el 0.4, 4 tokens (itls 0.1 each) -> tpot (0.4 - 0.1) / 3 = 0.1.
   * B: ttft 0.2, e2el 0.8, 3 tokens (itls 0.2, 0.4) -> tpot 0.3.
   * C: ttft 0.3, e2el 0.3, 1 token -> no tpot (0 for goodput).
   * D: UNAVAILABLE. E: UNAVAILABLE. F: DEADLINE_EXCEEDED.
   */
  static RunOutcome run() {
    List<RequestResult> results = List.of(
        ok(0, 0.0, 0.1, 0.4, 10, 0.1, 0.1, 0.1),
        ok(1, 0.5, 0.2, 0.8, 20, 0.2, 0.4),
        ok(2, 1.0, 0.3, 0.3, 30),
        failed(3, 1.1, Status.UNAVAILABLE.withDescription("no workers")),
        failed(4, 1.2, Status.UNAVAILABLE),
        failed(5, 1.3, Status.DEADLINE_EXCEEDED));
    return new RunOutcome(Traffic.closed(2, 6L, null), results, 2.0, 2, Instant.EPOCH);
  }

  @Test
  void countsTotalsAndThroughputs() {
    Metrics m = Metrics.of(run(), Slo.NONE, List.of(90.0, 99.0));
    assertEquals(3, m.completed());
    assertEquals(3, m.failed());
    assertEquals(60, m.totalInput(), "input of successful requests only");
    assertEquals(8, m.totalOutput());
    assertEquals(2.0, m.durationSeconds(), EPS);
    assertEquals(1.5, m.requestThroughput(), EPS);
    assertEquals(4.0, m.outputThroughput(), EPS);
    assertEquals(34.0, m.totalTokenThroughput(), EPS);
    assertNull(m.requestGoodput(), "no SLO, no goodput");
    assertEquals(Map.of("DEADLINE_EXCEEDED", 1L, "UNAVAILABLE", 2L), m.errorsByStatus());
    assertEquals(2, m.peakConcurrency());
  }

  @Test
  void latencies() {
    Metrics m = Metrics.of(run(), Slo.NONE, List.of(90.0, 99.0));
    // TTFT 100, 200, 300 ms
    assertEquals(200, m.ttft().mean(), EPS);
    assertEquals(200, m.ttft().median(), EPS);
    assertEquals(Math.sqrt(20000.0 / 3), m.ttft().std(), EPS);
    assertEquals(280, m.ttft().percentiles().get(90.0), EPS);
    assertEquals(298, m.ttft().percentiles().get(99.0), EPS);
    // TPOT over requests with more than one token: 100, 300 ms
    assertEquals(2, m.tpot().count());
    assertEquals(200, m.tpot().mean(), EPS);
    assertEquals(100, m.tpot().std(), EPS);
    assertEquals(280, m.tpot().percentiles().get(90.0), EPS);
    // ITL pooled: 100, 100, 100, 200, 400 ms
    assertEquals(5, m.itl().count());
    assertEquals(180, m.itl().mean(), EPS);
    assertEquals(100, m.itl().median(), EPS);
    // rank 0.9 * 4 = 3.6: 200 + 0.6 * 200
    assertEquals(320, m.itl().percentiles().get(90.0), EPS);
    // E2EL 400, 800, 300 ms
    assertEquals(500, m.e2el().mean(), EPS);
    assertEquals(400, m.e2el().median(), EPS);
  }

  @Test
  void goodputCountsRequestsMeetingEverySlo() {
    // ttft <= 200 ms: A, B (inclusive); tpot <= 150 ms: A, C (one token: tpot 0). Both: A only -> 1 / 2 s
    assertEquals(0.5, Metrics.of(run(), Slo.parse("ttft=200ms,tpot=150ms"), List.of(99.0)).requestGoodput(), EPS);
    // e2el <= 400 ms holds for A (exactly 400) and C (300)
    assertEquals(1.0, Metrics.of(run(), Slo.parse("e2el=400"), List.of(99.0)).requestGoodput(), EPS);
    // failed requests are never good
    assertEquals(1.5, Metrics.of(run(), Slo.parse("e2el=1h"), List.of(99.0)).requestGoodput(), EPS);
    assertEquals(0.0, Metrics.of(run(), Slo.parse("ttft=1ms"), List.of(99.0)).requestGoodput(), EPS);
  }

  @Test
  void peakOutputTokensPerSecondBucketsTokenArrivals() {
    // A: tokens at 0.1, 0.2, 0.3, 0.4 (second 0); B: 0.7 (0), 0.9 (0), 1.3 (1); C: 1.3 (1) -> 6 in second 0
    assertEquals(6, Metrics.of(run(), Slo.NONE, List.of(99.0)).maxOutputTokensPerSecond(), EPS);
  }

  @Test
  void allFailedIsZerosNotAnError() {
    RunOutcome run = new RunOutcome(Traffic.closed(1, 2L, null), List.of(failed(0, 0, Status.UNAVAILABLE), failed(1, 0.5, Status.UNAVAILABLE)), 1.0, 1, Instant.EPOCH);
    Metrics m = Metrics.of(run, Slo.parse("ttft=1s"), List.of(99.0));
    assertEquals(0, m.completed());
    assertEquals(2, m.failed());
    assertEquals(0, m.ttft().mean());
    assertEquals(0, m.requestThroughput());
    assertEquals(0, m.requestGoodput());
    assertEquals(Map.of("UNAVAILABLE", 2L), m.errorsByStatus());
  }
}
