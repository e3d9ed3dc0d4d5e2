package dev.caravan.loadtest;

import java.time.Instant;
import java.util.List;

/**
 * What a run produced.
 *
 * @param traffic the load it ran
 * @param results every request, ordered by index
 * @param durationSeconds from the start of the run to the end of its last request
 * @param peakConcurrency most requests in flight at once (sent and not yet ended, failures included)
 * @param startedAt wall-clock start, for the report
 * @param faults the faults injected during it (or not reached), in order
 */
record RunOutcome(Traffic traffic, List<RequestResult> results, double durationSeconds, int peakConcurrency, Instant startedAt, List<FaultEvent> faults) {
  /** A run without faults. */
  RunOutcome(Traffic traffic, List<RequestResult> results, double durationSeconds, int peakConcurrency, Instant startedAt) {
    this(traffic, results, durationSeconds, peakConcurrency, startedAt, List.of());
  }
}
