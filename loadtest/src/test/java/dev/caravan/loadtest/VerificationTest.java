package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** --verify's comparison of every stream with its greedy reference. */
class VerificationTest {
  static RequestResult ok(long index, int... ids) {
    return new RequestResult(index, 0, 0, 0.1, 0.5, new double[Math.max(0, ids.length - 1)], 4, ids.length, Status.Code.OK, "", 0, 0, ids, new double[ids.length]);
  }

  static final Map<Long, int[]> REFERENCE = Map.of(0L, new int[] {1, 2, 3}, 1L, new int[] {4, 5, 6}, 2L, new int[] {7, 8}, 3L, new int[] {1, 1}, 4L, new int[] {9, 9, 9});

  @Test
  void identicalStreamsPassAndEveryKindOfDifferenceIsNamed() {
    Verification v = Verification.compare(REFERENCE, List.of(
        ok(0, 1, 2, 3),
        ok(1, 4, 7, 6),
        ok(2, 7),
        ok(3, 1, 1, 5),
        RequestResult.failure(4, 0, 0, 0.3, 4, Status.UNAVAILABLE.withDescription("stage 1 lost"))));
    assertEquals(1, v.verified());
    assertEquals(5, v.streams());
    assertFalse(v.passed());
    List<Verification.Mismatch> m = v.mismatches();
    assertEquals(new Verification.Mismatch(1, 1, 5, 7, ""), m.get(0));
    assertEquals("request 1: token 1 differs (expected 5, got 7)", m.get(0).describe());
    assertEquals(new Verification.Mismatch(2, 1, 8, -1, ""), m.get(1));
    assertEquals("request 2: only 1 tokens arrived (token 1 should be 8)", m.get(1).describe());
    assertEquals(new Verification.Mismatch(3, 2, -1, 5, ""), m.get(2));
    assertEquals("request 3: 2 tokens expected, more arrived (token 2 is 5)", m.get(2).describe());
    assertEquals(-1, m.get(3).position());
    assertEquals("request 4: failed (UNAVAILABLE: stage 1 lost)", m.get(3).describe());
  }

  @Test
  void allIdenticalPasses() {
    Verification v = Verification.compare(REFERENCE, List.of(ok(0, 1, 2, 3), ok(2, 7, 8)));
    assertTrue(v.passed());
    assertEquals(2, v.verified());
    assertEquals(2, v.streams());
  }

  @Test
  void aStreamWithoutReferenceIsAnError() {
    assertThrows(IllegalArgumentException.class, () -> Verification.compare(REFERENCE, List.of(ok(7, 1))));
  }
}
