package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SweepSpecTest {
  @Test
  void concurrenciesAndRates() {
    assertEquals(new SweepSpec(SweepSpec.Dimension.CONCURRENCY, List.of(1.0, 2.0, 4.0, 8.0)), SweepSpec.parse("concurrency=1,2,4,8"));
    assertEquals(new SweepSpec(SweepSpec.Dimension.RATE, List.of(0.5, 1.0, 2.0)), SweepSpec.parse("rate=0.5, 1, 2"));
  }

  @Test
  void mistakesAreNamed() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SweepSpec.parse("qps=1,2")).getMessage().contains("concurrency or rate"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SweepSpec.parse("concurrency=1.5")).getMessage().contains("whole"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SweepSpec.parse("rate=0")).getMessage().contains("positive"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SweepSpec.parse("rate=1,,2")).getMessage().contains("not a number"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> SweepSpec.parse("1,2,4")).getMessage().contains("expected"));
  }
}
