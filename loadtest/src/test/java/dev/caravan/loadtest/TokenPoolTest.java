package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TokenPoolTest {
  @Test
  void leavesOutSpecialTokensAtTheStart() {
    TokenPool p = TokenPool.of(512, Set.of(0, 1, 2));
    assertEquals(509, p.size());
    assertFalse(p.contains(0) || p.contains(1) || p.contains(2));
    assertTrue(p.contains(3) && p.contains(511));
  }

  @Test
  void specialTokensAtTheEndTakeTheReservedTailWithThem() {
    // Llama 3: 128000 <|begin_of_text|>, 128009 <|eot_id|>, reserved tokens up to 128255
    TokenPool p = TokenPool.of(128256, Set.of(128000, 128001, 128009));
    assertEquals(128000, p.size());
    assertTrue(p.contains(127999));
    assertFalse(p.contains(128005));
    assertFalse(p.contains(128255));
  }

  @Test
  void drawsOnlyAllowedIds() {
    TokenPool p = TokenPool.of(10, Set.of(0, 1, 2));
    SplittableRandom r = new SplittableRandom(1);
    boolean[] seen = new boolean[10];
    for (int i = 0; i < 2000; i++) {
      int id = p.draw(r);
      assertTrue(id >= 3 && id < 10, "drew " + id);
      seen[id] = true;
    }
    for (int id = 3; id < 10; id++) {
      assertTrue(seen[id], "never drew " + id);
    }
  }

  @Test
  void fallbackIsSafeInAnyLlamaVocabulary() {
    TokenPool p = TokenPool.fallback();
    assertEquals(256, p.size());
    assertFalse(p.contains(2));
    assertTrue(p.contains(3) && p.contains(258));
  }

  @Test
  void aVocabularyOfOnlySpecialTokensIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> TokenPool.of(3, Set.of(0, 1, 2)));
  }
}
