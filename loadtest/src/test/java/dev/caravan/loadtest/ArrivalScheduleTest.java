package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ArrivalScheduleTest {
  @Test
  void constantArrivalsAreExactlyOneOverRateApart() {
    ArrivalSchedule s = ArrivalSchedule.of(ArrivalSchedule.Kind.CONSTANT, 4, 0);
    for (int i = 0; i < 1000; i++) {
      assertEquals(i * 250_000_000L, s.nextOffsetNanos());
    }
    ArrivalSchedule third = ArrivalSchedule.of(ArrivalSchedule.Kind.CONSTANT, 3, 0);
    third.nextOffsetNanos();
    assertEquals(333_333_333L, third.nextOffsetNanos());
    assertEquals(666_666_667L, third.nextOffsetNanos());
    assertEquals(1_000_000_000L, third.nextOffsetNanos(), "no drift: computed from the index");
  }

  @Test
  void poissonArrivalsHaveTheMeanRateAndExponentialGaps() {
    int n = 20_000;
    double rate = 5;
    ArrivalSchedule s = ArrivalSchedule.of(ArrivalSchedule.Kind.POISSON, rate, 42);
    assertEquals(0, s.nextOffsetNanos(), "the first request goes at once");
    double[] gaps = new double[n];
    long previous = 0;
    for (int i = 0; i < n; i++) {
      long t = s.nextOffsetNanos();
      assertTrue(t >= previous, "offsets never go back");
      gaps[i] = (t - previous) / 1e9;
      previous = t;
    }
    double observedRate = n / (previous / 1e9);
    // the mean of 20000 exponential gaps has a relative standard error of 1/sqrt(20000) = 0.7%; allow 3%
    assertEquals(rate, observedRate, rate * 0.03);
    // an exponential distribution's standard deviation equals its mean (coefficient of variation 1)
    Stats g = Stats.of(gaps);
    assertEquals(1.0, g.std() / g.mean(), 0.05);
    // and its median is ln 2 times the mean
    assertEquals(Math.log(2), g.median() / g.mean(), 0.05);
  }

  @Test
  void aSeedGivesTheSameSchedule() {
    ArrivalSchedule a = ArrivalSchedule.of(ArrivalSchedule.Kind.POISSON, 2, 7);
    ArrivalSchedule b = ArrivalSchedule.of(ArrivalSchedule.Kind.POISSON, 2, 7);
    ArrivalSchedule c = ArrivalSchedule.of(ArrivalSchedule.Kind.POISSON, 2, 8);
    long sumA = 0;
    long sumC = 0;
    for (int i = 0; i < 100; i++) {
      long x = a.nextOffsetNanos();
      assertEquals(x, b.nextOffsetNanos());
      sumA += x;
      sumC += c.nextOffsetNanos();
    }
    assertNotEquals(sumA, sumC);
  }

  @Test
  void rateMustBePositive() {
    assertThrows(IllegalArgumentException.class, () -> ArrivalSchedule.of(ArrivalSchedule.Kind.POISSON, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> ArrivalSchedule.of(ArrivalSchedule.Kind.CONSTANT, Double.POSITIVE_INFINITY, 1));
  }
}
