package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The --fault grammar: ACTION[:WORKER]@TIME[+HOLD]; every mistake is refused with a message naming it. */
class FaultSpecTest {
  private static void refused(String spec, String expected) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FaultSpec.parse(spec), spec);
    assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
  }

  @Test
  void killNamesAWorkerByNameOrNumberOrTakesTheNewest() {
    FaultSpec k = FaultSpec.parse("kill:worker-1@5s");
    assertEquals(FaultSpec.Action.KILL, k.action());
    assertEquals(1, k.worker());
    assertEquals(Duration.ofSeconds(5), k.at());
    assertNull(k.hold());
    assertEquals(k, FaultSpec.parse("kill:1@5"), "a bare worker number and a bare time in seconds");
    assertEquals(k, FaultSpec.parse(" KILL:Worker-1@PT5S "), "case and ISO-8601 as --duration takes them");
    FaultSpec newest = FaultSpec.parse("kill@1.5s");
    assertNull(newest.worker());
    assertEquals(Duration.ofMillis(1500), newest.at());
    assertEquals("the newest worker", newest.workerName());
  }

  @Test
  void stopHoldsForADurationOrUntilACont() {
    FaultSpec s = FaultSpec.parse("stop:worker-2@3s+2s");
    assertEquals(FaultSpec.Action.STOP, s.action());
    assertEquals(2, s.worker());
    assertEquals(Duration.ofSeconds(3), s.at());
    assertEquals(Duration.ofSeconds(2), s.hold());
    assertNull(FaultSpec.parse("stop:2@3s").hold());
    FaultSpec c = FaultSpec.parse("cont:worker-2@250ms");
    assertEquals(FaultSpec.Action.CONT, c.action());
    assertEquals(Duration.ofMillis(250), c.at());
  }

  @Test
  void startAndScale() {
    FaultSpec start = FaultSpec.parse("start@8s");
    assertEquals(FaultSpec.Action.START, start.action());
    assertNull(start.worker());
    FaultSpec scale = FaultSpec.parse("scale:3@10s");
    assertEquals(FaultSpec.Action.SCALE, scale.action());
    assertEquals(3, scale.workers());
    assertEquals(Duration.ofSeconds(10), scale.at());
  }

  @Test
  void canonicalSpellingParsesBackToTheSameSpec() {
    for (String s : new String[] {"kill:worker-1@5s", "kill@0ms", "stop:worker-2@3s+2s", "stop@1.5s", "cont:worker-2@9s", "start@8s", "scale:3@2m"}) {
      assertEquals(s, FaultSpec.parse(s).toString());
    }
    assertEquals("kill:worker-4@500ms", FaultSpec.parse("KILL:4@0.5s").toString());
  }

  @Test
  void mistakesAreNamed() {
    refused("kill:worker-1", "has no time; write ACTION[:WORKER]@TIME[+HOLD]");
    refused("boom@5s", "'boom' in 'boom@5s' is not a fault action; use kill, stop, cont, start or scale");
    refused("kill:worker-1@soon", "bad time: 'soon' is not a duration");
    refused("kill:worker-1@", "has no time");
    refused("kill:worker-x@5s", "'worker-x' in 'kill:worker-x@5s' is not a worker; use worker-N or N");
    refused("kill:0@5s", "'0' in 'kill:0@5s' is not a worker");
    refused("kill:@5s", "is not a worker");
    refused("kill:worker-1@5s+2s", "only stop takes +HOLD (how long the worker stays stopped), not kill");
    refused("stop:worker-1@5s+0s", "+HOLD must be longer than 0");
    refused("stop:worker-1@5s+", "has no hold");
    refused("start:2@8s", "start takes no argument (it starts one new worker); to reach a count, use scale:N@TIME");
    refused("scale@10s", "scale needs the number of workers, e.g. scale:3@10s");
    refused("scale:many@10s", "scale needs the number of workers");
    refused("scale:0@10s", "scale needs at least 1 worker");
    refused("@5s", "is not a fault; write");
  }
}
