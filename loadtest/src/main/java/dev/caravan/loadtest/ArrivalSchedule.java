package dev.caravan.loadtest;

import java.util.SplittableRandom;

/**
 * When open-loop requests are due, as offsets from the start of the run. The first request is due at 0. Not
 * thread-safe: one dispatcher reads it.
 */
abstract sealed class ArrivalSchedule {
  /** Offset of the next request from the start, in nanoseconds; non-decreasing. */
  abstract long nextOffsetNanos();

  /** How arrivals are spaced. */
  enum Kind {
    /** A Poisson process: exponentially distributed gaps with mean 1/rate (vLLM's burstiness 1). */
    POISSON,
    /** Evenly spaced, exactly 1/rate apart (vLLM's burstiness infinity). */
    CONSTANT
  }

  static ArrivalSchedule of(Kind kind, double ratePerSecond, long seed) {
    if (!(ratePerSecond > 0) || Double.isInfinite(ratePerSecond)) {
      throw new IllegalArgumentException("rate must be a positive number, not " + ratePerSecond);
    }
    return switch (kind) {
      case POISSON -> new Poisson(ratePerSecond, seed);
      case CONSTANT -> new Constant(ratePerSecond);
    };
  }

  /** Request i at i/rate; computed from i, so no rounding error accumulates. */
  static final class Constant extends ArrivalSchedule {
    private final double gapNanos;
    private long next;

    Constant(double ratePerSecond) {
      this.gapNanos = 1e9 / ratePerSecond;
    }

    @Override
    long nextOffsetNanos() {
      return Math.round(next++ * gapNanos);
    }
  }

  /** Gaps drawn from Exp(rate) with a seeded generator, so a seed gives the same schedule. */
  static final class Poisson extends ArrivalSchedule {
    private final double meanGapNanos;
    private final SplittableRandom random;
    private double offset;
    private boolean first = true;

    Poisson(double ratePerSecond, long seed) {
      this.meanGapNanos = 1e9 / ratePerSecond;
      this.random = new SplittableRandom(seed);
    }

    @Override
    long nextOffsetNanos() {
      if (first) {
        first = false;
        return 0;
      }
      // inverse transform sampling; 1 - u is in (0, 1], so the log is finite
      offset += -Math.log(1 - random.nextDouble()) * meanGapNanos;
      return Math.round(offset);
    }
  }
}
