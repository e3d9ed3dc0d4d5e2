package dev.caravan.engine.tensor;

// Run (from the repository root, after `mvn -q -B -o -pl engine test-compile`):
//   java --add-modules jdk.incubator.vector -Xmx4g -cp engine/target/classes:engine/target/test-classes:<slf4j-api jar> \
//       dev.caravan.engine.tensor.BatchKernelHarness [types] [batches] [rounds]
// Not a test. The batched path (VectorKernels.dotRows over several tokens) on TinyLlama-shaped matrices, one thread,
// timed by the thread's CPU time (other load on the machine then matters less); prints GFLOP/s per batch size.

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.foreign.Arena;
import java.util.Arrays;

public final class BatchKernelHarness {
  private BatchKernelHarness() {}

  public static void main(String[] args) {
    String[] types = (args.length > 0 ? args[0] : "Q8_0,Q4_0").split(",");
    String[] batches = (args.length > 1 ? args[1] : "1,4,16,64").split(",");
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 7;
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    VectorKernels k = new VectorKernels();
    try (Arena arena = Arena.ofShared()) {
      for (String tn : types) {
        GgmlType t = GgmlType.valueOf(tn.trim());
        WeightMatrix[] ws = {
            TestWeights.random(t, 2048, 2048, 1, arena), TestWeights.random(t, 256, 2048, 2, arena), TestWeights.random(t, 5632, 2048, 3, arena),
            TestWeights.random(t, 2048, 5632, 4, arena)};
        StringBuilder sb = new StringBuilder(k.name() + " " + t + ":");
        for (String bs : batches) {
          int batch = Integer.parseInt(bs.trim());
          float[] x = TestWeights.activations(batch * 5632, 5);
          float[] out = new float[batch * 5632];
          long flops = 0;
          for (WeightMatrix w : ws) {
            flops += 2L * w.rows() * w.cols() * batch;
          }
          long[] ns = new long[rounds];
          for (int r = -2; r < rounds; r++) {
            long t0 = mx.getCurrentThreadCpuTime();
            for (WeightMatrix w : ws) {
              k.dotRows(w, 0, w.rows(), x, 0, w.cols(), batch, out, 0, w.rows());
            }
            long dt = mx.getCurrentThreadCpuTime() - t0;
            if (r >= 0) {
              ns[r] = dt;
            }
          }
          Arrays.sort(ns);
          sb.append(String.format(" batch %d %.1f GFLOP/s (%.1f ms);", batch, flops / (double) ns[rounds / 2], ns[rounds / 2] / 1e6));
        }
        System.out.println(sb);
      }
    }
  }
}
