package dev.caravan.engine.tensor;

import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector shapes used by every Vector API kernel in this JVM, and the fixed-order lane reduction they share.
 *
 * <p>The width is the preferred species (at most 512 bits) or {@code -Dcaravan.vectorBits=512|256|128}. Species must be
 * compile-time constants for C2 to emit SIMD code, so they are static finals here rather than fields.
 */
final class VectorWidth {
  /** Float vector width in bits. */
  static final int BITS = chooseBits();
  static final VectorSpecies<Float> F = VectorSpecies.of(float.class, VectorShape.forBitSize(BITS));
  /** Float lanes per vector. */
  static final int L = F.length();
  /** Float vectors per 16-value unit of a quantized block (1, 2 or 4). */
  static final int P = 16 / L;
  /** Ints with the float lane count. */
  static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(BITS));
  /** Shorts with the float lane count (half the bits). */
  static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(BITS / 2));
  /** 16 bytes: the unit the quantized kernels load and widen to floats. */
  static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
  /** 32 bytes: a whole 32-value block at once, where splitting it into parts costs nothing extra (stores). */
  static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
  /** GGUF byte order. */
  static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  // rotations for the fixed pairwise lane reduction
  static final VectorShuffle<Float> ROT8 = VectorShuffle.iota(F, 8 % L, 1, true);
  static final VectorShuffle<Float> ROT4 = VectorShuffle.iota(F, 4 % L, 1, true);
  static final VectorShuffle<Float> ROT2 = VectorShuffle.iota(F, 2, 1, true);
  static final VectorShuffle<Float> ROT1 = VectorShuffle.iota(F, 1, 1, true);

  private VectorWidth() {}

  private static int chooseBits() {
    int preferred = FloatVector.SPECIES_PREFERRED.vectorBitSize();
    String prop = System.getProperty("caravan.vectorBits");
    int bits = prop == null || prop.isBlank() ? Math.min(preferred, 512) : Integer.parseInt(prop.trim());
    if (bits != 128 && bits != 256 && bits != 512) {
      throw new IllegalArgumentException("caravan.vectorBits must be 128, 256 or 512, not " + prop);
    }
    if (bits > preferred) {
      throw new IllegalArgumentException("caravan.vectorBits=" + bits + " exceeds this CPU's preferred " + preferred + "-bit vectors");
    }
    return bits;
  }

  /** Whether this CPU has at least 128-bit float vectors. */
  static boolean usable() {
    return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 128;
  }

  /**
   * The sum of the lanes in a fixed pairwise tree: lane i adds lane i + L/2, then i + L/4, ..., and the result is
   * lane 0. Unlike {@code reduceLanes(ADD)}, whose order is unspecified (and differs between the interpreter and C2),
   * this gives the same bits everywhere.
   */
  static float sum(FloatVector v) {
    if (L >= 16) {
      v = v.add(v.rearrange(ROT8));
    }
    if (L >= 8) {
      v = v.add(v.rearrange(ROT4));
    }
    v = v.add(v.rearrange(ROT2));
    v = v.add(v.rearrange(ROT1));
    return v.lane(0);
  }

  /**
   * The same fixed pairwise sum over the first L values of {@code lanes} (which it overwrites): lanes[i] += lanes[i +
   * L/2], then i + L/4, ... The big kernels store their accumulator here and call this instead of {@link
   * #sum(FloatVector)}: a method of ours taking a vector may fail to inline once C2's node budget for a large method is
   * spent, and the vector would then be boxed on every call.
   */
  static float sum(float[] lanes) {
    for (int w = L / 2; w >= 1; w >>= 1) {
      for (int i = 0; i < w; i++) {
        lanes[i] += lanes[i + w];
      }
    }
    return lanes[0];
  }
}
