package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class BenchTestTest {

  @Test
  void parsesLlamaBenchNames() {
    List<BenchTest> tests = BenchTest.parseList("pp128, PP512 ,tg128");
    assertEquals(List.of(new BenchTest(BenchTest.Kind.PP, 128), new BenchTest(BenchTest.Kind.PP, 512), new BenchTest(BenchTest.Kind.TG, 128)), tests);
    assertEquals("pp512", tests.get(1).name());
    assertEquals("tg128", tests.get(2).name());
  }

  @Test
  void sizesOfPromptAndGenerationTests() {
    BenchTest pp = new BenchTest(BenchTest.Kind.PP, 512);
    assertEquals(512, pp.contextTokens());
    assertEquals(512, pp.batchTokens());
    assertEquals(512, pp.timedTokens());
    BenchTest tg = new BenchTest(BenchTest.Kind.TG, 128);
    assertEquals(BenchTest.TG_PROMPT + 128, tg.contextTokens());
    assertEquals(BenchTest.TG_PROMPT, tg.batchTokens());
    assertEquals(128, tg.timedTokens());
  }

  @Test
  void severalStreamsOfGeneration() {
    BenchTest t = BenchTest.parseList("tg128x16").get(0);
    assertEquals(new BenchTest(BenchTest.Kind.TG, 128, 16), t);
    assertEquals("tg128x16", t.name());
    assertEquals(BenchTest.TG_PROMPT + 128, t.contextTokens());
    assertEquals(16, t.batchTokens());
    assertEquals(128 * 16, t.timedTokens());
    assertEquals(List.of("tg8", "tg8x2"), BenchTest.parseList("tg8,tg8x2").stream().map(BenchTest::name).toList());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BenchTest.parseList("pp16x2")).getMessage().contains("only tg tests"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BenchTest.parseList("tg8x0")).getMessage().contains("streams must be"));
  }

  @Test
  void rejectsUnknownFormsRepeatsAndSizes() {
    for (String bad : new String[] {"", "pp", "pp-1", "xx128", "pp128,", "tg 128", "pp128+tg32", "pp1234567"}) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchTest.parseList(bad), bad);
      assertTrue(e.getMessage().contains("unknown test"), e.getMessage());
    }
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BenchTest.parseList("pp16,tg8,pp16")).getMessage().contains("pp16 is listed twice"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BenchTest.parseList("pp0")).getMessage().contains("between 1 and"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> BenchTest.parseList("tg100000")).getMessage().contains("between 1 and"));
  }

  @Test
  void tokenIdsAreSeededInVocabularyAndIndependentOfListOrder() {
    BenchTest pp = new BenchTest(BenchTest.Kind.PP, 300);
    int[] a = pp.tokenIds(42, 512);
    assertEquals(300, a.length);
    assertTrue(Arrays.stream(a).allMatch(id -> id >= 0 && id < 512));
    assertArrayEquals(a, BenchTest.parseList("tg8,pp300").get(1).tokenIds(42, 512));
    assertFalse(Arrays.equals(a, pp.tokenIds(43, 512)));
    assertFalse(Arrays.equals(Arrays.copyOf(a, 12), new BenchTest(BenchTest.Kind.TG, 8).tokenIds(42, 512)));
    assertEquals(BenchTest.TG_PROMPT + 8, new BenchTest(BenchTest.Kind.TG, 8).tokenIds(42, 512).length);
  }
}
