package dev.caravan.coordinator.scheduler;

import java.util.List;

/**
 * One step's work: chunks of sequences of one plan epoch. Chunk {@code i} computes tokens {@code [start, start +
 * count)} of its sequence; when {@code logits} is set the last of them yields a row of logits.
 */
public record ScheduledBatch(long id, long epoch, List<Chunk> chunks) {

  public record Chunk(Sequence sequence, int start, int count, boolean logits) {}

  public int tokens() {
    return chunks.stream().mapToInt(Chunk::count).sum();
  }

  /** Rows of logits the batch yields. */
  public int logitsRows() {
    return (int) chunks.stream().filter(Chunk::logits).count();
  }
}
