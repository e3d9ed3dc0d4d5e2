package dev.caravan.coordinator.scheduler;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Continuous batching as a pure state machine: {@link #schedule()} picks the next batch, the caller executes it,
 * {@link #update} records the result. No threads, no I/O, clock injected: the same calls give the same batches.
 *
 * <p>Admission is first come, first served into at most {@code maxRunning} running sequences. A batch holds sequences
 * of one plan epoch that are not already in flight: decode tokens first (one per sequence), then prompt chunks up to
 * the token budget (chunked prefill, so a long prompt never stalls everyone's decoding). With several batches allowed
 * in flight, the running sequences are split between them so that every pipeline stage has work.
 */
public final class Scheduler {
  private SchedulerConfig config;
  private final LongSupplier clock;
  private final Deque<Sequence> waiting = new ArrayDeque<>();
  private final List<Sequence> running = new ArrayList<>();
  private long epoch = -1;
  private long nextBatchId = 1;
  private int inFlight;

  public Scheduler(SchedulerConfig config, LongSupplier clock) {
    this.config = config;
    this.clock = clock;
  }

  public SchedulerConfig config() {
    return config;
  }

  /** Batches allowed in flight: as many as the serving plan has stages. */
  public void setMaxInFlight(int n) {
    config = config.withMaxInFlight(n);
  }

  /** The epoch new sequences are bound to on admission; -1 while no plan can serve. */
  public void setServingEpoch(long epoch) {
    this.epoch = epoch;
  }

  public long servingEpoch() {
    return epoch;
  }

  /** Queues a sequence; false when the queue is full (the caller refuses the request). Free running slots count as room. */
  public boolean add(Sequence s) {
    if (waiting.size() >= config.maxWaiting() + Math.max(0, config.maxRunning() - running.size())) {
      return false;
    }
    waiting.addLast(s);
    return true;
  }

  public int waitingCount() {
    return waiting.size();
  }

  public int runningCount() {
    return running.size();
  }

  public int inFlight() {
    return inFlight;
  }

  public List<Sequence> running() {
    return List.copyOf(running);
  }

  public List<Sequence> waiting() {
    return List.copyOf(waiting);
  }

  /** Admits waiting sequences into free running slots, binding them to the serving epoch. Returns those admitted. */
  public List<Sequence> admit() {
    List<Sequence> admitted = new ArrayList<>();
    // finished ones (cancelled while waiting) stay queued for removeFinished to report
    for (Iterator<Sequence> it = waiting.iterator(); epoch >= 0 && running.size() < config.maxRunning() && it.hasNext(); ) {
      Sequence s = it.next();
      if (s.finished()) {
        continue;
      }
      it.remove();
      s.bind(s.epoch() >= 0 ? s.epoch() : epoch);
      running.add(s);
      admitted.add(s);
    }
    return admitted;
  }

  /** The next batch, or null when nothing can run now (no idle sequence, or enough batches in flight). */
  public ScheduledBatch schedule() {
    if (inFlight >= config.maxInFlight()) {
      return null;
    }
    // the epoch of the idle sequence scheduled least recently (then the earliest arrival): a batch never mixes plans,
    // and sequences of an old plan and a new one take turns
    Sequence oldest = null;
    int idle = 0;
    for (Sequence s : running) {
      if (!s.inFlight() && !s.finished()) {
        idle++;
        if (oldest == null || s.lastScheduled() < oldest.lastScheduled() || s.lastScheduled() == oldest.lastScheduled() && s.arrivalNanos() < oldest.arrivalNanos()) {
          oldest = s;
        }
      }
    }
    if (oldest == null) {
      return null;
    }
    long batchEpoch = oldest.epoch();
    // leave idle sequences for the other in-flight slots, so every stage works on something
    int slots = config.maxInFlight() - inFlight;
    int maxSequences = Math.max(1, (idle + slots - 1) / slots);
    int budget = config.maxBatchTokens();
    List<ScheduledBatch.Chunk> chunks = new ArrayList<>();
    // decode tokens first
    for (Sequence s : running) {
      if (chunks.size() >= maxSequences || budget == 0) {
        break;
      }
      if (!s.inFlight() && !s.finished() && !s.prefilling() && s.epoch() == batchEpoch) {
        chunks.add(new ScheduledBatch.Chunk(s, s.computed(), s.length() - s.computed(), true));
        budget -= s.length() - s.computed();
      }
    }
    // then prompt chunks, oldest first
    for (Sequence s : running) {
      if (chunks.size() >= maxSequences || budget <= 0) {
        break;
      }
      if (!s.inFlight() && !s.finished() && s.prefilling() && s.epoch() == batchEpoch) {
        int count = Math.min(budget, s.length() - s.computed());
        chunks.add(new ScheduledBatch.Chunk(s, s.computed(), count, s.computed() + count == s.length()));
        budget -= count;
      }
    }
    if (chunks.isEmpty()) {
      return null;
    }
    for (ScheduledBatch.Chunk c : chunks) {
      c.sequence().setInFlight(true);
      c.sequence().setLastScheduled(nextBatchId);
    }
    inFlight++;
    return new ScheduledBatch(nextBatchId++, batchEpoch, List.copyOf(chunks));
  }

  /**
   * Records a computed batch: every chunk's positions now exist on the workers, and each chunk that yielded logits
   * appends its sampled token ({@code sampled[i]} for the i-th logits row; {@code endOfGeneration[i]} whether it ends
   * generation). Returns the sequences that finished.
   */
  public List<Sequence> update(ScheduledBatch batch, int[] sampled, boolean[] endOfGeneration) {
    inFlight--;
    int row = 0;
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      Sequence s = c.sequence();
      s.setInFlight(false);
      s.advance(c.count());
      if (c.logits()) {
        if (!s.finished()) {
          s.append(sampled[row], endOfGeneration[row]);
        }
        row++;
      }
    }
    return removeFinished();
  }

  /**
   * Records a batch that could not be computed, without deciding the fate of its sequences: they are idle again with
   * the positions they had (nothing advanced). Returns them; the caller moves them ({@link #migrate}) or ends them.
   */
  public List<Sequence> abandon(ScheduledBatch batch) {
    inFlight--;
    List<Sequence> out = new ArrayList<>();
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      c.sequence().setInFlight(false);
      out.add(c.sequence());
    }
    return out;
  }

  /**
   * Moves an idle running sequence back to the head of the queue, to start over on whichever plan serves next: its
   * cache on the old plan is lost or left behind, so every token it knows is computed again (in prompt chunks) before
   * it samples its next token. Sequences moved together keep their order, ahead of every new request.
   */
  public void migrate(List<Sequence> sequences) {
    for (int i = sequences.size() - 1; i >= 0; i--) {
      Sequence s = sequences.get(i);
      if (s.inFlight()) {
        throw new IllegalStateException("sequence " + s.id() + " is in flight and cannot move");
      }
      if (running.remove(s)) {
        s.restart();
        waiting.addFirst(s);
      }
    }
  }

  /** Records a failed batch: its sequences end as FAILED. Returns them. */
  public List<Sequence> fail(ScheduledBatch batch) {
    inFlight--;
    for (ScheduledBatch.Chunk c : batch.chunks()) {
      c.sequence().setInFlight(false);
      c.sequence().finish(Sequence.Finish.FAILED);
    }
    return removeFinished();
  }

  /** Removes finished sequences that are not in flight (cancelled, stopped by a stop string, failed). */
  public List<Sequence> removeFinished() {
    List<Sequence> done = new ArrayList<>();
    for (Iterator<Sequence> it = running.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.finished() && !s.inFlight()) {
        it.remove();
        done.add(s);
      }
    }
    for (Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.finished()) {
        it.remove();
        done.add(s);
      }
    }
    return done;
  }

  /** Nanoseconds now, by the injected clock. */
  public long now() {
    return clock.getAsLong();
  }
}
