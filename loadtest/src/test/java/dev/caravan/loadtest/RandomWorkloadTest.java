package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.proto.v1.GenerateRequest;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RandomWorkloadTest {
  private static final TokenPool POOL = TokenPool.of(512, Set.of(0, 1, 2));
  private static final Workload.Options OPTIONS = new Workload.Options("stories260K", null, 3, true);

  @Test
  void exactLengthsBosFirstAndNoSpecialTokens() {
    RandomWorkload w = new RandomWorkload(POOL, 1, 16, 24, 0, OPTIONS);
    for (long i = 0; i < 50; i++) {
      Workload.RequestSpec spec = w.request(i);
      GenerateRequest r = spec.request();
      assertEquals(GenerateRequest.InputCase.PROMPT_IDS, r.getInputCase());
      assertEquals(16, r.getPromptIds().getIdsCount());
      assertEquals(1, r.getPromptIds().getIds(0));
      assertTrue(r.getPromptIds().getIdsList().subList(1, 16).stream().allMatch(id -> id >= 3 && id < 512));
      assertEquals(24, r.getMaxTokens());
      assertTrue(r.getIgnoreEos());
      assertEquals("stories260K", r.getModel());
      assertEquals(16, spec.inputTokens());
      assertEquals(24, spec.outputTokens());
    }
  }

  @Test
  void withoutBosEveryIdIsDrawn() {
    GenerateRequest r = new RandomWorkload(POOL, null, 5, 1, 0, OPTIONS).request(0).request();
    assertEquals(5, r.getPromptIds().getIdsCount());
    assertFalse(r.getPromptIds().getIdsList().contains(1));
  }

  @Test
  void rangeRatioDrawsWithinVllmBounds() {
    // input 100, ratio 0.5: [50, 150]; output 10: [5, 15]
    RandomWorkload w = new RandomWorkload(POOL, 1, 100, 10, 0.5, OPTIONS);
    int minIn = Integer.MAX_VALUE;
    int maxIn = 0;
    int minOut = Integer.MAX_VALUE;
    int maxOut = 0;
    for (long i = 0; i < 2000; i++) {
      Workload.RequestSpec s = w.request(i);
      assertEquals(s.inputTokens(), s.request().getPromptIds().getIdsCount());
      minIn = Math.min(minIn, s.inputTokens());
      maxIn = Math.max(maxIn, s.inputTokens());
      minOut = Math.min(minOut, s.outputTokens());
      maxOut = Math.max(maxOut, s.outputTokens());
    }
    assertEquals(50, minIn);
    assertEquals(150, maxIn);
    assertEquals(5, minOut);
    assertEquals(15, maxOut);
    assertEquals(165, w.maxTotalTokens());
  }

  @Test
  void sameIndexSameRequestAcrossInstancesAndSeedsDiffer() {
    RandomWorkload a = new RandomWorkload(POOL, 1, 32, 8, 0.2, OPTIONS);
    RandomWorkload b = new RandomWorkload(POOL, 1, 32, 8, 0.2, OPTIONS);
    RandomWorkload other = new RandomWorkload(POOL, 1, 32, 8, 0.2, new Workload.Options("stories260K", null, 4, true));
    assertEquals(a.request(17).request(), b.request(17).request());
    assertNotEquals(a.request(17).request(), a.request(18).request());
    assertNotEquals(a.request(17).request(), other.request(17).request());
    assertEquals(a.request(17).request().getSampling().getSeed(), b.request(17).request().getSampling().getSeed());
  }

  @Test
  void lengthBoundsFloorAndCeil() {
    assertEquals(1, RandomWorkload.low(1, 0.9));
    assertEquals(2, RandomWorkload.high(1, 0.9));
    assertEquals(7, RandomWorkload.low(10, 0.25));
    assertEquals(13, RandomWorkload.high(10, 0.25));
  }
}
