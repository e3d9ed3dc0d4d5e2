package dev.caravan.engine.tensor;

// Run (from the repository root, after `mvn -q -B -pl engine -am test-compile` and
// `mvn -q -pl engine dependency:build-classpath -Dmdep.outputFile=target/cp.txt`):
//   java --add-modules jdk.incubator.vector -Xmx4g -cp engine/target/classes:engine/target/test-classes:$(cat engine/target/cp.txt) \
//       dev.caravan.engine.tensor.DecodeKernelHarness [Q8_0] [threads] [rounds] [MB per pass; 0: one 256x2048 matrix, in L2]
// Not a test.

import java.lang.foreign.Arena;
import java.util.Arrays;

/**
 * Decode (one token) matrix-vector products over TinyLlama-1.1B-shaped layers (wq, wk, wv, wo, gate, up, down;
 * enough copies to stream at least 256 MB from memory per pass, as in a real forward pass): the one-row kernels
 * ({@link VectorKernels#dot}, one call and one reduction per row) against the four-row kernel
 * ({@code VectorDots.dotQ8_0x4}), alternating pass by pass in one JVM. Prints the median GB/s of both and their ratio.
 */
public final class DecodeKernelHarness {
  private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[16]);

  private DecodeKernelHarness() {}

  public static void main(String[] args) {
    String[] types = (args.length > 0 ? args[0] : "Q8_0").split(",");
    int threads = args.length > 1 ? Integer.parseInt(args[1]) : 1;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 15;
    VectorKernels k = new VectorKernels();
    try (Parallel pool = new Parallel(threads); Arena arena = Arena.ofShared()) {
      for (String name : types) {
        GgmlType t = GgmlType.valueOf(name.trim());
        int[][] shapes = args.length > 3 && Long.parseLong(args[3]) == 0 ? new int[][] {{256, 2048}} : new int[][] {{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048}, {5632, 2048}, {5632, 2048}, {2048, 5632}};
        long layerBytes = 0;
        for (int[] sh : shapes) {
          layerBytes += t.byteSize(sh[1]) * sh[0];
        }
        long target = (args.length > 3 ? Long.parseLong(args[3]) : 256L) << 20;
        int copies = (int) Math.max(1, target / layerBytes);
        WeightMatrix[] ws = new WeightMatrix[copies * shapes.length];
        for (int c = 0; c < copies; c++) {
          for (int i = 0; i < shapes.length; i++) {
            ws[c * shapes.length + i] = TestWeights.random(t, shapes[i][0], shapes[i][1], 31L * c + i, arena);
          }
        }
        float[] x = TestWeights.activations(5632, 9);
        float[] out = new float[5632];
        long bytes = layerBytes * copies;
        Parallel.RangeTask[] one = new Parallel.RangeTask[ws.length];
        Parallel.RangeTask[] four = new Parallel.RangeTask[ws.length];
        for (int i = 0; i < ws.length; i++) {
          WeightMatrix w = ws[i];
          one[i] = (from, to) -> {
            for (int r = from; r < to; r++) {
              out[r] = k.dot(w, r, x, 0);
            }
          };
          four[i] = (from, to) -> {
            float[] lanes = LANES.get();
            int r = from;
            for (; r + 4 <= to; r += 4) {
              VectorDots.dotQ8_0x4(w.data(), w.rowOffset(r), w.rowBytes(), w.cols() / 32, x, 0, out, r, lanes);
            }
            for (; r < to; r++) {
              out[r] = k.dot(w, r, x, 0);
            }
          };
        }
        long[][] ns = new long[2][rounds];
        for (int r = -5; r < rounds; r++) {
          for (int v = 0; v < 2; v++) {
            Parallel.RangeTask[] tasks = v == 0 ? one : four;
            long t0 = System.nanoTime();
            for (int i = 0; i < ws.length; i++) {
              pool.forRange(ws[i].rows(), tasks[i]);
            }
            long dt = System.nanoTime() - t0;
            if (r >= 0) {
              ns[v][r] = dt;
            }
          }
        }
        // allocation per pass on the calling thread (boxed vectors would show here)
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long[] alloc = new long[2];
        for (int v = 0; v < 2; v++) {
          Parallel.RangeTask[] tasks = v == 0 ? one : four;
          long a0 = mx.getCurrentThreadAllocatedBytes();
          for (int i = 0; i < ws.length; i++) {
            tasks[i].run(0, ws[i].rows());
          }
          alloc[v] = mx.getCurrentThreadAllocatedBytes() - a0;
        }
        System.out.printf("bytes allocated per pass: one row %d, four rows %d%n", alloc[0], alloc[1]);
        double g1 = bytes / median(ns[0]);
        double g4 = bytes / median(ns[1]);
        System.out.printf("%s %s, %d thread(s), %d MB per pass: one row per call %.1f GB/s, four rows %.1f GB/s: %.2fx%n", k.name(), t, threads, bytes >> 20, g1, g4, g4 / g1);
      }
    }
  }

  private static double median(long[] v) {
    long[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
