package dev.caravan.engine.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/** Runs index ranges on a persistent pool of {@code threads} threads (the caller counts as one). */
public final class Parallel implements AutoCloseable {

  /** Work over the half-open index range [from, to). */
  @FunctionalInterface
  public interface RangeTask {
    void run(int from, int to);
  }

  private final int threads;
  private final ForkJoinPool pool;

  public Parallel(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException("threads must be >= 1, not " + threads);
    }
    this.threads = threads;
    this.pool = threads > 1 ? new ForkJoinPool(threads) : null;
  }

  public int threads() {
    return threads;
  }

  /** Splits [0, n) into about {@code threads} contiguous chunks and runs them, returning when all are done. */
  public void forRange(int n, RangeTask task) {
    if (pool == null || n < 2) {
      task.run(0, n);
      return;
    }
    int chunks = Math.min(threads, n);
    pool.submit(() -> IntStream.range(0, chunks).parallel().forEach(c -> task.run((int) ((long) n * c / chunks), (int) ((long) n * (c + 1) / chunks)))).join();
  }

  @Override
  public void close() {
    if (pool != null) {
      pool.shutdownNow();
    }
  }
}
