package dev.caravan.engine.tensor;

/**
 * The ggml tensor types a GGUF file can name, with ggml's ids and block layouts. Every type is known so that a file
 * using one we cannot compute with fails with its name; {@link #supported()} says which ones have kernels.
 *
 * <p>A block holds {@link #blockSize()} values in {@link #typeSize()} bytes; a row of {@code n} values takes
 * {@code n / blockSize * typeSize} bytes and {@code n} must be a multiple of the block size.
 */
public enum GgmlType {
  F32(0, 1, 4, true),
  F16(1, 1, 2, true),
  Q4_0(2, 32, 18, true),
  Q4_1(3, 32, 20, false),
  Q5_0(6, 32, 22, false),
  Q5_1(7, 32, 24, false),
  Q8_0(8, 32, 34, true),
  Q8_1(9, 32, 36, false),
  Q2_K(10, 256, 84, false),
  Q3_K(11, 256, 110, false),
  Q4_K(12, 256, 144, true),
  Q5_K(13, 256, 176, false),
  Q6_K(14, 256, 210, true),
  Q8_K(15, 256, 292, false),
  IQ2_XXS(16, 256, 66, false),
  IQ2_XS(17, 256, 74, false),
  IQ3_XXS(18, 256, 98, false),
  IQ1_S(19, 256, 50, false),
  IQ4_NL(20, 32, 18, false),
  IQ3_S(21, 256, 110, false),
  IQ2_S(22, 256, 82, false),
  IQ4_XS(23, 256, 136, false),
  I8(24, 1, 1, false),
  I16(25, 1, 2, false),
  I32(26, 1, 4, false),
  I64(27, 1, 8, false),
  F64(28, 1, 8, false),
  IQ1_M(29, 256, 56, false),
  BF16(30, 1, 2, true),
  TQ1_0(34, 256, 54, false),
  TQ2_0(35, 256, 66, false),
  MXFP4(39, 32, 17, false);

  private static final GgmlType[] BY_ID = new GgmlType[64];

  static {
    for (GgmlType t : values()) {
      BY_ID[t.id] = t;
    }
  }

  private final int id;
  private final int blockSize;
  private final int typeSize;
  private final boolean supported;

  GgmlType(int id, int blockSize, int typeSize, boolean supported) {
    this.id = id;
    this.blockSize = blockSize;
    this.typeSize = typeSize;
    this.supported = supported;
  }

  /** ggml's numeric id, as stored in GGUF tensor infos. */
  public int id() {
    return id;
  }

  /** Values per block. */
  public int blockSize() {
    return blockSize;
  }

  /** Bytes per block. */
  public int typeSize() {
    return typeSize;
  }

  /** Whether Caravan has kernels for this type. */
  public boolean supported() {
    return supported;
  }

  /** Bytes taken by {@code n} values; {@code n} must be a multiple of the block size. */
  public long byteSize(long n) {
    if (n % blockSize != 0) {
      throw new IllegalArgumentException(n + " values is not a whole number of " + this + " blocks of " + blockSize);
    }
    return Math.multiplyExact(n / blockSize, (long) typeSize);
  }

  /** The type with ggml id {@code id}, or null when ggml has no such type (or no longer has it). */
  public static GgmlType byId(long id) {
    return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
  }
}
