package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SloTest {
  @Test
  void parsesUnitsIntoMilliseconds() {
    Slo s = Slo.parse("ttft=500ms,tpot=50ms,e2el=2s");
    assertEquals(500, s.ttftMs());
    assertEquals(50, s.tpotMs());
    assertEquals(2000, s.e2elMs());
    assertTrue(s.any());
  }

  @Test
  void bareNumbersAreMillisecondsAsInVllm() {
    Slo s = Slo.parse(" tpot = 12.5 ");
    assertEquals(12.5, s.tpotMs());
    assertNull(s.ttftMs());
    assertNull(s.e2elMs());
  }

  @Test
  void everyGivenObjectiveMustHoldInclusively() {
    Slo s = new Slo(100.0, 10.0, null);
    assertTrue(s.met(100, 10, 1e9));
    assertFalse(s.met(100.001, 10, 0));
    assertFalse(s.met(50, 10.5, 0));
    assertTrue(Slo.NONE.met(1e9, 1e9, 1e9));
    assertFalse(Slo.NONE.any());
  }

  @Test
  void mistakesAreNamed() {
    assertEquals("unknown SLO 'ttfb'; the objectives are ttft, tpot and e2el", assertThrows(IllegalArgumentException.class, () -> Slo.parse("ttfb=1s")).getMessage());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Slo.parse("ttft")).getMessage().contains("NAME=LIMIT"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Slo.parse("ttft=fast")).getMessage().contains("not a duration"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Slo.parse("ttft=0")).getMessage().contains("positive"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> Slo.parse("ttft=1s,ttft=2s")).getMessage().contains("twice"));
  }
}
