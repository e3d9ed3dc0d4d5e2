package dev.caravan.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/**
 * Seeded random weight matrices in native memory, like a mapped GGUF tensor: quantized blocks are random bytes whose
 * fp16 scales are replaced by finite, small values (so every block is a valid ggml block); F32/F16/BF16 rows hold
 * Gaussian values of standard deviation 0.05.
 */
public final class TestWeights {
  private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private TestWeights() {}

  /** A {@code rows x cols} matrix of type {@code t} allocated in {@code arena}. */
  public static WeightMatrix random(GgmlType t, int rows, int cols, long seed, Arena arena) {
    SplittableRandom rnd = new SplittableRandom(seed);
    long rowBytes = t.byteSize(cols);
    MemorySegment s = arena.allocate(rowBytes * rows, 64);
    long total = rowBytes * rows;
    switch (t) {
      case F32 -> {
        for (long i = 0; i < total / 4; i++) {
          s.set(F32, 4 * i, (float) (rnd.nextGaussian() * 0.05));
        }
      }
      case F16 -> {
        for (long i = 0; i < total / 2; i++) {
          s.set(I16, 2 * i, Float.floatToFloat16((float) (rnd.nextGaussian() * 0.05)));
        }
      }
      case BF16 -> {
        for (long i = 0; i < total / 2; i++) {
          s.set(I16, 2 * i, (short) (Float.floatToRawIntBits((float) (rnd.nextGaussian() * 0.05)) >>> 16));
        }
      }
      default -> {
        // random bytes, then sane scales at the type's scale offsets
        for (long i = 0; i < total; i++) {
          s.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
        }
        int[] scaleOffsets = switch (t) {
          case Q8_0, Q4_0 -> new int[] {0};
          case Q4_K -> new int[] {0, 2};
          case Q6_K -> new int[] {208};
          default -> throw new IllegalArgumentException("no random blocks for " + t);
        };
        for (long b = 0; b < total / t.typeSize(); b++) {
          for (int off : scaleOffsets) {
            s.set(I16, b * t.typeSize() + off, smallScale(rnd, t));
          }
        }
      }
    }
    return new WeightMatrix("random-" + t, t, s.asReadOnly(), rows, cols);
  }

  /** A finite fp16 scale of magnitude 2^-14 .. 2^-5 (K-quant super-scales: 2^-16 .. 2^-9), either sign for Q4_0. */
  private static short smallScale(SplittableRandom rnd, GgmlType t) {
    double mag = switch (t) {
      case Q4_K, Q6_K -> Math.pow(2, -16 + 7 * rnd.nextDouble());
      default -> Math.pow(2, -14 + 9 * rnd.nextDouble());
    };
    double sign = t == GgmlType.Q4_0 && rnd.nextBoolean() ? -1 : 1;
    return Float.floatToFloat16((float) (sign * mag));
  }

  /** {@code n} Gaussian activations (standard deviation 1), seeded. */
  public static float[] activations(int n, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) rnd.nextGaussian();
    }
    return x;
  }
}
