package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class ParallelTest {

  @Test
  void everyIndexRunsExactlyOnce() {
    for (int threads = 1; threads <= 4; threads++) {
      try (Parallel p = new Parallel(threads)) {
        assertEquals(threads, p.threads());
        for (int n : new int[] {0, 1, 2, 3, 7, 8, 9, 17, 100, 1000}) {
          for (int repeat = 0; repeat < 200; repeat++) {
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            p.forRange(n, (from, to) -> {
              for (int i = from; i < to; i++) {
                hits.incrementAndGet(i);
              }
            });
            for (int i = 0; i < n; i++) {
              assertEquals(1, hits.get(i), "threads " + threads + " n " + n + " index " + i);
            }
          }
        }
      }
    }
  }

  @Test
  void chunksAreContiguousAndCoverTheRange() {
    try (Parallel p = new Parallel(2)) {
      AtomicInteger covered = new AtomicInteger();
      AtomicInteger chunks = new AtomicInteger();
      p.forRange(1000, (from, to) -> {
        assertTrue(from < to);
        covered.addAndGet(to - from);
        chunks.incrementAndGet();
      });
      assertEquals(1000, covered.get());
      assertEquals(8, chunks.get(), "2 threads * 4 chunks each");
    }
  }

  @Test
  void workersTakePartAndWakeUpAfterParking() throws InterruptedException {
    try (Parallel p = new Parallel(2)) {
      for (int round = 0; round < 3; round++) {
        Set<Thread> seen = ConcurrentHashMap.newKeySet();
        p.forRange(8, (from, to) -> {
          seen.add(Thread.currentThread());
          sleep(5);
        });
        assertEquals(2, seen.size(), "round " + round + ": both threads ran chunks");
        assertTrue(seen.contains(Thread.currentThread()), "the caller runs chunks too");
        Thread.sleep(50); // longer than the spin phase: the worker parks
      }
    }
  }

  @Test
  void aChunkFailureIsRethrownAfterAllChunksAndThePoolStaysUsable() {
    try (Parallel p = new Parallel(3)) {
      AtomicInteger done = new AtomicInteger();
      IllegalArgumentException boom = new IllegalArgumentException("boom");
      IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, () -> p.forRange(12, (from, to) -> {
        if (from == 0) {
          throw boom;
        }
        sleep(2);
        done.incrementAndGet();
      }));
      assertSame(boom, thrown);
      assertEquals(11, done.get(), "the other chunks still ran to completion");
      AtomicIntegerArray hits = new AtomicIntegerArray(50);
      p.forRange(50, (from, to) -> {
        for (int i = from; i < to; i++) {
          hits.incrementAndGet(i);
        }
      });
      for (int i = 0; i < 50; i++) {
        assertEquals(1, hits.get(i));
      }
    }
  }

  @Test
  void nestedAndConcurrentDispatchesAreRejected() throws Exception {
    try (Parallel p = new Parallel(2)) {
      assertThrows(IllegalStateException.class, () -> p.forRange(4, (from, to) -> p.forRange(2, (a, b) -> {})));
      CountDownLatch inside = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      Thread driver = new Thread(() -> p.forRange(1, (from, to) -> {
        inside.countDown();
        await(release);
      }));
      driver.start();
      assertTrue(inside.await(10, TimeUnit.SECONDS));
      assertThrows(IllegalStateException.class, () -> p.forRange(4, (from, to) -> {}));
      release.countDown();
      driver.join(10_000);
      AtomicInteger ran = new AtomicInteger();
      p.forRange(4, (from, to) -> ran.addAndGet(to - from));
      assertEquals(4, ran.get(), "usable again once the other driver is done");
    }
  }

  @Test
  void closeStopsTheWorkersAndRejectsFurtherWork() throws InterruptedException {
    Parallel p = new Parallel(4);
    AtomicReference<String> prefix = new AtomicReference<>();
    p.forRange(16, (from, to) -> {
      String name = Thread.currentThread().getName();
      if (name.startsWith("caravan-parallel-")) {
        prefix.set(name.substring(0, name.lastIndexOf('-') + 1));
      }
      sleep(2);
    });
    assertTrue(prefix.get() != null, "workers ran chunks");
    assertEquals(3, liveThreads(prefix.get()));
    p.close();
    p.close(); // idempotent
    assertEquals(0, liveThreads(prefix.get()));
    assertThrows(IllegalStateException.class, () -> p.forRange(4, (from, to) -> {}));
  }

  @Test
  void rejectsBadArguments() {
    assertThrows(IllegalArgumentException.class, () -> new Parallel(0));
    try (Parallel p = new Parallel(2)) {
      assertThrows(IllegalArgumentException.class, () -> p.forRange(-1, (from, to) -> {}));
    }
  }

  private static long liveThreads(String prefix) {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith(prefix) && t.isAlive()).count();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }
}
