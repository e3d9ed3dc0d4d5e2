package dev.caravan.loadtest;

import java.util.List;
import java.util.Locale;

/**
 * Everything the reports of one run show: what was run, against what, what happened, and its metrics.
 *
 * @param target the target's HOST:PORT
 * @param targetInfo what the target told about its model
 * @param workload the workload's one-line description
 * @param outcome the run's requests
 * @param metrics its numbers
 * @param slo the goodput objectives (possibly none)
 * @param percentiles the percentiles reported besides the median, e.g. [90, 99]
 * @param verification the comparison with a fault-free reference run ({@code --verify}), or null
 */
record Report(String target, TargetInfo targetInfo, String workload, RunOutcome outcome, Metrics metrics, Slo slo, List<Double> percentiles, Verification verification) {

  static Report of(String target, TargetInfo info, Workload workload, RunOutcome outcome, Slo slo, List<Double> percentiles) {
    return new Report(target, info, workload.describe(), outcome, Metrics.of(outcome, slo, percentiles), slo, percentiles, null);
  }

  Report withVerification(Verification v) {
    return new Report(target, targetInfo, workload, outcome, metrics, slo, percentiles, v);
  }

  /** Whether the run had faults, or requests that migrated anyway: the reports then show migrations and recovery. */
  boolean showsRecovery() {
    return !outcome.faults().isEmpty() || metrics.migratedRequests() > 0;
  }

  Traffic traffic() {
    return outcome.traffic();
  }

  /** A number without a needless fraction: 4, 0.5, 2.25. */
  static String number(double d) {
    if (d == Math.rint(d) && Math.abs(d) < 1e15) {
      return Long.toString((long) d);
    }
    return String.format(Locale.ROOT, "%s", d);
  }

  /** How vLLM names a percentile: 99 as "99", 99.9 as "99.9". */
  static String percentileWord(double p) {
    return number(p);
  }
}
