package dev.caravan.engine.tensor;

// Run (from the repository root, after `mvn -q -B -o -pl engine test-compile`):
//   java --add-modules jdk.incubator.vector -Xmx4g -cp engine/target/classes:engine/target/test-classes:<slf4j-api jar> \
//       dev.caravan.engine.tensor.DecodeVariantsHarness [rounds]
// Not a test. A kernel lab: candidate single-token kernels over TinyLlama-shaped layers streamed from memory, one
// thread, alternating pass by pass in one JVM; prints the median GB/s of each, from the thread's CPU time (other load on the machine then matters less).

import static dev.caravan.engine.tensor.LittleEndian.f16;
import static dev.caravan.engine.tensor.VectorWidth.B128;
import static dev.caravan.engine.tensor.VectorWidth.F;
import static dev.caravan.engine.tensor.VectorWidth.I;
import static dev.caravan.engine.tensor.VectorWidth.LE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

public final class DecodeVariantsHarness {
  private static final float[] LANES = new float[16];
  static long ROW_BYTES;
  private static final java.lang.management.ThreadMXBean MX = java.lang.management.ManagementFactory.getThreadMXBean();

  private DecodeVariantsHarness() {}

  interface RowKernel {
    float dot(MemorySegment s, long base, int cols, float[] x);
  }

  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 11;
    String only = args.length > 1 ? args[1] : "";
    try (Arena arena = Arena.ofShared()) {
      for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0}) {
        if (!only.isEmpty() && !only.contains(t.name())) {
          continue;
        }
        boolean inL2 = Boolean.getBoolean("l2");
        int[][] shapes = inL2 ? new int[][] {{256, 2048}} : new int[][] {{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048}, {5632, 2048}, {5632, 2048}, {2048, 5632}};
        long layerBytes = 0;
        for (int[] sh : shapes) {
          layerBytes += t.byteSize(sh[1]) * sh[0];
        }
        int copies = inL2 ? 1 : (int) Math.max(1, (256L << 20) / layerBytes);
        WeightMatrix[] ws = new WeightMatrix[copies * shapes.length];
        for (int c = 0; c < copies; c++) {
          for (int i = 0; i < shapes.length; i++) {
            ws[c * shapes.length + i] = TestWeights.random(t, shapes[i][0], shapes[i][1], 31L * c + i, arena);
          }
        }
        float[] x = TestWeights.activations(5632, 9);
        for (int i = 0; i < XQ.length; i++) {
          XQ[i] = (short) (i * 37 % 255 - 127);
        }
        java.util.Arrays.fill(XD, 0.01f);
        String[] names;
        RowKernel[] ks;
        if (t == GgmlType.Q8_0) {
          names = new String[] {"current", "read-only", "scale-once-2acc", "4acc", "prescale", "int16"};
          ks = new RowKernel[] {
              (s, b, n, xx) -> VectorDots.dotQ8_0(s, b, n / 32, xx, 0, LANES),
              DecodeVariantsHarness::readOnly,
              DecodeVariantsHarness::q8ScaleOnce,
              DecodeVariantsHarness::q8FourAcc,
              DecodeVariantsHarness::q8PreScale,
              (s, b, n, xx) -> q8Int(s, b, n, XQ, XD)};
        } else {
          names = new String[] {"current", "read-only", "scale-once-2acc", "4acc", "magic", "no-scale", "table-scale", "widen", "widen-once", "prescale"};
          ks = new RowKernel[] {
              (s, b, n, xx) -> VectorDots.dotQ4_0(s, b, n / 32, xx, 0, LANES),
              DecodeVariantsHarness::readOnly,
              DecodeVariantsHarness::q4ScaleOnce,
              DecodeVariantsHarness::q4FourAcc,
              DecodeVariantsHarness::q4Magic,
              DecodeVariantsHarness::q4NoScale,
              DecodeVariantsHarness::q4TableScale,
              DecodeVariantsHarness::q4Widen,
              DecodeVariantsHarness::q4WidenOnce,
              DecodeVariantsHarness::q4PreScale};
        }
        long bytes = layerBytes * copies * (inL2 ? 400 : 1);
        long[][] ns = new long[ks.length][rounds];
        float sink = 0;
        for (int r = -5; r < rounds; r++) {
          for (int v = 0; v < ks.length; v++) {
            long t0 = MX.getCurrentThreadCpuTime();
            for (int rep = 0; rep < (inL2 ? 400 : 1); rep++)
            for (WeightMatrix w : ws) {
              ROW_BYTES = w.rowBytes();
              for (int row = 0; row < w.rows(); row++) {
                sink += ks[v].dot(w.data(), w.rowOffset(row), w.cols(), x);
              }
            }
            long dt = MX.getCurrentThreadCpuTime() - t0;
            if (r >= 0) {
              ns[v][r] = dt;
            }
          }
        }
        StringBuilder sb = new StringBuilder(t + " (" + (bytes >> 20) + " MB per pass):");
        for (int v = 0; v < ks.length; v++) {
          sb.append(String.format(" %s %.1f GB/s;", names[v], bytes / median(ns[v])));
        }
        System.out.println(sb + " sink " + sink);
      }
    }
  }

  private static double median(long[] v) {
    long[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }

  /** Touches every byte of the row: the streaming bound of a kernel. */
  static float readOnly(MemorySegment s, long base, int cols, float[] x) {
    long bytes = ROW_BYTES;
    IntVector acc = IntVector.zero(IntVector.SPECIES_512);
    long i = 0;
    for (; i + 64 <= bytes; i += 64) {
      acc = acc.add(ByteVector.fromMemorySegment(ByteVector.SPECIES_512, s, base + i, LE).reinterpretAsInts());
    }
    return acc.lane(0);
  }

  /** Q8_0, scale applied once per block: t = q0 x0 + q1 x1 (lanes), acc += t * d, blocks alternating two accumulators. */
  static float q8ScaleOnce(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 34L * blk;
      int xb = 32 * blk;
      FloatVector t0 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromArray(F, x, xb));
      t0 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, xb + 16), t0);
      a = t0.fma(FloatVector.broadcast(F, f16(s, o)), a);
      FloatVector t1 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 36, LE).convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromArray(F, x, xb + 32));
      t1 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 52, LE).convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, xb + 48), t1);
      b = t1.fma(FloatVector.broadcast(F, f16(s, o + 34)), b);
    }
    a.add(b).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** Q8_0, the current per-value math, four accumulators (even blocks a0/b0, odd a1/b1). */
  static float q8FourAcc(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 34L * blk;
      int xb = 32 * blk;
      float d0 = f16(s, o);
      float d1 = f16(s, o + 34);
      a0 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 36, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 52, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  private static final float[] Q4_LEVELS = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

  /** Q4_0: unscaled levels picked by a permute, t = lo x0 + hi x1, acc += t * d, two accumulators alternating blocks. */
  static float q4ScaleOnce(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    IntVector levels = FloatVector.fromArray(F, Q4_LEVELS, 0).reinterpretAsInts();
    FloatVector a = FloatVector.zero(F);
    FloatVector b = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2I, I, 0);
      FloatVector t0 = q0.selectFrom(levels).reinterpretAsFloats().mul(FloatVector.fromArray(F, x, xb));
      t0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(levels).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 16), t0);
      a = t0.fma(FloatVector.broadcast(F, f16(s, o)), a);
      IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 20, LE).convertShape(VectorOperators.B2I, I, 0);
      FloatVector t1 = q1.selectFrom(levels).reinterpretAsFloats().mul(FloatVector.fromArray(F, x, xb + 32));
      t1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(levels).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 48), t1);
      b = t1.fma(FloatVector.broadcast(F, f16(s, o + 18)), b);
    }
    a.add(b).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** Q4_0 as now (scaled table, permute), two blocks per iteration into four accumulators. */
  static float q4FourAcc(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector levels = FloatVector.fromArray(F, Q4_LEVELS, 0);
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      IntVector t0 = levels.mul(f16(s, o)).reinterpretAsInts();
      IntVector t1 = levels.mul(f16(s, o + 18)).reinterpretAsInts();
      IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2I, I, 0);
      IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 20, LE).convertShape(VectorOperators.B2I, I, 0);
      a0 = q0.selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = q1.selectFrom(t1).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(t1).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** Q4_0 with the nibbles turned into floats by the 2^23 trick: (0x4B000000 | q) - (2^23 + 8) = q - 8, exactly. */
  static float q4Magic(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      float d0 = f16(s, o);
      float d1 = f16(s, o + 18);
      IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
      IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 20, LE).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
      FloatVector l0 = q0.and(15).or(0x4B000000).reinterpretAsFloats().sub(8388616f);
      FloatVector h0 = q0.lanewise(VectorOperators.LSHR, 4).or(0x4B000000).reinterpretAsFloats().sub(8388616f);
      FloatVector l1 = q1.and(15).or(0x4B000000).reinterpretAsFloats().sub(8388616f);
      FloatVector h1 = q1.lanewise(VectorOperators.LSHR, 4).or(0x4B000000).reinterpretAsFloats().sub(8388616f);
      a0 = l0.mul(d0).fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = h0.mul(d0).fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = l1.mul(d1).fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = h1.mul(d1).fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** As q4FourAcc with every scale 1: what the scale costs. */
  static float q4NoScale(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    IntVector t0 = FloatVector.fromArray(F, Q4_LEVELS, 0).reinterpretAsInts();
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2I, I, 0);
      IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 20, LE).convertShape(VectorOperators.B2I, I, 0);
      a0 = q0.selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = q1.selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  static final float[] F16 = new float[65536];
  static {
    for (int i = 0; i < 65536; i++) {
      F16[i] = Float.float16ToFloat((short) i);
    }
  }

  /** As q4FourAcc with the fp16 scales looked up in a table (like ggml). */
  static float q4TableScale(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector levels = FloatVector.fromArray(F, Q4_LEVELS, 0);
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      IntVector t0 = levels.mul(F16[s.get(LittleEndian.I16, o) & 0xFFFF]).reinterpretAsInts();
      IntVector t1 = levels.mul(F16[s.get(LittleEndian.I16, o + 18) & 0xFFFF]).reinterpretAsInts();
      IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2I, I, 0);
      IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 20, LE).convertShape(VectorOperators.B2I, I, 0);
      a0 = q0.selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = q1.selectFrom(t1).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(t1).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** Q4_0: nibbles minus 8 as bytes (128-bit ops), widened to floats, scaled per value; two blocks, four accumulators. */
  static float q4Widen(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      float d0 = f16(s, o);
      float d1 = f16(s, o + 18);
      ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 20, LE);
      ByteVector l0 = q0.and((byte) 0x0F).sub((byte) 8);
      ByteVector h0 = q0.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).sub((byte) 8);
      ByteVector l1 = q1.and((byte) 0x0F).sub((byte) 8);
      ByteVector h1 = q1.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).sub((byte) 8);
      a0 = ((FloatVector) l0.convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = ((FloatVector) h0.convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = ((FloatVector) l1.convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = ((FloatVector) h1.convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** As q4Widen, the scale applied once per block: t = l x0 + h x1, acc += t * d. */
  static float q4WidenOnce(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      ByteVector q0 = ByteVector.fromMemorySegment(B128, s, o + 2, LE);
      ByteVector q1 = ByteVector.fromMemorySegment(B128, s, o + 20, LE);
      ByteVector l0 = q0.and((byte) 0x0F).sub((byte) 8);
      ByteVector h0 = q0.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).sub((byte) 8);
      ByteVector l1 = q1.and((byte) 0x0F).sub((byte) 8);
      ByteVector h1 = q1.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes().and((byte) 0x0F).sub((byte) 8);
      FloatVector t0 = ((FloatVector) l0.convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromArray(F, x, xb));
      t0 = ((FloatVector) h0.convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, xb + 16), t0);
      FloatVector t1 = ((FloatVector) l1.convertShape(VectorOperators.B2F, F, 0)).mul(FloatVector.fromArray(F, x, xb + 32));
      t1 = ((FloatVector) h1.convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, xb + 48), t1);
      a0 = t0.fma(FloatVector.broadcast(F, f16(s, o)), a0);
      a1 = t1.fma(FloatVector.broadcast(F, f16(s, o + 18)), a1);
    }
    a0.add(a1).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  static final float[] SCALES = new float[256];

  /** Q4_0: the row's block scales converted first into a float array, then broadcast from memory in the main loop. */
  static float q4PreScale(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    float[] sc = SCALES;
    for (int blk = 0; blk < blocks; blk++) {
      sc[blk] = f16(s, base + 18L * blk);
    }
    FloatVector levels = FloatVector.fromArray(F, Q4_LEVELS, 0);
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 18L * blk;
      int xb = 32 * blk;
      IntVector t0 = levels.mul(sc[blk]).reinterpretAsInts();
      IntVector t1 = levels.mul(sc[blk + 1]).reinterpretAsInts();
      IntVector q0 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2I, I, 0);
      IntVector q1 = (IntVector) ByteVector.fromMemorySegment(B128, s, o + 20, LE).convertShape(VectorOperators.B2I, I, 0);
      a0 = q0.selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = q0.lanewise(VectorOperators.LSHR, 4).selectFrom(t0).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = q1.selectFrom(t1).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = q1.lanewise(VectorOperators.LSHR, 4).selectFrom(t1).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  /** Q8_0: the row's scales first, then broadcast from memory; four accumulators. */
  static float q8PreScale(MemorySegment s, long base, int cols, float[] x) {
    int blocks = cols / 32;
    float[] sc = SCALES;
    for (int blk = 0; blk < blocks; blk++) {
      sc[blk] = f16(s, base + 34L * blk);
    }
    FloatVector a0 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 34L * blk;
      int xb = 32 * blk;
      float d0 = sc[blk];
      float d1 = sc[blk + 1];
      a0 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 2, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(FloatVector.fromArray(F, x, xb), a0);
      b0 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 18, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d0).fma(FloatVector.fromArray(F, x, xb + 16), b0);
      a1 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 36, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(FloatVector.fromArray(F, x, xb + 32), a1);
      b1 = ((FloatVector) ByteVector.fromMemorySegment(B128, s, o + 52, LE).convertShape(VectorOperators.B2F, F, 0)).mul(d1).fma(FloatVector.fromArray(F, x, xb + 48), b1);
    }
    a0.add(b0).add(a1.add(b1)).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }

  static final short[] XQ = new short[5632];
  static final float[] XD = new float[5632 / 32];
  static final jdk.incubator.vector.VectorSpecies<Short> S512 = jdk.incubator.vector.ShortVector.SPECIES_512;

  /** Q8_0 against int8 activations held as shorts: int16 products, pairs summed into int32 lanes, one float fma per block. */
  static float q8Int(MemorySegment s, long base, int cols, short[] xq, float[] xd) {
    int blocks = cols / 32;
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    for (int blk = 0; blk < blocks; blk += 2) {
      long o = base + 34L * blk;
      jdk.incubator.vector.ShortVector w0 = (jdk.incubator.vector.ShortVector) ByteVector.fromMemorySegment(VectorWidth.B256, s, o + 2, LE).convertShape(VectorOperators.B2S, S512, 0);
      IntVector p0 = w0.mul(jdk.incubator.vector.ShortVector.fromArray(S512, xq, 32 * blk)).reinterpretAsInts();
      IntVector s0 = p0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p0.lanewise(VectorOperators.ASHR, 16));
      a0 = ((FloatVector) s0.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, f16(s, o) * xd[blk]), a0);
      jdk.incubator.vector.ShortVector w1 = (jdk.incubator.vector.ShortVector) ByteVector.fromMemorySegment(VectorWidth.B256, s, o + 36, LE).convertShape(VectorOperators.B2S, S512, 0);
      IntVector p1 = w1.mul(jdk.incubator.vector.ShortVector.fromArray(S512, xq, 32 * blk + 32)).reinterpretAsInts();
      IntVector s1 = p1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).add(p1.lanewise(VectorOperators.ASHR, 16));
      a1 = ((FloatVector) s1.convert(VectorOperators.I2F, 0)).fma(FloatVector.broadcast(F, f16(s, o + 34) * xd[blk + 1]), a1);
    }
    a0.add(a1).intoArray(LANES, 0);
    return VectorWidth.sum(LANES);
  }
}
