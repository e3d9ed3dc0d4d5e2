package dev.caravan.engine.tensor;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs index ranges on a persistent pool of {@code threads} threads, the caller counting as one: built for the ~150+
 * short dispatches of every decoded token.
 *
 * <p>How a dispatch runs: {@link #forRange} splits [0, n) into at most {@code threads * 4} contiguous chunks and
 * publishes them; every thread, the caller first, claims chunks one by one until none are left, and the caller
 * returns when all chunks are done. Idle workers spin for {@code -Dcaravan.parallel.spinMicros} (default 200 µs) so
 * that the next dispatch starts without a wake-up, then park. Nothing is allocated per dispatch.
 *
 * <p>Threading: a {@code Parallel} is driven by one thread at a time (the model that owns it). A second concurrent
 * {@code forRange}, including a nested one from inside a task, fails with {@link IllegalStateException} rather than
 * deadlocking. Results never depend on which thread ran which chunk: tasks must write disjoint outputs per index.
 */
public final class Parallel implements AutoCloseable {

  /** Work over the half-open index range [from, to). */
  @FunctionalInterface
  public interface RangeTask {
    void run(int from, int to);
  }

  private static final int CHUNKS_PER_THREAD = 4;
  private static final long SPIN_NANOS = TimeUnit.MICROSECONDS.toNanos(Long.getLong("caravan.parallel.spinMicros", 200));
  private static final AtomicInteger POOLS = new AtomicInteger();

  private final int threads;
  private final Worker[] workers; // (threads - 1) helpers; the caller is the remaining thread

  // the current dispatch; task and n are written before `claim` publishes them
  private RangeTask task;
  private int n;
  /** Packed claim word: generation (high 32 bits), chunk count (bits 16..31), next chunk to claim (bits 0..15). */
  private final AtomicLong claim = new AtomicLong();
  private final AtomicInteger remaining = new AtomicInteger();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  private final AtomicBoolean busy = new AtomicBoolean();
  private volatile boolean closed;
  private int generation;

  /** A pool of {@code threads} threads including the caller; {@code threads - 1} daemon workers are started now. */
  public Parallel(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, not " + threads);
    }
    this.threads = threads;
    this.workers = new Worker[threads - 1];
    int pool = POOLS.incrementAndGet();
    for (int i = 0; i < workers.length; i++) {
      workers[i] = new Worker();
      Thread t = new Thread(workers[i], "caravan-parallel-" + pool + "-" + (i + 1));
      t.setDaemon(true);
      workers[i].thread = t;
      t.start();
    }
  }

  /** Threads that run chunks, the caller included. */
  public int threads() {
    return threads;
  }

  /**
   * Splits [0, n) into contiguous chunks, runs {@code task} on each (in parallel, the calling thread taking part) and
   * returns when all are done. An exception thrown by any chunk is rethrown here after every chunk has finished.
   */
  public void forRange(int n, RangeTask task) {
    if (n < 0) {
      throw new IllegalArgumentException("n must be >= 0, not " + n);
    }
    int chunks = Math.min(n, threads * CHUNKS_PER_THREAD);
    if (closed) {
      throw new IllegalStateException("this Parallel is closed");
    }
    if (!busy.compareAndSet(false, true)) {
      throw new IllegalStateException("Parallel.forRange called while another forRange is running on this pool (a Parallel is driven by one thread at a time)");
    }
    try {
      if (chunks <= 1 || workers.length == 0) {
        if (n > 0) {
          task.run(0, n);
        }
        return;
      }
      // publish: the dispatch fields, then the claim word (volatile) that workers watch
      this.task = task;
      this.n = n;
      remaining.set(chunks);
      generation++;
      claim.set(((long) generation << 32) | ((long) chunks << 16));
      for (Worker w : workers) {
        if (w.parked) {
          LockSupport.unpark(w.thread);
        }
      }
      runChunks(generation);
      // wait for chunks still running on workers
      int spins = 0;
      while (remaining.get() != 0) {
        if (++spins < 10_000) {
          Thread.onSpinWait();
        } else {
          Thread.yield();
        }
      }
      this.task = null;
      Throwable t = failure.getAndSet(null);
      if (t != null) {
        if (t instanceof RuntimeException re) {
          throw re;
        }
        if (t instanceof Error e) {
          throw e;
        }
        throw new IllegalStateException(t);
      }
    } finally {
      busy.set(false);
    }
  }

  /** Claims and runs chunks of generation {@code gen} until none are left. */
  private void runChunks(int gen) {
    while (true) {
      long c = claim.get();
      int chunk = (int) (c & 0xFFFF);
      int chunks = (int) ((c >>> 16) & 0xFFFF);
      if ((int) (c >>> 32) != gen || chunk >= chunks) {
        return;
      }
      if (!claim.compareAndSet(c, c + 1)) {
        continue;
      }
      // the claimed chunk belongs to `gen`, whose fields stay put until `remaining` reaches 0
      try {
        int total = n;
        task.run((int) ((long) total * chunk / chunks), (int) ((long) total * (chunk + 1) / chunks));
      } catch (Throwable t) {
        failure.compareAndSet(null, t);
      } finally {
        remaining.decrementAndGet();
      }
    }
  }

  /** Stops the workers (they exit after their current chunk). Further {@link #forRange} calls fail. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Worker w : workers) {
      LockSupport.unpark(w.thread);
    }
    for (Worker w : workers) {
      try {
        w.thread.join(TimeUnit.SECONDS.toMillis(1));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** A helper thread: waits for a new generation (spin, then park), runs chunks, repeats until closed. */
  private final class Worker implements Runnable {
    Thread thread;
    volatile boolean parked;

    @Override
    public void run() {
      int seen = 0;
      while (!closed) {
        int gen = awaitGeneration(seen);
        if (gen == seen) {
          return; // closed
        }
        seen = gen;
        runChunks(gen);
      }
    }

    /** The generation after {@code seen}, or {@code seen} when the pool closed. */
    private int awaitGeneration(int seen) {
      long deadline = System.nanoTime() + SPIN_NANOS;
      while (true) {
        int gen = (int) (claim.get() >>> 32);
        if (gen != seen) {
          return gen;
        }
        if (closed) {
          return seen;
        }
        if (System.nanoTime() < deadline) {
          Thread.onSpinWait();
          continue;
        }
        // announce the park, then re-check: the dispatcher reads `parked` after publishing (no lost wake-up)
        parked = true;
        if ((int) (claim.get() >>> 32) == seen && !closed) {
          LockSupport.park(this);
        }
        parked = false;
        deadline = System.nanoTime() + SPIN_NANOS;
      }
    }
  }
}
