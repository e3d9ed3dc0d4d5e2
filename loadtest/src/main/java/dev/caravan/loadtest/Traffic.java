package dev.caravan.loadtest;

import java.time.Duration;

/**
 * The shape of one run's load: closed loop (a fixed number of clients, each sending its next request when the last one
 * ends) or open loop (requests arrive at a rate, whether or not earlier ones have ended, optionally capped at a number
 * in flight), and when to stop.
 *
 * @param concurrency clients of a closed loop, or null for open loop
 * @param rate open-loop arrivals per second, or null for closed loop
 * @param arrivals how open-loop arrivals are spaced
 * @param maxConcurrency open-loop cap on requests in flight, or null for none
 * @param requests stop after this many requests, or null for no count limit
 * @param duration stop starting requests after this long, or null for no time limit
 * @param seed seeds the arrival schedule
 */
record Traffic(Integer concurrency, Double rate, ArrivalSchedule.Kind arrivals, Integer maxConcurrency, Long requests, Duration duration, long seed) {
  Traffic {
    if ((concurrency == null) == (rate == null)) {
      throw new IllegalArgumentException("traffic is either closed loop (concurrency) or open loop (rate)");
    }
    if (requests == null && duration == null) {
      throw new IllegalArgumentException("a run needs a request count or a duration to stop by");
    }
  }

  static Traffic closed(int concurrency, Long requests, Duration duration) {
    return new Traffic(concurrency, null, ArrivalSchedule.Kind.POISSON, null, requests, duration, 0);
  }

  static Traffic open(double rate, ArrivalSchedule.Kind arrivals, Integer maxConcurrency, Long requests, Duration duration, long seed) {
    return new Traffic(null, rate, arrivals, maxConcurrency, requests, duration, seed);
  }

  boolean closedLoop() {
    return concurrency != null;
  }

  /** One line for the console. */
  String describe() {
    String shape = closedLoop()
        ? "closed loop, concurrency " + concurrency
        : "open loop, " + Report.number(rate) + " req/s " + (arrivals == ArrivalSchedule.Kind.POISSON ? "Poisson" : "constant") + " arrivals"
            + (maxConcurrency != null ? ", at most " + maxConcurrency + " in flight" : "");
    String stop = requests != null && duration != null
        ? requests + " requests or " + Durations.format(duration) + ", whichever comes first"
        : requests != null ? requests + " requests" : Durations.format(duration);
    return shape + "; stops after " + stop;
  }
}
