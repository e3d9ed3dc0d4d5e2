package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class TokenTimerTest {
  private static final long MS = 1_000_000;

  @Test
  void oneTokenPerChunk() {
    TokenTimer t = new TokenTimer(1000 * MS);
    t.chunk(1100 * MS, 1);
    t.chunk(1130 * MS, 1);
    t.chunk(1150 * MS, 1);
    assertEquals(0.1, t.ttftSeconds(1200 * MS), 1e-12);
    assertArrayEquals(new double[] {0.03, 0.02}, t.itlSeconds(), 1e-12);
    assertEquals(3, t.tokens());
  }

  @Test
  void aChunkOfSeveralTokensSharesItsGap() {
    TokenTimer t = new TokenTimer(0);
    t.chunk(100 * MS, 1);
    t.chunk(160 * MS, 3);
    assertArrayEquals(new double[] {0.02, 0.02, 0.02}, t.itlSeconds(), 1e-12);
    assertEquals(4, t.tokens());
  }

  @Test
  void extraTokensOfTheFirstChunkArriveWithTheFirstToken() {
    TokenTimer t = new TokenTimer(0);
    t.chunk(50 * MS, 2);
    t.chunk(70 * MS, 1);
    assertEquals(0.05, t.ttftSeconds(100 * MS), 1e-12);
    // n tokens always give n - 1 latencies
    assertArrayEquals(new double[] {0, 0.02}, t.itlSeconds(), 1e-12);
  }

  @Test
  void chunksWithoutTokensDoNotMoveTheClock() {
    TokenTimer t = new TokenTimer(0);
    t.chunk(10 * MS, 0);
    t.chunk(40 * MS, 1);
    t.chunk(45 * MS, 0);
    t.chunk(60 * MS, 1);
    assertEquals(0.04, t.ttftSeconds(100 * MS), 1e-12);
    assertArrayEquals(new double[] {0.02}, t.itlSeconds(), 1e-12);
  }

  @Test
  void noTokensMeansTtftIsTheWholeRequest() {
    TokenTimer t = new TokenTimer(10 * MS);
    assertEquals(0.09, t.ttftSeconds(100 * MS), 1e-12);
    assertEquals(0, t.itlSeconds().length);
  }

  @Test
  void manyTokensGrowTheBuffer() {
    TokenTimer t = new TokenTimer(0);
    for (int i = 1; i <= 100; i++) {
      t.chunk(i * MS, 1);
    }
    assertEquals(99, t.itlSeconds().length);
    assertEquals(0.001, t.itlSeconds()[98], 1e-12);
  }
}
