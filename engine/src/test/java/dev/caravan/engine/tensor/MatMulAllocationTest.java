package dev.caravan.engine.tensor;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * No allocation per call on the hot path, once the JIT has compiled it. Runs at the JVM's preferred vector width only:
 * at narrower forced widths whether C2 keeps every vector in registers depends on compilation timing (see
 * {@link VectorKernels}), which would make this check flaky rather than informative.
 */
class MatMulAllocationTest {
  private static final Arena ARENA = Arena.ofShared();
  private static final Kernels[] KERNELS = {new ScalarKernels(), new VectorKernels()};

  @AfterAll
  static void closeArena() {
    ARENA.close();
  }

  /** After warm-up, matmul (batch 1 and 5) and dequantizeRow allocate nothing, on the caller or on the pool's workers. */
  @ParameterizedTest
  @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"})
  void allocatesNothingPerCall(GgmlType t) {
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    int cols = t.blockSize() == 256 ? 512 : 256;
    WeightMatrix w = TestWeights.random(t, 64, cols, 9, ARENA);
    float[] x = TestWeights.activations(5 * cols, 10);
    float[] out = new float[5 * 64];
    float[] row = new float[cols];
    for (Kernels k : KERNELS) {
      try (Parallel p = new Parallel(2)) {
        Runnable one = () -> MatMul.matmul(k, p, w, x, 1, out);
        Runnable five = () -> MatMul.matmul(k, p, w, x, 5, out);
        int[] next = {0};
        Runnable dequantize = () -> k.dequantizeRow(w, next[0]++ % 64, row, 0); // every row in turn
        Runnable calls = () -> {
          for (int i = 0; i < 200; i++) {
            one.run();
            five.run();
            dequantize.run();
          }
        };
        // warm up until the JIT has compiled the kernels (the interpreter boxes vectors), then look for a clean round;
        // this fork runs with -Xbatch, so compilation finishes before the code that triggered it goes on
        long allocated = -1;
        for (int round = 0; round < 100 && allocated != 0; round++) {
          calls.run();
          allocated = allocatedBy(mx, calls);
        }
        if (allocated != 0) {
          // say which call allocates
          fail(k.name() + " " + t + ": " + allocated + " bytes allocated by 200 rounds of calls after warm-up; per call: matmul batch 1 "
              + allocatedBy(mx, one) + ", batch 5 " + allocatedBy(mx, five) + ", dequantizeRow " + allocatedBy(mx, dequantize));
        }
      }
    }
  }

  /** Bytes allocated while {@code r} runs, on this thread and the pool's. */
  private static long allocatedBy(com.sun.management.ThreadMXBean mx, Runnable r) {
    long[] ids = poolThreadIds();
    long before = allocatedBytes(mx, ids);
    r.run();
    return allocatedBytes(mx, ids) - before;
  }

  private static long[] poolThreadIds() {
    return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("caravan-parallel-") && t.isAlive()).mapToLong(Thread::threadId).toArray();
  }

  /** Bytes allocated so far by this thread and the given threads (the single-id query itself allocates nothing). */
  private static long allocatedBytes(com.sun.management.ThreadMXBean mx, long[] ids) {
    long s = mx.getCurrentThreadAllocatedBytes();
    for (long id : ids) {
      s += Math.max(0, mx.getThreadAllocatedBytes(id));
    }
    return s;
  }
}
