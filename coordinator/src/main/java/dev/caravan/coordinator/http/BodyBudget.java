package dev.caravan.coordinator.http;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bytes of request bodies the HTTP API holds at once over every connection — being read, or read and waiting to be
 * tokenized — bounded by {@code --http-max-buffered-bytes}: each body is bounded by {@code --max-request-bytes}, but
 * without this many connections could each hold one and exhaust the heap. A connection whose next bytes would go past
 * the bound is answered 429 and closed.
 */
final class BodyBudget {
  private final long max;
  private final AtomicLong used = new AtomicLong();

  BodyBudget(long max) {
    this.max = max;
  }

  long max() {
    return max;
  }

  long used() {
    return used.get();
  }

  private boolean take(long n) {
    for (long u = used.get(); ; u = used.get()) {
      if (u + n > max) {
        return false;
      }
      if (used.compareAndSet(u, u + n)) {
        return true;
      }
    }
  }

  /** One connection's share: what it took is given back when its bodies are done with, or when it closes. */
  Share share() {
    return new Share();
  }

  final class Share {
    private final AtomicLong held = new AtomicLong(); // the event loop takes; the event loop or a prepare thread gives back

    /** Takes {@code n} more bytes for this connection; false when the server holds too much already. */
    boolean take(long n) {
      if (!BodyBudget.this.take(n)) {
        return false;
      }
      held.addAndGet(n);
      return true;
    }

    /** Gives back {@code n} bytes of this connection's (no more than it holds: after {@link #giveBackAll} nothing). */
    void giveBack(long n) {
      for (long h = held.get(); ; h = held.get()) {
        long back = Math.min(n, h);
        if (held.compareAndSet(h, h - back)) {
          used.addAndGet(-back);
          return;
        }
      }
    }

    /** The connection closed: everything it held is free (a body still waiting to be tokenized is a copy, soon gone). */
    void giveBackAll() {
      used.addAndGet(-held.getAndSet(0));
    }
  }
}
