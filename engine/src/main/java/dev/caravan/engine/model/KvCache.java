package dev.caravan.engine.model;

import dev.caravan.engine.tensor.ActivationMath;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The key/value cache of one sequence for the layers of one stage, grown in KV blocks of {@link #BLOCK_TOKENS}
 * positions so a short sequence holds little memory however long the context may grow.
 *
 * <p>Two element types ({@link Type}): F32, exact (the default, and what the llama.cpp oracle tests use), or F16
 * (half the memory, llama.cpp's own default): keys and values are rounded to F16 when stored and widened exactly when
 * read. {@code -Dcaravan.kvType=f16} makes {@link Type#DEFAULT} F16 for every cache of the JVM. Every stage and batch of
 * one deployment uses the same type, so results stay identical across plans and batches.
 *
 * <p>Position {@code t} of layer {@code l} lives at {@code keys[l][t / BLOCK_TOKENS][(t % BLOCK_TOKENS) * kvDim ..]};
 * within a position, the values of KV head {@code h} start at {@code h * headDim}.
 *
 * <p>{@link #length()} positions are filled. A forward pass appends a sequence's tokens at positions {@code length,
 * length + 1, ...}; {@link #truncate} rewinds (e.g. to reuse a shared prefix of a follow-up turn).
 */
public final class KvCache {
  /** Positions per KV block. */
  public static final int BLOCK_TOKENS = 64;

  /** The element type of a cache. */
  public enum Type {
    F32(Float.BYTES),
    F16(Short.BYTES);

    /** The JVM's default: {@code -Dcaravan.kvType=f32|f16}, F32 when unset; chosen and logged once. */
    public static final Type DEFAULT = chooseDefault();

    private final int bytes;

    Type(int bytes) {
      this.bytes = bytes;
    }

    /** Bytes per stored value. */
    public int bytes() {
      return bytes;
    }

    /** "f32" or "f16" (case-insensitive). */
    public static Type parse(String s) {
      return switch (s.trim().toLowerCase(Locale.ROOT)) {
        case "f32" -> F32;
        case "f16" -> F16;
        default -> throw new IllegalArgumentException("KV cache type must be f32 or f16, not " + s);
      };
    }

    private static Type chooseDefault() {
      Type t = parse(System.getProperty("caravan.kvType", "f32"));
      LoggerFactory.getLogger(KvCache.class).info("KV cache: {}", t == F32 ? "F32 (exact; -Dcaravan.kvType=f16 halves it)" : "F16 (caravan.kvType=f16)");
      return t;
    }
  }

  private final int layers;
  private final int kvDim;
  private final int capacity;
  private final Type type;
  private final float[][][] keys; // F32: (layers, blocks, BLOCK_TOKENS * kvDim)
  private final float[][][] values;
  private final short[][][] keysH; // F16 bits: (layers, blocks, BLOCK_TOKENS * kvDim)
  private final short[][][] valuesH;
  private int blocks;
  private int length;

  /** A cache of the JVM's default type ({@link Type#DEFAULT}). */
  public KvCache(int layers, int kvDim, int capacity) {
    this(layers, kvDim, capacity, Type.DEFAULT);
  }

  /**
   * @param layers   layers of the stage
   * @param kvDim    values per position per layer (kvHeads * headDim)
   * @param capacity most positions this sequence may hold (the context length)
   * @param type     element type
   */
  public KvCache(int layers, int kvDim, int capacity, Type type) {
    if (layers <= 0 || kvDim <= 0 || capacity <= 0) {
      throw new IllegalArgumentException("bad KV cache shape " + layers + "x" + kvDim + "x" + capacity);
    }
    this.layers = layers;
    this.kvDim = kvDim;
    this.capacity = capacity;
    this.type = java.util.Objects.requireNonNull(type, "type");
    int maxBlocks = (capacity + BLOCK_TOKENS - 1) / BLOCK_TOKENS;
    boolean half = type == Type.F16;
    this.keys = half ? null : new float[layers][maxBlocks][];
    this.values = half ? null : new float[layers][maxBlocks][];
    this.keysH = half ? new short[layers][maxBlocks][] : null;
    this.valuesH = half ? new short[layers][maxBlocks][] : null;
  }

  /** Filled positions. */
  public int length() {
    return length;
  }

  public int capacity() {
    return capacity;
  }

  public int layers() {
    return layers;
  }

  public int kvDim() {
    return kvDim;
  }

  public Type type() {
    return type;
  }

  /** Allocated KV blocks (per layer). */
  public int blocks() {
    return blocks;
  }

  /** Bytes one more KV block (in every layer, keys and values) takes. */
  public long blockBytes() {
    return 2L * layers * BLOCK_TOKENS * kvDim * type.bytes();
  }

  /** Bytes held by allocated blocks. */
  public long bytes() {
    return blocks * blockBytes();
  }

  /** Makes room for positions [0, positions). */
  void reserve(int positions) {
    if (positions > capacity) {
      throw new IllegalArgumentException("sequence would grow to " + positions + " positions, past its KV capacity of " + capacity);
    }
    int need = (positions + BLOCK_TOKENS - 1) / BLOCK_TOKENS;
    for (; blocks < need; blocks++) {
      for (int l = 0; l < layers; l++) {
        if (type == Type.F16) {
          keysH[l][blocks] = new short[BLOCK_TOKENS * kvDim];
          valuesH[l][blocks] = new short[BLOCK_TOKENS * kvDim];
        } else {
          keys[l][blocks] = new float[BLOCK_TOKENS * kvDim];
          values[l][blocks] = new float[BLOCK_TOKENS * kvDim];
        }
      }
    }
  }

  /** Marks positions [0, newLength) as filled; called once a forward pass has written them in every layer. */
  void setLength(int newLength) {
    this.length = newLength;
  }

  /** Forgets positions from {@code newLength} on; their blocks stay allocated for reuse. */
  public void truncate(int newLength) {
    if (newLength < 0 || newLength > length) {
      throw new IllegalArgumentException("cannot truncate a KV cache of " + length + " positions to " + newLength);
    }
    length = newLength;
  }

  /** Releases the blocks past what {@link #length()} needs. */
  public void trim() {
    int need = (length + BLOCK_TOKENS - 1) / BLOCK_TOKENS;
    for (; blocks > need; blocks--) {
      for (int l = 0; l < layers; l++) {
        if (type == Type.F16) {
          keysH[l][blocks - 1] = null;
          valuesH[l][blocks - 1] = null;
        } else {
          keys[l][blocks - 1] = null;
          values[l][blocks - 1] = null;
        }
      }
    }
  }

  /** Stores the kvDim key and value values of position {@code pos} of layer {@code layer} (rounded to F16 for an F16 cache). */
  void store(int layer, int pos, float[] k, int kOff, float[] v, int vOff) {
    int b = pos / BLOCK_TOKENS;
    int o = offsetInBlock(pos);
    if (type == Type.F16) {
      ActivationMath.toF16(k, kOff, keysH[layer][b], o, kvDim);
      ActivationMath.toF16(v, vOff, valuesH[layer][b], o, kvDim);
    } else {
      System.arraycopy(k, kOff, keys[layer][b], o, kvDim);
      System.arraycopy(v, vOff, values[layer][b], o, kvDim);
    }
  }

  /** {@code q[qOff ..+n] . key[pos][headOff ..+n]} of layer {@code layer} ({@link ActivationMath#dot} order). */
  float dotKey(int layer, int pos, int headOff, float[] q, int qOff, int n) {
    int b = pos / BLOCK_TOKENS;
    int o = offsetInBlock(pos) + headOff;
    return type == Type.F16 ? ActivationMath.dotF16(keysH[layer][b], o, q, qOff, n) : ActivationMath.dotF32(keys[layer][b], o, q, qOff, n);
  }

  /** {@code out[outOff ..+n] += a * value[pos][headOff ..+n]} of layer {@code layer} ({@link ActivationMath#axpy}). */
  void axpyValue(float a, int layer, int pos, int headOff, float[] out, int outOff, int n) {
    int b = pos / BLOCK_TOKENS;
    int o = offsetInBlock(pos) + headOff;
    if (type == Type.F16) {
      ActivationMath.axpyF16(a, valuesH[layer][b], o, out, outOff, n);
    } else {
      ActivationMath.axpy(a, values[layer][b], o, out, outOff, n);
    }
  }

  /** Offset of position {@code pos} inside its block. */
  int offsetInBlock(int pos) {
    return (pos % BLOCK_TOKENS) * kvDim;
  }
}
