package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Expected values worked out by hand with NumPy's definitions (np.mean, np.median, np.std, np.percentile linear). */
class StatsTest {
  private static final double EPS = 1e-12;

  @Test
  void fourValues() {
    Stats s = Stats.of(4, 1, 3, 2);
    assertEquals(2.5, s.mean(), EPS);
    assertEquals(2.5, s.median(), EPS);
    // deviations 1.5, 0.5, 0.5, 1.5: squares sum 5, over n = 4 is 1.25
    assertEquals(Math.sqrt(1.25), s.std(), EPS);
    // rank 0.9 * 3 = 2.7: 3 + 0.7 * (4 - 3)
    assertEquals(3.7, s.percentile(90), EPS);
    // rank 2.97
    assertEquals(3.97, s.percentile(99), EPS);
    assertEquals(1, s.percentile(0), EPS);
    assertEquals(4, s.percentile(100), EPS);
  }

  @Test
  void fiveValuesInterpolateBetweenRanks() {
    Stats s = Stats.of(15, 20, 35, 40, 50);
    assertEquals(32, s.mean(), EPS);
    assertEquals(35, s.median(), EPS);
    // rank 0.4 * 4 = 1.6: 20 + 0.6 * (35 - 20) = 29
    assertEquals(29, s.percentile(40), EPS);
    // rank 3.6: 40 + 0.6 * 10 = 46
    assertEquals(46, s.percentile(90), EPS);
    // deviations -17 -12 3 8 18: squares 289 + 144 + 9 + 64 + 324 = 830, / 5 = 166
    assertEquals(Math.sqrt(166), s.std(), EPS);
  }

  @Test
  void oneValueIsEveryStatistic() {
    Stats s = Stats.of(7.5);
    assertEquals(7.5, s.mean());
    assertEquals(7.5, s.median());
    assertEquals(7.5, s.percentile(99));
    assertEquals(0, s.std());
  }

  @Test
  void emptySampleIsZeroLikeVllm() {
    Stats s = Stats.of();
    assertEquals(0, s.count());
    assertEquals(0, s.mean());
    assertEquals(0, s.median());
    assertEquals(0, s.std());
    assertEquals(0, s.percentile(99));
  }

  @Test
  void medianOfOddCountIsTheMiddle() {
    assertEquals(5, Stats.of(10, 0, 5).median(), EPS);
    assertEquals(2.5, Stats.of(10, 0, 5).percentile(25), EPS);
  }

  @Test
  void percentileOutsideRangeIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> Stats.of(1, 2).percentile(101));
    assertThrows(IllegalArgumentException.class, () -> Stats.of(1, 2).percentile(-1));
  }
}
