package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.List;

/**
 * How long streams stalled across faults. For every injected fault that disrupts (kill, stop, start, scale) at time F
 * and every stream alive across it (sent before F, ended after F), the gap runs from the last token the client saw at or
 * before F (its send time when none had arrived yet) to its first token after F. A stream that got no token after F
 * (it failed, or had already sent its last token) has no gap; a stream across two faults has one gap for each.
 * Percentiles are NumPy's ({@link Stats}), in milliseconds.
 *
 * @param streamsAcross (stream, fault) pairs where the stream was alive across the fault
 * @param gapsSeconds the gaps measured, in seconds, in request order
 * @param median median gap, ms
 * @param p90 90th percentile gap, ms
 * @param max largest gap, ms
 */
record RecoveryGaps(int streamsAcross, double[] gapsSeconds, double median, double p90, double max) {
  static final RecoveryGaps NONE = new RecoveryGaps(0, new double[0], 0, 0, 0);

  static RecoveryGaps of(List<RequestResult> results, List<FaultEvent> faults) {
    List<Double> faultTimes = new ArrayList<>();
    for (FaultEvent f : faults) {
      if (f.disrupts()) {
        faultTimes.add(f.seconds());
      }
    }
    if (faultTimes.isEmpty()) {
      return NONE;
    }
    int across = 0;
    List<Double> gaps = new ArrayList<>();
    for (RequestResult r : results) {
      for (double t : faultTimes) {
        if (!(r.sendSeconds() < t && r.endSeconds() > t)) {
          continue;
        }
        across++;
        double[] chunks = r.chunkSeconds();
        if (chunks == null) {
          continue;
        }
        double before = r.sendSeconds();
        double after = Double.NaN;
        for (double c : chunks) {
          if (c <= t) {
            before = Math.max(before, c);
          } else {
            after = c;
            break;
          }
        }
        if (!Double.isNaN(after)) {
          gaps.add(after - before);
        }
      }
    }
    double[] g = gaps.stream().mapToDouble(Double::doubleValue).toArray();
    double[] ms = gaps.stream().mapToDouble(x -> x * 1000).toArray();
    Stats s = Stats.of(ms);
    return new RecoveryGaps(across, g, s.median(), s.percentile(90), s.max());
  }

  int count() {
    return gapsSeconds.length;
  }
}
