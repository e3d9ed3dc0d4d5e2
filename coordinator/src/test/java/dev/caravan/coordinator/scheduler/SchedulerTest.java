package dev.caravan.coordinator.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class SchedulerTest {
  private final AtomicLong clock = new AtomicLong();

  private Sequence seq(long id, int promptLength, int maxTokens) {
    int[] prompt = new int[promptLength];
    java.util.Arrays.fill(prompt, 7);
    return new Sequence(id, "r:" + id, prompt, 0, maxTokens, 512, false, clock.incrementAndGet());
  }

  private static int[] tokens(ScheduledBatch b) {
    return b.chunks().stream().mapToInt(ScheduledBatch.Chunk::count).toArray();
  }

  @Test
  void nothingRunsWithoutAServingPlan() {
    Scheduler s = new Scheduler(new SchedulerConfig(4, 4, 64, 1), clock::get);
    s.add(seq(1, 5, 3));
    assertTrue(s.admit().isEmpty());
    assertNull(s.schedule());
    s.setServingEpoch(3);
    assertEquals(1, s.admit().size());
    ScheduledBatch b = s.schedule();
    assertEquals(3, b.epoch());
    assertEquals(5, b.tokens());
  }

  @Test
  void longPromptsAreChunkedAndDecodeTokensGoFirst() {
    Scheduler s = new Scheduler(new SchedulerConfig(4, 4, 16, 1), clock::get);
    s.setServingEpoch(1);
    Sequence a = seq(1, 3, 5);
    Sequence b = seq(2, 40, 5);
    s.add(a);
    s.add(b);
    s.admit();
    // first batch: a's prompt (3), then 13 of b's 40
    ScheduledBatch first = s.schedule();
    assertEquals(List.of(a, b), first.chunks().stream().map(ScheduledBatch.Chunk::sequence).toList());
    assertEquals(3, first.chunks().get(0).count());
    assertTrue(first.chunks().get(0).logits());
    assertEquals(13, first.chunks().get(1).count());
    assertFalse(first.chunks().get(1).logits(), "a prompt chunk short of the end wants no logits");
    assertNull(s.schedule(), "one batch in flight at a time");
    s.update(first, new int[] {11}, new boolean[] {false});
    assertEquals(4, a.length());
    // next: a decodes one token first, then b continues its prompt within the budget
    ScheduledBatch second = s.schedule();
    assertEquals(1, second.chunks().get(0).count());
    assertEquals(a, second.chunks().get(0).sequence());
    assertEquals(15, second.chunks().get(1).count());
    assertEquals(13, second.chunks().get(1).start());
  }

  @Test
  void sequencesFinishAtMaxTokensAndEndOfGeneration() {
    Scheduler s = new Scheduler(new SchedulerConfig(4, 4, 64, 1), clock::get);
    s.setServingEpoch(1);
    Sequence a = seq(1, 2, 2);
    Sequence b = seq(2, 2, 10);
    s.add(a);
    s.add(b);
    s.admit();
    ScheduledBatch b1 = s.schedule();
    assertTrue(s.update(b1, new int[] {5, 6}, new boolean[] {false, false}).isEmpty());
    ScheduledBatch b2 = s.schedule();
    List<Sequence> done = s.update(b2, new int[] {5, 2}, new boolean[] {false, true});
    assertEquals(2, done.size());
    assertEquals(Sequence.Finish.LENGTH, a.finish());
    assertEquals(Sequence.Finish.EOS, b.finish());
    assertEquals(0, s.runningCount());
  }

  @Test
  void withTwoStagesTheRunningSequencesSplitIntoTwoBatchesInFlight() {
    Scheduler s = new Scheduler(new SchedulerConfig(8, 8, 64, 2), clock::get);
    s.setServingEpoch(1);
    for (int i = 1; i <= 4; i++) {
      s.add(seq(i, 1, 10));
    }
    s.admit();
    ScheduledBatch x = s.schedule();
    ScheduledBatch y = s.schedule();
    assertEquals(2, x.chunks().size());
    assertEquals(2, y.chunks().size());
    assertNull(s.schedule(), "two batches in flight fill two stages");
    assertEquals(2, s.inFlight());
  }

  @Test
  void aBatchNeverMixesPlanEpochs() {
    Scheduler s = new Scheduler(new SchedulerConfig(8, 8, 64, 1), clock::get);
    s.setServingEpoch(1);
    Sequence old = seq(1, 2, 10);
    s.add(old);
    s.admit();
    s.setServingEpoch(2);
    Sequence fresh = seq(2, 2, 10);
    s.add(fresh);
    s.admit();
    assertEquals(1, old.epoch());
    assertEquals(2, fresh.epoch());
    ScheduledBatch first = s.schedule();
    assertEquals(List.of(old), first.chunks().stream().map(ScheduledBatch.Chunk::sequence).toList());
    s.update(first, new int[] {3}, new boolean[] {false});
    ScheduledBatch second = s.schedule();
    assertEquals(2, second.epoch());
  }

  @Test
  void theQueueRefusesBeyondItsRoomAndCountsFreeSlots() {
    Scheduler s = new Scheduler(new SchedulerConfig(1, 1, 64, 1), clock::get);
    assertTrue(s.add(seq(1, 2, 2)), "a free running slot counts as room");
    assertTrue(s.add(seq(2, 2, 2)), "one waiting place");
    assertFalse(s.add(seq(3, 2, 2)));
  }

  @Test
  void failedBatchFailsItsSequences() {
    Scheduler s = new Scheduler(new SchedulerConfig(4, 4, 64, 1), clock::get);
    s.setServingEpoch(1);
    Sequence a = seq(1, 3, 5);
    s.add(a);
    s.admit();
    List<Sequence> failed = s.fail(s.schedule());
    assertEquals(List.of(a), failed);
    assertEquals(Sequence.Finish.FAILED, a.finish());
    assertEquals(0, s.inFlight());
  }

  @Test
  void aSequenceCancelledWhileWaitingIsReportedNotLost() {
    Scheduler s = new Scheduler(new SchedulerConfig(1, 4, 64, 1), clock::get);
    s.setServingEpoch(1);
    Sequence running = seq(1, 2, 5);
    Sequence waiting = seq(2, 2, 5);
    s.add(running);
    s.add(waiting);
    s.admit();
    waiting.finish(Sequence.Finish.CANCELLED);
    s.admit();
    assertEquals(List.of(waiting), s.removeFinished());
    assertEquals(0, s.waitingCount());
  }

  @Test
  void aCachedPrefixIsNotRecomputed() {
    Scheduler s = new Scheduler(new SchedulerConfig(4, 4, 64, 1), clock::get);
    s.setServingEpoch(1);
    Sequence a = new Sequence(1, "s:x", new int[] {1, 2, 3, 4, 5, 6}, 4, 5, 512, false, 1);
    s.add(a);
    s.admit();
    ScheduledBatch b = s.schedule();
    assertEquals(4, b.chunks().get(0).start());
    assertEquals(2, b.chunks().get(0).count());
  }
}
