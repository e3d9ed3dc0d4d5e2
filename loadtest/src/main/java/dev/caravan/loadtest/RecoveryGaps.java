package dev.caravan.loadtest;

import java.util.ArrayList;
import java.util.List;

/**
 * How long streams stalled across faults. For every injected fault that disrupts (kill, stop, start, scale) at time F
 * and every stream alive across it (sent before F, ended after F), the gap is the stream's longest silence from the
 * last token the client saw at or before F (its send time when none had arrived yet) on: the time between two of its
 * consecutive tokens from there. Tokens already on their way when the fault struck arrive just after F, so the time to
 * the first token after F alone would miss the stall; the longest silence after F is the stall (for a stream the fault
 * did not touch, its slowest inter-token latency). A stream that got no token after F (it failed, or had already
 * received its last token) has no gap; a stream across two faults has one gap for each. Percentiles are NumPy's
 * ({@link Stats}), in milliseconds.
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
        double last = r.sendSeconds();
        double longest = Double.NaN;
        for (double c : chunks) {
          if (c > t) {
            longest = Double.isNaN(longest) ? c - last : Math.max(longest, c - last);
          }
          last = Math.max(last, c);
        }
        if (!Double.isNaN(longest)) {
          gaps.add(longest);
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
