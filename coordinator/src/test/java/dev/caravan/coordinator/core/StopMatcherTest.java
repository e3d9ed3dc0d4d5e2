package dev.caravan.coordinator.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopMatcherTest {

  @Test
  void holdsBackAPossibleStartAndReleasesItWhenItDoesNotMatch() {
    StopMatcher m = new StopMatcher(List.of("END"));
    assertEquals("hello ", m.accept("hello E"));
    assertEquals("", m.accept("N"));
    assertEquals("ENx", m.accept("x"));
    assertNull(m.matched());
    assertEquals("", m.flush());
  }

  @Test
  void stopsAtAMatchSpanningDeltasAndDropsIt() {
    StopMatcher m = new StopMatcher(List.of("\n\n", "User:"));
    assertEquals("answer", m.accept("answer\n"));
    assertEquals("", m.accept("\nmore"));
    assertEquals("\n\n", m.matched());
    assertEquals("", m.accept("ignored"));
    assertEquals("", m.flush());
  }

  @Test
  void theEarliestStopWins() {
    StopMatcher m = new StopMatcher(List.of("b", "a"));
    assertEquals("x", m.accept("xab"));
    assertEquals("a", m.matched());
  }

  @Test
  void withoutStopsEverythingPassesAtOnce() {
    StopMatcher m = new StopMatcher(List.of());
    assertEquals("abc", m.accept("abc"));
    assertEquals("", m.flush());
  }

  @Test
  void flushReturnsAHeldBackTail() {
    StopMatcher m = new StopMatcher(List.of("STOP"));
    assertEquals("go ", m.accept("go ST"));
    assertEquals("ST", m.flush());
  }
}
