package dev.caravan.engine.tensor;

// Run (from the repository root; takes ~15 min for everything, pass a regex after the class name to narrow it):
//   mvn -q -B -pl engine test-compile exec:exec -Dexec.executable=java -Dexec.classpathScope=test -Dexec.args="-cp %classpath org.openjdk.jmh.Main KernelBenchmark -rf json -rff target/jmh.json"
// Not run by `mvn verify`. GB/s = layerBytes / time, GFLOP/s = 2 * layerParams * batch / time (layerBytes and
// layerParams are printed once per trial). Each iteration also prints "[cpu] ... cpu ms/op": the CPU time of the
// benchmark thread and the pool's workers per op, which stays meaningful when other processes share the cores.

import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * One TinyLlama-1.1B-shaped layer (dim 2048, 32 query / 4 KV heads of 64, FFN 5632) through {@link MatMul}: wq, wk,
 * wv, wo, gate, up, down. Several copies of the layer (at least 192 MB in all) are used in turn so that the weights
 * stream from memory, as in a real forward pass, instead of sitting in the 32 MB L3.
 *
 * <p>{@link #decode}: batch 1, scalar vs vector, 1 and 2 threads. {@link #prefill}: vector kernels, batch 32 and 128.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx6g"})
public class KernelBenchmark {
  static final int DIM = 2048;
  static final int KV_DIM = 256;
  static final int FFN = 5632;
  static final long MIN_BYTES = 192L << 20;

  /** Weights, activations and the pool shared by both benchmarks. */
  @State(Scope.Benchmark)
  public abstract static class Layers {
    Arena arena;
    WeightMatrix[][] layers; // (copies, 7) wq, wk, wv, wo, gate, up, down
    float[] x; // (batch, FFN) activations, wide enough for every matrix
    float[] out; // (batch, FFN)
    Parallel pool;
    Kernels kernels;
    int next;
    // CPU-time accounting per iteration
    final ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    long ops;
    long cpuStart;
    long wallStart;

    abstract GgmlType type();

    abstract int batch();

    abstract int threads();

    abstract String kernelName();

    @Setup(Level.Trial)
    public void setUp() {
      arena = Arena.ofShared();
      GgmlType t = type();
      long layerBytes = t.byteSize(2L * DIM * DIM + 2L * KV_DIM * DIM + 3L * FFN * DIM);
      int copies = (int) Math.max(1, (MIN_BYTES + layerBytes - 1) / layerBytes);
      layers = new WeightMatrix[copies][];
      for (int c = 0; c < copies; c++) {
        long seed = 1000L * c;
        layers[c] = new WeightMatrix[] {
            TestWeights.random(t, DIM, DIM, seed + 1, arena),
            TestWeights.random(t, KV_DIM, DIM, seed + 2, arena),
            TestWeights.random(t, KV_DIM, DIM, seed + 3, arena),
            TestWeights.random(t, DIM, DIM, seed + 4, arena),
            TestWeights.random(t, FFN, DIM, seed + 5, arena),
            TestWeights.random(t, FFN, DIM, seed + 6, arena),
            TestWeights.random(t, DIM, FFN, seed + 7, arena)};
      }
      x = TestWeights.activations(batch() * FFN, 99);
      out = new float[batch() * FFN];
      pool = new Parallel(threads());
      kernels = kernelName().equals("scalar") ? new ScalarKernels() : new VectorKernels();
      long params = 2L * DIM * DIM + 2L * KV_DIM * DIM + 3L * FFN * DIM;
      System.out.printf("%n[layer] type=%s kernels=%s threads=%d batch=%d copies=%d layerBytes=%d layerParams=%d%n", t, kernels.name(), threads(), batch(), copies, layerBytes, params);
    }

    @Setup(Level.Iteration)
    public void startIteration() {
      ops = 0;
      cpuStart = cpuNanos();
      wallStart = System.nanoTime();
    }

    @TearDown(Level.Iteration)
    public void endIteration() {
      double cpuMs = (cpuNanos() - cpuStart) / 1e6 / Math.max(1, ops);
      double wallMs = (System.nanoTime() - wallStart) / 1e6 / Math.max(1, ops);
      System.out.printf("[cpu] type=%s kernels=%s threads=%d batch=%d cpu %.3f ms/op, wall %.3f ms/op%n", type(), kernels.name(), threads(), batch(), cpuMs, wallMs);
    }

    /** CPU time so far of this (benchmark) thread and the pool's worker threads. */
    private long cpuNanos() {
      long sum = mx.getCurrentThreadCpuTime();
      for (Thread t : Thread.getAllStackTraces().keySet()) {
        if (t.getName().startsWith("caravan-parallel-")) {
          sum += Math.max(0, mx.getThreadCpuTime(t.threadId()));
        }
      }
      return sum;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      pool.close();
      arena.close();
    }

    /** All seven matrices of the next layer copy, batch tokens each. */
    float runLayer() {
      WeightMatrix[] layer = layers[next];
      next = (next + 1) % layers.length;
      for (WeightMatrix w : layer) {
        MatMul.matmul(kernels, pool, w, x, batch(), out);
      }
      ops++;
      return out[0];
    }
  }

  /** Batch 1: one decoded token. */
  public static class DecodeState extends Layers {
    @Param({"Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16"})
    public GgmlType type;

    @Param({"vector", "scalar"})
    public String kernels;

    @Param({"1", "2"})
    public int threads;

    @Override
    GgmlType type() {
      return type;
    }

    @Override
    int batch() {
      return 1;
    }

    @Override
    int threads() {
      return threads;
    }

    @Override
    String kernelName() {
      return kernels;
    }
  }

  /** A prompt chunk: batch tokens at once, vector kernels. */
  public static class PrefillState extends Layers {
    @Param({"Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16"})
    public GgmlType type;

    @Param({"32", "128"})
    public int batch;

    @Param({"1", "2"})
    public int threads;

    @Override
    GgmlType type() {
      return type;
    }

    @Override
    int batch() {
      return batch;
    }

    @Override
    int threads() {
      return threads;
    }

    @Override
    String kernelName() {
      return "vector";
    }
  }

  @Benchmark
  public void decode(DecodeState s, Blackhole bh) {
    bh.consume(s.runLayer());
  }

  @Benchmark
  public void prefill(PrefillState s, Blackhole bh) {
    bh.consume(s.runLayer());
  }
}
