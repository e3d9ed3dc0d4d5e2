package dev.caravan.coordinator.core;

import dev.caravan.coordinator.scheduler.ScheduledBatch;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** An executor whose batches stay in flight until the test answers them: the test decides every logit. */
final class FakeExecutor implements BatchExecutor {
  record Call(ScheduledBatch batch, CompletableFuture<float[]> result) {}

  record Release(long epoch, List<String> keys) {}

  final List<Call> inFlight = new ArrayList<>();
  final List<ScheduledBatch> executed = new ArrayList<>();
  final List<Release> released = new ArrayList<>();
  private final int vocab;

  FakeExecutor(int vocab) {
    this.vocab = vocab;
  }

  @Override
  public CompletableFuture<float[]> execute(ScheduledBatch batch) {
    CompletableFuture<float[]> f = new CompletableFuture<>();
    inFlight.add(new Call(batch, f));
    executed.add(batch);
    return f;
  }

  @Override
  public CompletableFuture<Void> release(long epoch, Collection<String> cacheKeys) {
    released.add(new Release(epoch, List.copyOf(cacheKeys)));
    return CompletableFuture.completedFuture(null);
  }

  /** Answers the oldest batch in flight: each logits row peaks at the next of {@code tokens}. */
  ScheduledBatch answer(int... tokens) {
    Call c = inFlight.remove(0);
    int rows = c.batch().logitsRows();
    if (rows != tokens.length) {
      throw new AssertionError("batch " + c.batch().id() + " wants " + rows + " logits rows, the test gave " + tokens.length);
    }
    float[] logits = new float[rows * vocab];
    for (int r = 0; r < rows; r++) {
      logits[r * vocab + tokens[r]] = 10f;
    }
    c.result().complete(logits);
    return c.batch();
  }

  /** Fails the oldest batch in flight. */
  ScheduledBatch fail(GenerationError error) {
    Call c = inFlight.remove(0);
    c.result().completeExceptionally(error.asException());
    return c.batch();
  }
}
