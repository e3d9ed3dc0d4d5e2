package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class DurationsTest {
  @Test
  void unitsIsoAndBareNumbers() {
    assertEquals(Duration.ofMillis(250), Durations.parse("250ms", "s"));
    assertEquals(Duration.ofMillis(1500), Durations.parse("1.5s", "s"));
    assertEquals(Duration.ofMinutes(2), Durations.parse("2m", "s"));
    assertEquals(Duration.ofHours(1), Durations.parse("1h", "s"));
    assertEquals(Duration.ofSeconds(30), Durations.parse("PT30S", "s"));
    assertEquals(Duration.ofSeconds(30), Durations.parse("pt30s", "s"));
    assertEquals(Duration.ofSeconds(90), Durations.parse("90", "s"));
    assertEquals(Duration.ofMillis(90), Durations.parse("90", "ms"));
    assertEquals(Duration.ofNanos(1500), Durations.parse("1.5us", "s"));
  }

  @Test
  void garbageIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> Durations.parse("soon", "s"));
    assertThrows(IllegalArgumentException.class, () -> Durations.parse("-1s", "s"));
    assertThrows(IllegalArgumentException.class, () -> Durations.parse("10 days", "s"));
    assertThrows(IllegalArgumentException.class, () -> Durations.parse("PTxS", "s"));
  }

  @Test
  void formatsShort() {
    assertEquals("2m", Durations.format(Duration.ofMinutes(2)));
    assertEquals("90s", Durations.format(Duration.ofSeconds(90)));
    assertEquals("1.5s", Durations.format(Duration.ofMillis(1500)));
    assertEquals("250ms", Durations.format(Duration.ofMillis(250)));
  }
}
