package dev.caravan.engine.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * Vector API kernels for every supported weight type: dequantize a block into float vectors, multiply-add them with
 * the float input vector (like llama3.java; rounded beforehand by the caller, see
 * {@link dev.caravan.engine.model.ActivationRounding}), one float accumulator pair per row and token.
 *
 * <h2>Summation order (what makes results deterministic)</h2>
 *
 * With {@code L} float lanes ({@link VectorWidth}), value {@code i} of a row is multiplied with {@code x[i]} by one
 * fused multiply-add into a lane, and accumulated as follows, for every type and every entry point:
 *
 * <ol>
 *   <li>For each whole 32-value chunk, in order: its values 0..15 go into accumulator A, 16..31 into accumulator B, as
 *       {@code 16/L} vectors each, in order (lane = value index mod L).
 *   <li>Then (F32/F16/BF16 rows only) each remaining whole L-vector goes into A.
 *   <li>{@code r = sum(A + B)}, a fixed pairwise tree over the lanes ({@link VectorWidth#sum(float[])}); never
 *       {@code reduceLanes}, whose order is unspecified and differs between interpreter and C2.
 *   <li>Then (F32/F16/BF16 only) each remaining value adds {@code w * x} to {@code r} in index order.
 * </ol>
 *
 * The kernels live in {@link VectorDots} (one token), {@link VectorDequant} (exact dequantization) and
 * {@link TileKernels} (the batched micro-kernels); this class holds the entry points and per-thread scratch.
 *
 * <p>The weight vectors are the exact dequantized values (the scalar twin's float operations; a fused {@code fma(q, d,
 * -8d)} would round the same value but turn the scalar's {@code -0.0} into {@code +0.0}), so {@link #dequantizeRow} is
 * exact and the batched path, which dequantizes rows into a per-thread float tile and runs an F32 micro-kernel over
 * several tokens, gives bit-identical per-token results.
 *
 * <h2>Code shape</h2>
 *
 * The species are static finals (C2 emits SIMD code only for constant species). Rules that keep C2 from boxing
 * vectors (which allocates and runs ~100x slower), each learnt from a measured failure:
 *
 * <ul>
 *   <li>Hot loops use only the JDK's vector methods, which are force-inlined, and no helper of ours that takes or
 *       returns a vector: once C2 has spent its node budget on a large method it stops inlining ordinary methods, and
 *       a vector crossing a call is boxed. For the same reason the final lane sum of the big kernels goes through a
 *       small per-thread float array.
 *   <li>No inner loops over the {@code 16/L} vectors of a unit: they are written out behind constant tests
 *       ({@code if (P >= 2)}, folded away by C2), because accumulator phis of a short inner loop got boxed.
 *   <li>Loop bodies stay small: C2 parses a body once, and one that fills its node budget (the 512-bit Q6_K half with
 *       all four kinds written out, 65,000 nodes) stops inlining the vector methods near its end, which then box on
 *       every call, on some compilations only. That kernel loops over pairs of kinds instead.
 *   <li>Nibbles are shifted on 32-bit lanes and masked (x86 has no byte shifts), and 16-byte halves are loaded
 *       separately rather than converting the upper half of a 32-byte vector (a byte permute and a blend).
 * </ul>
 *
 * Allocation-free operation is tested at the preferred width ({@code MatMulAllocationTest}). At forced narrower widths
 * ({@code -Dcaravan.vectorBits=256|128}) results are tested exact, but whether C2 keeps every vector in registers was
 * seen to depend on compilation timing (at 128 bits x86 also lacks some intrinsics for 64-bit short vectors), so an
 * occasional path may box there.
 *
 * <h2>Batched path</h2>
 *
 * {@link #dotRows} with several tokens dequantizes {@link #ROW_TILE} rows into a per-thread float tile and runs a
 * 4-row x 4-token F32 micro-kernel over L1-sized column blocks, one accumulator half (A or B) at a time; partial
 * accumulators are parked in a scratch array between blocks (an exact store and load), so each (row, token) result
 * receives the same fused multiply-adds in the same order as {@link #dot}. The tokens' activations are copied
 * off-heap with every row 64-byte aligned ({@link TileKernels} says why).
 */
public final class VectorKernels implements Kernels {

  /** Float vector width in bits, chosen once per JVM ({@link VectorWidth}). */
  static final int BITS = VectorWidth.BITS;

  /**
   * Whether one-token {@link #dotRows} runs four rows per kernel call where a four-row kernel exists
   * ({@code -Dcaravan.kernels.multiRow=true}; same results). Off by default: on AMD Zen 4 it is slower when the weights
   * stream from memory, as they do in decoding (see {@code VectorDots.dotQ8_0x4}). Read once.
   */
  static final boolean MULTI_ROW = Boolean.getBoolean("caravan.kernels.multiRow");

  /** Rows dequantized together by {@link #dotRows} before the token loop. */
  static final int ROW_TILE = 8;
  /** Tokens that share one pass over the dequantized rows. */
  static final int TOKEN_TILE = 4;
  /** Columns per block of the batched micro-kernel (a multiple of 32): 4 rows and 4 tokens of it fit in L1. */
  static final int COL_BLOCK = 512;
  /**
   * Tokens whose activations are copied into the aligned scratch at once: the rows are dequantized again for each such
   * chunk, and the copy stays at most {@code 4 * TOKEN_CHUNK * cols} bytes per thread.
   */
  static final int TOKEN_CHUNK = 128;
  /** Parked accumulators of one group of {@link #TOKEN_TILE} tokens: (ROW_TILE, TOKEN_TILE, 2, L) floats. */
  static final int ACC_PER_GROUP = ROW_TILE * TOKEN_TILE * 2 * VectorWidth.L;

  /**
   * Per-thread scratch: the lanes of a final sum, and for the batched path {@link #ROW_TILE} dequantized rows and up to
   * {@link #TOKEN_CHUNK} tokens' activations in off-heap memory, each token's row 64-byte aligned (grown on demand; see
   * {@link TileKernels} for why aligned).
   */
  private static final class Scratch {
    final float[] lanes = new float[16];
    final float[] k4 = new float[16]; // a Q4_K super-block's 8 scales (d * sc) then 8 mins (dmin * m)
    final byte[] q6 = new byte[64]; // two kinds' six-bit Q6_K quants, assembled before widening
    final float[] acc = new float[TOKEN_CHUNK / TOKEN_TILE * ACC_PER_GROUP]; // (groups, ROW_TILE, TOKEN_TILE, 2, L) parked accumulators
    float[] tile = new float[0]; // (ROW_TILE, cols)
    MemorySegment xs = MemorySegment.NULL; // (TOKEN_CHUNK, stride) floats: the tokens' activations

    /** Makes room for rows of {@code cols} values, and {@code tokens} token rows {@code stride} floats apart. */
    void fit(int cols, int stride, int tokens) {
      if (tile.length < ROW_TILE * cols) {
        tile = new float[ROW_TILE * cols];
      }
      long xBytes = 4L * tokens * stride;
      if (xs.byteSize() < xBytes) {
        xs = Arena.ofAuto().allocate(xBytes, 64);
      }
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /** Whether this JVM can run these kernels usefully: at least 128-bit float vectors. */
  static boolean usable() {
    return VectorWidth.usable();
  }

  @Override
  public String name() {
    return "vector-" + BITS + (MULTI_ROW ? " (four-row decode kernels)" : "");
  }

  // ---------------------------------------------------------------- single token

  @Override
  public float dot(WeightMatrix w, int row, float[] x, int xOff) {
    Objects.checkIndex(row, w.rows());
    Objects.checkFromIndexSize(xOff, w.cols(), x.length);
    return dotRow(w, row, x, xOff, SCRATCH.get());
  }

  /** Row {@code row} against {@code x[xOff ..]}; the caller has checked the bounds. */
  private static float dotRow(WeightMatrix w, int row, float[] x, int xOff, Scratch scratch) {
    float[] lanes = scratch.lanes;
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    int n = w.cols();
    return switch (w.type()) {
      case F32 -> VectorDots.dotF32(s, base, n, x, xOff, lanes);
      case F16 -> VectorDots.dotF16(s, base, n, x, xOff, lanes);
      case BF16 -> VectorDots.dotBF16(s, base, n, x, xOff, lanes);
      case Q8_0 -> VectorDots.dotQ8_0(s, base, n / 32, x, xOff, lanes);
      case Q4_0 -> VectorDots.dotQ4_0(s, base, n / 32, x, xOff, lanes);
      case Q4_K -> VectorDots.dotQ4_K(s, base, n / 256, x, xOff, lanes, scratch.k4);
      case Q6_K -> VectorDots.dotQ6_K(s, base, n / 256, x, xOff, lanes, scratch.q6);
      default -> throw new UnsupportedOperationException("no kernels for " + w.type() + " weights");
    };
  }

  /**
   * One token, rows four at a time for the types with a four-row kernel ({@code VectorDots.dot*x4}: each x vector
   * loaded once for four rows, eight independent accumulators, the same per-row operations and reduction, so the same
   * bits as {@link #dotRow}). Returns the first row not done (the remainder, or every row for other types).
   */
  private static int dotRows4(WeightMatrix w, int rowFrom, int rowTo, float[] x, int xOff, float[] out, int outOff, Scratch scratch) {
    MemorySegment s = w.data();
    long rowBytes = w.rowBytes();
    int n = w.cols();
    int r = rowFrom;
    switch (w.type()) {
      case Q8_0 -> {
        for (; r + 4 <= rowTo; r += 4) {
          VectorDots.dotQ8_0x4(s, w.rowOffset(r), rowBytes, n / 32, x, xOff, out, outOff + r, scratch.lanes);
        }
      }
      default -> {
      }
    }
    return r;
  }

  // ---------------------------------------------------------------- dequantize

  @Override
  public void dequantizeRow(WeightMatrix w, int row, float[] out, int outOff) {
    Objects.checkIndex(row, w.rows());
    int n = w.cols();
    Objects.checkFromIndexSize(outOff, n, out.length);
    MemorySegment s = w.data();
    long base = w.rowOffset(row);
    switch (w.type()) {
      case F32 -> MemorySegment.copy(s, LittleEndian.F32, base, out, outOff, n);
      case F16 -> VectorDequant.dequantizeF16(s, base, n, out, outOff);
      case BF16 -> VectorDequant.dequantizeBF16(s, base, n, out, outOff);
      case Q8_0 -> VectorDequant.dequantizeQ8_0(s, base, n / 32, out, outOff);
      case Q4_0 -> VectorDequant.dequantizeQ4_0(s, base, n / 32, out, outOff);
      case Q4_K -> VectorDequant.dequantizeQ4_K(s, base, n / 256, out, outOff, SCRATCH.get().k4);
      case Q6_K -> VectorDequant.dequantizeQ6_K(s, base, n / 256, out, outOff);
      default -> throw new UnsupportedOperationException("no kernels for " + w.type() + " weights");
    }
  }

  // ---------------------------------------------------------------- several tokens

  @Override
  public void dotTokens(WeightMatrix w, int row, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    // dotRows writes row r of token t at outOff' + t * outStride + r: shift so that row `row` lands on outOff
    dotRows(w, row, row + 1, x, xOff, xStride, nTokens, out, outOff - row, outStride);
  }

  /**
   * One token: the direct dot per row. Several: up to {@link #TOKEN_CHUNK} tokens' activations are copied into an
   * aligned per-thread scratch; then {@link #ROW_TILE} rows at a time are dequantized into a per-thread float tile,
   * and for each column block of {@link #COL_BLOCK} (whose slice of the tile stays in L1) and each group of
   * {@link #TOKEN_TILE} tokens an F32 micro-kernel runs 4 rows x 4 tokens, one accumulator half at a time.
   * Each (row, token) accumulator receives exactly the fused multiply-adds of {@link #dot}, in the same order
   * (accumulators are parked in a scratch array between blocks, which is exact), so every result is bit-identical.
   * Leftover tokens use the one-token F32 dot ({@link VectorActivationMath#dot}, the same order) over the tile.
   */
  @Override
  public void dotRows(WeightMatrix w, int rowFrom, int rowTo, float[] x, int xOff, int xStride, int nTokens, float[] out, int outOff, int outStride) {
    Objects.checkFromToIndex(rowFrom, rowTo, w.rows());
    int n = w.cols();
    if (nTokens <= 0 || rowFrom == rowTo) {
      return;
    }
    Objects.checkFromIndexSize(xOff, n, x.length);
    Objects.checkFromIndexSize(xOff + (nTokens - 1) * xStride, n, x.length);
    Objects.checkIndex(outOff + rowFrom, out.length);
    Objects.checkIndex(outOff + (nTokens - 1) * outStride + rowTo - 1, out.length);
    Scratch scratch = SCRATCH.get();
    float[] lanes = scratch.lanes;
    if (nTokens == 1) {
      int r = rowFrom;
      if (MULTI_ROW) {
        r = dotRows4(w, rowFrom, rowTo, x, xOff, out, outOff, scratch);
      }
      for (; r < rowTo; r++) {
        out[outOff + r] = dotRow(w, r, x, xOff, scratch);
      }
      return;
    }
    int stride = (n + 15) & ~15; // floats from one token's row of xs to the next: every row 64-byte aligned
    scratch.fit(n, stride, Math.min(nTokens, TOKEN_CHUNK));
    float[] tile = scratch.tile; // (ROW_TILE, cols) dequantized rows
    MemorySegment xs = scratch.xs; // (TOKEN_CHUNK, stride) the chunk's activations
    float[] acc = scratch.acc; // (groups of TOKEN_TILE tokens, ROW_TILE, TOKEN_TILE, 2, L) parked accumulators
    int lanesPerAcc = VectorWidth.L;
    int whole = n / 32 * 32; // the 32-value chunks; F32-type rows may have a remainder
    for (int tc = 0; tc < nTokens; tc += TOKEN_CHUNK) {
      int m = Math.min(TOKEN_CHUNK, nTokens - tc); // tokens tc .. tc + m of x, as rows 0 .. m of xs
      for (int k = 0; k < m; k++) {
        MemorySegment.copy(x, xOff + (tc + k) * xStride, xs, LittleEndian.F32, 4L * k * stride, n);
      }
      for (int r0 = rowFrom; r0 < rowTo; r0 += ROW_TILE) {
        int rows = Math.min(ROW_TILE, rowTo - r0);
        for (int r = 0; r < rows; r++) {
          dequantizeRow(w, r0 + r, tile, r * n);
        }
        // column blocks outermost, so that the tile's slice of a block stays in L1 for every group of tokens; in each
        // block and group, accumulator half A (values 0..15 of every chunk), then half B (16..31)
        int groups = m / TOKEN_TILE;
        Arrays.fill(acc, 0, groups * ACC_PER_GROUP, 0f);
        for (int c0 = 0; c0 < whole; c0 += COL_BLOCK) {
          int c1 = Math.min(c0 + COL_BLOCK, whole);
          for (int g = 0; g < groups; g++) {
            int xt = g * TOKEN_TILE * stride;
            int ao = g * ACC_PER_GROUP;
            for (int half = 0; half < 2; half++) {
              int r = 0;
              for (; r + 4 <= rows; r += 4) {
                TileKernels.micro4x4(tile, r * n, n, xs, xt, stride, c0, c1, half, acc, ao, r);
              }
              for (; r < rows; r++) {
                TileKernels.micro1x4(tile, r * n, xs, xt, stride, c0, c1, half, acc, ao, r);
              }
            }
          }
        }
        // remainder vectors into A, the lane sums, the scalar tails
        for (int g = 0; g < groups; g++) {
          int t = g * TOKEN_TILE;
          for (int r = 0; r < rows; r++) {
            for (int k = 0; k < TOKEN_TILE; k++) {
              out[outOff + (tc + t + k) * outStride + r0 + r] = TileKernels.finish(tile, r * n, n, whole, xs, (t + k) * stride, acc, g * ACC_PER_GROUP + (r * TOKEN_TILE + k) * 2 * lanesPerAcc, lanes);
            }
          }
        }
        int t = groups * TOKEN_TILE;
        // leftover tokens: the one-token F32 dot over the tile row (the same order)
        for (; t < m; t++) {
          for (int r = 0; r < rows; r++) {
            out[outOff + (tc + t) * outStride + r0 + r] = VectorActivationMath.dot(tile, r * n, x, xOff + (tc + t) * xStride, n);
          }
        }
      }
    }
  }
}
