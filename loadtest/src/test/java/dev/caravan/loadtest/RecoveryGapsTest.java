package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Status;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Recovery gaps on hand-made streams whose every gap is worked out below. */
class RecoveryGapsTest {
  private static final double EPS = 1e-9;

  /** A successful stream sent at {@code send} that ended at {@code end}, with token chunks at {@code chunks}. */
  static RequestResult stream(long index, double send, double end, double... chunks) {
    int[] ids = new int[chunks.length];
    return new RequestResult(index, send, 0, chunks.length == 0 ? 0 : chunks[0] - send, end - send, new double[Math.max(0, chunks.length - 1)], 8, chunks.length, Status.Code.OK, "",
        0, 0, ids, chunks);
  }

  static RequestResult failedStream(long index, double send, double end, double... chunks) {
    return RequestResult.failure(index, send, 0, end - send, 8, Status.UNAVAILABLE.withDescription("stage lost"), new int[chunks.length], chunks);
  }

  static FaultEvent fault(String action, double at) {
    return new FaultEvent(action + "@" + at + "s", action, action.equals("start") ? "" : "worker-1", 42, at, at, true, "");
  }

  /**
   * A kill at 1.0 s. A: last token 0.9, next 1.6, gap 0.7. B: sent 0.5, no token before the kill, first at 1.3, gap
   * 0.8 (from its send). C: ended at 0.5, not across. D: failed at 1.1 with no token after the kill: across, no gap. E:
   * a token at exactly 1.0 counts as before; next 2.0, gap 1.0.
   */
  static List<RequestResult> streams() {
    return List.of(
        stream(0, 0.0, 1.8, 0.2, 0.4, 0.9, 1.6, 1.7),
        stream(1, 0.5, 1.5, 1.3, 1.4),
        stream(2, 0.0, 0.5, 0.1, 0.2),
        failedStream(3, 0.8, 1.1, 0.9),
        stream(4, 0.2, 2.1, 0.3, 1.0, 2.0));
  }

  @Test
  void gapIsTheLongestSilenceFromTheLastTokenBeforeTheFaultOn() {
    RecoveryGaps g = RecoveryGaps.of(streams(), List.of(fault("kill", 1.0)));
    assertEquals(4, g.streamsAcross(), "A, B, D and E were in flight at 1.0 s");
    assertEquals(3, g.count(), "D never got a token after the kill");
    assertArrayEquals(new double[] {0.7, 0.8, 1.0}, g.gapsSeconds(), EPS);
    assertEquals(800, g.median(), EPS);
    // NumPy: rank 0.9 * (3 - 1) = 1.8, between 800 and 1000
    assertEquals(960, g.p90(), EPS);
    assertEquals(1000, g.max(), EPS);
  }

  @Test
  void everyDisruptingFaultGivesItsOwnGapAndContsOrFaultsNotInjectedGiveNone() {
    FaultEvent notInjected = new FaultEvent("kill:worker-9@1.2s", "kill", "", 0, 1.2, Double.NaN, false, "no run/worker-9.pid");
    RecoveryGaps g = RecoveryGaps.of(streams(), List.of(fault("kill", 1.0), fault("cont", 1.25), notInjected, fault("start", 1.65)));
    // the start at 1.65 s: A (last 1.6, next 1.7: 0.1) and E (last 1.0, next 2.0: 1.0)
    assertEquals(6, g.streamsAcross());
    assertArrayEquals(new double[] {0.7, 0.1, 0.8, 1.0, 1.0}, g.gapsSeconds(), EPS);
    assertEquals(800, g.median(), EPS);
    assertEquals(1000, g.p90(), EPS);
    assertEquals(1000, g.max(), EPS);
  }

  @Test
  void tokensAlreadyOnTheirWayDoNotHideTheStall() {
    // a token computed before the kill at 1.0 s arrives at 1.01; the stream then stalls until 2.5
    RecoveryGaps g = RecoveryGaps.of(List.of(stream(0, 0.0, 2.6, 0.5, 0.9, 1.01, 2.5, 2.55)), List.of(fault("kill", 1.0)));
    assertArrayEquals(new double[] {1.49}, g.gapsSeconds(), EPS);
    assertEquals(1490, g.max(), EPS);
  }

  @Test
  void noFaultsNoGaps() {
    RecoveryGaps g = RecoveryGaps.of(streams(), List.of());
    assertEquals(0, g.streamsAcross());
    assertEquals(0, g.count());
    assertEquals(0, g.max(), EPS);
  }
}
