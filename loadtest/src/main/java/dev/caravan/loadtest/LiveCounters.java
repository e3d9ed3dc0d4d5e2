package dev.caravan.loadtest;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** Counters updated as requests run, read by the progress line and for the peak concurrency. Thread-safe. */
final class LiveCounters {
  private final LongAdder completed = new LongAdder();
  private final LongAdder failed = new LongAdder();
  private final LongAdder outputTokens = new LongAdder();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger peakInFlight = new AtomicInteger();

  void sent() {
    int now = inFlight.incrementAndGet();
    peakInFlight.accumulateAndGet(now, Math::max);
  }

  void finished(boolean success) {
    inFlight.decrementAndGet();
    (success ? completed : failed).increment();
  }

  void tokens(int n) {
    outputTokens.add(n);
  }

  long completed() {
    return completed.sum();
  }

  long failed() {
    return failed.sum();
  }

  long outputTokens() {
    return outputTokens.sum();
  }

  int inFlight() {
    return inFlight.get();
  }

  /** Most requests in flight at once (sent and not yet ended) since these counters were made. */
  int peakInFlight() {
    return peakInFlight.get();
  }
}
