package dev.caravan.coordinator.http;

import dev.caravan.coordinator.core.BatchExecutor;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.InProcessExecutor;
import dev.caravan.coordinator.scheduler.ScheduledBatch;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The real in-process executor behind a gate the test opens and closes: while it is closed, batches wait (a request
 * stays running without progress, deterministically); opening runs them; {@link #failHeld} fails them instead.
 */
final class GatedExecutor implements BatchExecutor {
  private record Held(ScheduledBatch batch, CompletableFuture<float[]> result) {}

  private final InProcessExecutor inner;
  private final List<Held> held = new ArrayList<>();
  private boolean open = true;
  private int passes; // batches still let through while closed

  GatedExecutor(InProcessExecutor inner) {
    this.inner = inner;
  }

  @Override
  public CompletableFuture<float[]> execute(ScheduledBatch batch) {
    synchronized (this) {
      if (!open && passes > 0) {
        passes--;
      } else if (!open) {
        CompletableFuture<float[]> f = new CompletableFuture<>();
        held.add(new Held(batch, f));
        notifyAll();
        return f;
      }
    }
    return inner.execute(batch);
  }

  /** Batches from now on wait. */
  synchronized void hold() {
    holdAfter(0);
  }

  /** The next {@code batches} batches run, the ones after them wait. */
  synchronized void holdAfter(int batches) {
    open = false;
    passes = batches;
  }

  /** Runs the waiting batches and lets the next ones through. */
  void open() {
    List<Held> run;
    synchronized (this) {
      open = true;
      run = new ArrayList<>(held);
      held.clear();
    }
    for (Held h : run) {
      inner.execute(h.batch()).whenComplete((logits, error) -> {
        if (error != null) {
          h.result().completeExceptionally(error);
        } else {
          h.result().complete(logits);
        }
      });
    }
  }

  /** Fails the waiting batches with {@code error}. */
  void failHeld(GenerationError error) {
    List<Held> fail;
    synchronized (this) {
      fail = new ArrayList<>(held);
      held.clear();
    }
    fail.forEach(h -> h.result().completeExceptionally(error.asException()));
  }

  /** Waits until a batch is held (the request it belongs to is running). */
  synchronized void awaitHeld() throws InterruptedException {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (held.isEmpty()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new AssertionError("no batch reached the closed gate");
      }
      wait(Math.max(1, left / 1_000_000));
    }
  }

  @Override
  public CompletableFuture<Void> release(long epoch, Collection<String> cacheKeys) {
    return inner.release(epoch, cacheKeys);
  }

  int cachedSequences() {
    return inner.cachedSequences();
  }
}
