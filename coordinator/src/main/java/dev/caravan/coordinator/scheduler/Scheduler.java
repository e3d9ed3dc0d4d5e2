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
  private int kvBlockLimit = Integer.MAX_VALUE; // KV blocks every stage of the serving plan can hold per sequence set
  private int kvBlocksElsewhere; // blocks held outside running sequences (kept sessions)
  private final List<Sequence> tooLarge = new ArrayList<>();
  private final List<Preemption> preempted = new ArrayList<>();

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

  /** Positions per KV block: the unit workers allocate caches in. */
  public static final int KV_BLOCK_TOKENS = dev.caravan.engine.model.KvCache.BLOCK_TOKENS;

  /** KV blocks a sequence of {@code positions} positions holds on each stage. */
  public static int kvBlocks(int positions) {
    return (positions + KV_BLOCK_TOKENS - 1) / KV_BLOCK_TOKENS;
  }

  /**
   * The serving plan's KV budget, in blocks per stage (the smallest over its workers; {@code Integer.MAX_VALUE}: no
   * limit), and the blocks already held outside the running sequences (idle sessions kept between turns).
   *
   * <p>Each running sequence is charged for every token it knows, so the blocks it holds after its next step: admission
   * waits for room, and when decoding grows past the budget the most recently arrived idle sequence is preempted
   * (restarted from the queue later, recomputed, its output unchanged) instead of any request failing.
   */
  public void setKvBudget(int blockLimit, int blocksElsewhere) {
    this.kvBlockLimit = blockLimit;
    this.kvBlocksElsewhere = blocksElsewhere;
  }

  public int kvBlockLimit() {
    return kvBlockLimit;
  }

  /** Blocks charged now: every running sequence's known tokens, plus those held elsewhere. */
  public int kvBlocksUsed() {
    long used = kvBlocksElsewhere;
    for (Sequence s : running) {
      used += kvBlocks(s.length());
    }
    return (int) Math.min(Integer.MAX_VALUE, used);
  }

  /** Whether the head of the queue waits for KV room (not for a running slot). */
  public boolean blockedByKv() {
    Sequence head = waiting.stream().filter(s -> !s.finished()).findFirst().orElse(null);
    return head != null && epoch >= 0 && running.size() < config.maxRunning() && kvBlocksUsed() + kvBlocks(head.length()) > kvBlockLimit;
  }

  /** Sequences that could never fit the KV budget, even alone; taken once (the caller fails them). */
  public List<Sequence> takeTooLarge() {
    List<Sequence> out = List.copyOf(tooLarge);
    tooLarge.clear();
    return out;
  }

  /** A sequence sent back to the queue for KV room: the plan whose workers held {@code positions} of it. */
  public record Preemption(Sequence sequence, long epoch, int positions) {}

  /** Sequences preempted for KV room since the last call (they are queued again, restarted). */
  public List<Preemption> takePreempted() {
    List<Preemption> out = List.copyOf(preempted);
    preempted.clear();
    return out;
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
      int need = kvBlocks(s.length());
      if (need > kvBlockLimit) {
        it.remove();
        tooLarge.add(s); // would not fit even alone
        continue;
      }
      if (kvBlocksUsed() + need > kvBlockLimit) {
        break; // first come, first served: later arrivals wait behind it
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
    preemptForKv();
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

  /**
   * While the running sequences' known tokens exceed the KV budget, the most recently arrived idle one goes back to the
   * queue (restarted: it is recomputed when there is room). A sequence too large for the budget alone is given up.
   */
  private void preemptForKv() {
    while (kvBlocksUsed() > kvBlockLimit) {
      Sequence victim = null;
      for (Sequence s : running) {
        if (!s.inFlight() && !s.finished() && (victim == null || s.arrivalNanos() > victim.arrivalNanos() || s.arrivalNanos() == victim.arrivalNanos() && s.id() > victim.id())) {
          victim = s;
        }
      }
      if (victim == null) {
        return; // the rest is in flight: nothing is scheduled until some of it returns
      }
      running.remove(victim);
      if (kvBlocks(victim.length()) > kvBlockLimit) {
        tooLarge.add(victim); // it outgrew the budget on its own
        return;
      }
      preempted.add(new Preemption(victim, victim.epoch(), victim.computed()));
      victim.restart();
      waiting.addFirst(victim);
    }
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
