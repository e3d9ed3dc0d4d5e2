package dev.caravan.loadtest;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * A latency distribution for the charts: an HdrHistogram of microseconds (3 significant digits), read back in
 * milliseconds as histogram bins and as a cumulative distribution.
 */
final class Distribution {
  /** Share of the slowest values folded into the last histogram bar, so one outlier does not flatten the rest. */
  static final double BAR_CAP_PERCENTILE = 99.5;
  private final Histogram histogram = Timeline.histogram();

  void recordSeconds(double seconds) {
    histogram.recordValue(Timeline.micros(seconds));
  }

  long count() {
    return histogram.getTotalCount();
  }

  /**
   * Histogram bins in milliseconds.
   *
   * @param edges n + 1 bin edges
   * @param counts values per bin; the last bin also holds every value above the {@link #BAR_CAP_PERCENTILE}th percentile
   */
  record Bins(double[] edges, long[] counts) {}

  Bins bins(int n) {
    if (count() == 0) {
      return new Bins(new double[] {0, 1}, new long[] {0});
    }
    long lo = histogram.getMinValue();
    long hi = Math.max(lo + 1, histogram.getValueAtPercentile(BAR_CAP_PERCENTILE));
    double width = (hi - lo) / (double) n;
    double[] edges = new double[n + 1];
    for (int i = 0; i <= n; i++) {
      edges[i] = (lo + i * width) / 1000.0;
    }
    long[] counts = new long[n];
    for (HistogramIterationValue v : histogram.recordedValues()) {
      int bin = (int) Math.min(n - 1, Math.max(0, Math.floor((v.getValueIteratedTo() - lo) / width)));
      counts[bin] += v.getCountAtValueIteratedTo();
    }
    return new Bins(edges, counts);
  }

  /** Points of the cumulative distribution: x the latency (ms) at or below which y percent of the values are. */
  double[][] cdf() {
    double[] qs = new double[104];
    for (int i = 0; i <= 99; i++) {
      qs[i] = i;
    }
    qs[100] = 99.5;
    qs[101] = 99.9;
    qs[102] = 99.99;
    qs[103] = 100;
    double[] xs = new double[qs.length];
    if (count() == 0) {
      return new double[][] {new double[0], new double[0]};
    }
    for (int i = 0; i < qs.length; i++) {
      xs[i] = histogram.getValueAtPercentile(qs[i]) / 1000.0;
    }
    return new double[][] {xs, qs};
  }
}
