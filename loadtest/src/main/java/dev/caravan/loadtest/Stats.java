package dev.caravan.loadtest;

import java.util.Arrays;

/**
 * Summary statistics computed the way NumPy does, so the numbers compare with vLLM's benchmark: population standard
 * deviation ({@code np.std}), and percentiles by linear interpolation between the two closest ranks
 * ({@code np.percentile}'s default): the p-th percentile of n sorted values sits at rank {@code p/100 * (n - 1)}.
 * An empty sample yields 0 everywhere, as vLLM's {@code np.mean(xs or 0)} does.
 */
final class Stats {
  private final double[] sorted;
  private final double mean;
  private final double std;

  private Stats(double[] values) {
    this.sorted = values.clone();
    Arrays.sort(sorted);
    double sum = 0;
    for (double v : sorted) {
      sum += v;
    }
    this.mean = sorted.length == 0 ? 0 : sum / sorted.length;
    double squares = 0;
    for (double v : sorted) {
      squares += (v - mean) * (v - mean);
    }
    this.std = sorted.length == 0 ? 0 : Math.sqrt(squares / sorted.length);
  }

  static Stats of(double... values) {
    return new Stats(values);
  }

  int count() {
    return sorted.length;
  }

  double mean() {
    return mean;
  }

  /** Population standard deviation (divides by n, like {@code np.std}). */
  double std() {
    return std;
  }

  double median() {
    return percentile(50);
  }

  double min() {
    return sorted.length == 0 ? 0 : sorted[0];
  }

  double max() {
    return sorted.length == 0 ? 0 : sorted[sorted.length - 1];
  }

  /** The p-th percentile, p in [0, 100], interpolated linearly between closest ranks. */
  double percentile(double p) {
    if (!(p >= 0 && p <= 100)) {
      throw new IllegalArgumentException("percentile must be in [0, 100], not " + p);
    }
    if (sorted.length == 0) {
      return 0;
    }
    double rank = p / 100 * (sorted.length - 1);
    int lo = (int) Math.floor(rank);
    int hi = Math.min(lo + 1, sorted.length - 1);
    double frac = rank - lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
  }
}
