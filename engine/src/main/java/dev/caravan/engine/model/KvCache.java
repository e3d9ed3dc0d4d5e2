package dev.caravan.engine.model;

/**
 * The key/value cache of one sequence for the layers of one stage, in F32, grown in KV blocks of
 * {@link #BLOCK_TOKENS} positions so a short sequence holds little memory however long the context may grow.
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

  private final int layers;
  private final int kvDim;
  private final int capacity;
  private final float[][][] keys; // (layers, blocks, BLOCK_TOKENS * kvDim)
  private final float[][][] values; // (layers, blocks, BLOCK_TOKENS * kvDim)
  private int blocks;
  private int length;

  /**
   * @param layers   layers of the stage
   * @param kvDim    values per position per layer (kvHeads * headDim)
   * @param capacity most positions this sequence may hold (the context length)
   */
  public KvCache(int layers, int kvDim, int capacity) {
    if (layers <= 0 || kvDim <= 0 || capacity <= 0) {
      throw new IllegalArgumentException("bad KV cache shape " + layers + "x" + kvDim + "x" + capacity);
    }
    this.layers = layers;
    this.kvDim = kvDim;
    this.capacity = capacity;
    int maxBlocks = (capacity + BLOCK_TOKENS - 1) / BLOCK_TOKENS;
    this.keys = new float[layers][maxBlocks][];
    this.values = new float[layers][maxBlocks][];
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

  /** Allocated KV blocks (per layer). */
  public int blocks() {
    return blocks;
  }

  /** Bytes held by allocated blocks. */
  public long bytes() {
    return 2L * layers * blocks * BLOCK_TOKENS * kvDim * Float.BYTES;
  }

  /** Makes room for positions [0, positions). */
  void reserve(int positions) {
    if (positions > capacity) {
      throw new IllegalArgumentException("sequence would grow to " + positions + " positions, past its KV capacity of " + capacity);
    }
    int need = (positions + BLOCK_TOKENS - 1) / BLOCK_TOKENS;
    for (; blocks < need; blocks++) {
      for (int l = 0; l < layers; l++) {
        keys[l][blocks] = new float[BLOCK_TOKENS * kvDim];
        values[l][blocks] = new float[BLOCK_TOKENS * kvDim];
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
        keys[l][blocks - 1] = null;
        values[l][blocks - 1] = null;
      }
    }
  }

  /** The block holding position {@code pos} of layer {@code layer} (index within the stage). */
  float[] keyBlock(int layer, int pos) {
    return keys[layer][pos / BLOCK_TOKENS];
  }

  float[] valueBlock(int layer, int pos) {
    return values[layer][pos / BLOCK_TOKENS];
  }

  /** Offset of position {@code pos} inside its block. */
  int offsetInBlock(int pos) {
    return (pos % BLOCK_TOKENS) * kvDim;
  }
}
