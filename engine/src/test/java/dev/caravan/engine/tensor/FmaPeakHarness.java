package dev.caravan.engine.tensor;

// Run (from the repository root, after `mvn -q -B -o -pl engine test-compile`):
//   java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes \
//       dev.caravan.engine.tensor.FmaPeakHarness [rounds]
// Not a test. The float fused multiply-add peak of one thread at the preferred vector width: twelve independent
// accumulators, enough to hide the FMA latency on two FMA pipes, all in registers. The batched kernels are measured
// against this (BatchKernelHarness).

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import jdk.incubator.vector.FloatVector;

public final class FmaPeakHarness {
  private FmaPeakHarness() {}

  static float run(long iterations, float[] seed) {
    FloatVector m = FloatVector.fromArray(VectorWidth.F, seed, 0);
    FloatVector c = FloatVector.fromArray(VectorWidth.F, seed, 16);
    FloatVector a0 = m, a1 = c, a2 = m, a3 = c, a4 = m, a5 = c, a6 = m, a7 = c, a8 = m, a9 = c, a10 = m, a11 = c;
    for (long i = 0; i < iterations; i++) {
      a0 = a0.fma(m, c);
      a1 = a1.fma(m, c);
      a2 = a2.fma(m, c);
      a3 = a3.fma(m, c);
      a4 = a4.fma(m, c);
      a5 = a5.fma(m, c);
      a6 = a6.fma(m, c);
      a7 = a7.fma(m, c);
      a8 = a8.fma(m, c);
      a9 = a9.fma(m, c);
      a10 = a10.fma(m, c);
      a11 = a11.fma(m, c);
    }
    return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).lane(0);
  }

  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 6;
    float[] seed = new float[32];
    for (int i = 0; i < 32; i++) {
      seed[i] = i < 16 ? 0.999f : 0.001f; // the accumulators converge to 1 and stay normal
    }
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long iterations = 50_000_000L;
    for (int w = 0; w < 20; w++) {
      run(1_000_000L, seed); // until C2 has compiled the loop
    }
    for (int r = 0; r < rounds; r++) {
      long t0 = mx.getCurrentThreadCpuTime();
      float v = run(iterations, seed);
      long dt = mx.getCurrentThreadCpuTime() - t0;
      System.out.printf("%d-bit FMA: %.1f GFLOP/s per thread (%s)%n", VectorWidth.BITS, iterations * 12.0 * VectorWidth.L * 2 / dt, v);
    }
  }
}
