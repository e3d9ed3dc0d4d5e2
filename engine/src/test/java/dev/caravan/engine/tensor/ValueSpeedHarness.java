package dev.caravan.engine.tensor;

// Run (from the repository root, after `mvn -q -B -pl engine -am test-compile`):
//   java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes:$(cat engine/target/cp.txt) \
//       dev.caravan.engine.tensor.ValueSpeedHarness
// (engine/target/cp.txt: `mvn -q -pl engine dependency:build-classpath -Dmdep.outputFile=target/cp.txt`). Not a test.

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Does the speed of the kernels depend on the values they see? Each case runs the same operation on the same shapes
 * with differently scaled inputs (normal values, inputs whose products are subnormal, subnormal inputs, exp arguments
 * far below its range), the cases alternating round by round in one JVM; prints each case's median time over the
 * baseline's. A ratio near 1 means value-independent. The weights sit in L2/L3 so that compute, not memory, shows.
 */
public final class ValueSpeedHarness {
  private ValueSpeedHarness() {}

  interface Case {
    void run();
  }

  public static void main(String[] args) {
    Kernels k = Kernels.get();
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    Arena arena = Arena.ofShared();
    int dim = 2048;
    WeightMatrix q8 = TestWeights.random(GgmlType.Q8_0, 512, dim, 1, arena);
    WeightMatrix q4 = TestWeights.random(GgmlType.Q4_0, 512, dim, 2, arena);
    WeightMatrix q4k = TestWeights.random(GgmlType.Q4_K, 512, dim, 3, arena);
    float[] normal = scaled(dim, 1f, 4);
    float[] tinyProducts = scaled(dim, 1e-36f, 4); // normal floats, products with the weights subnormal
    float[] subnormal = scaled(dim, 1e-40f, 4); // subnormal inputs
    float[] mixed = normal.clone();
    for (int i = 0; i < dim; i += 4) {
      mixed[i] = subnormal[i];
    }
    float[] out = new float[512];
    String[] names = {"q8 normal", "q8 tiny products", "q8 subnormal x", "q8 1/4 subnormal", "q4_0 normal", "q4_0 subnormal x", "q4_K normal", "q4_K subnormal x",
        "swiglu N(0,1)", "swiglu N(0,100)", "softmax range 10", "softmax range 1000", "axpy normal", "axpy subnormal"};
    float[] gate = new float[5632];
    float[] up = scaled(5632, 1f, 5);
    float[] h = new float[5632];
    float[] g1 = scaled(5632, 1f, 6);
    float[] g100 = scaled(5632, 100f, 6);
    float[] s10 = scaled(4096, 10f, 7);
    float[] s1000 = scaled(4096, 1000f, 7);
    float[] sm = new float[4096];
    float[] y = new float[dim];
    Case[] cases = {
        () -> rows(k, q8, normal, out), () -> rows(k, q8, tinyProducts, out), () -> rows(k, q8, subnormal, out), () -> rows(k, q8, mixed, out),
        () -> rows(k, q4, normal, out), () -> rows(k, q4, subnormal, out), () -> rows(k, q4k, normal, out), () -> rows(k, q4k, subnormal, out),
        () -> {
          for (int r = 0; r < 40; r++) {
            System.arraycopy(g1, 0, gate, 0, gate.length);
            ActivationMath.swiglu(gate, 0, up, 0, h, 0, h.length);
          }
        },
        () -> {
          for (int r = 0; r < 40; r++) {
            System.arraycopy(g100, 0, gate, 0, gate.length);
            ActivationMath.swiglu(gate, 0, up, 0, h, 0, h.length);
          }
        },
        () -> {
          for (int r = 0; r < 40; r++) {
            System.arraycopy(s10, 0, sm, 0, sm.length);
            ActivationMath.softmax(sm, 0, sm.length);
          }
        },
        () -> {
          for (int r = 0; r < 40; r++) {
            System.arraycopy(s1000, 0, sm, 0, sm.length);
            ActivationMath.softmax(sm, 0, sm.length);
          }
        },
        () -> {
          for (int r = 0; r < 200; r++) {
            ActivationMath.axpy(0.5f, normal, 0, y, 0, dim);
          }
        },
        () -> {
          for (int r = 0; r < 200; r++) {
            ActivationMath.axpy(1e-3f, subnormal, 0, y, 0, dim);
          }
        },
    };
    long[][] ns = new long[cases.length][rounds];
    for (int w = 0; w < 200; w++) {
      for (Case c : cases) {
        c.run();
      }
    }
    for (int r = 0; r < rounds; r++) {
      for (int c = 0; c < cases.length; c++) {
        long t0 = System.nanoTime();
        cases[c].run();
        ns[c][r] = System.nanoTime() - t0;
      }
    }
    System.out.printf("kernels %s; median of %d alternating rounds; ratio to the first case of its group%n", k.name(), rounds);
    int[] base = {0, 0, 0, 0, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12};
    for (int c = 0; c < cases.length; c++) {
      System.out.printf("%-20s %9.1f us  %.2fx%n", names[c], median(ns[c]) / 1e3, median(ns[c]) / median(ns[base[c]]));
    }
    System.out.println(out[0] + y[0] + h[0] + sm[0]);
  }

  private static void rows(Kernels k, WeightMatrix w, float[] x, float[] out) {
    for (int rep = 0; rep < 4; rep++) {
      k.dotRows(w, 0, w.rows(), x, 0, w.cols(), 1, out, 0, w.rows());
    }
  }

  private static float[] scaled(int n, float scale, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (r.nextGaussian() * scale);
    }
    return x;
  }

  private static double median(long[] v) {
    long[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
