package dev.caravan.synth;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The hyper-parameters of a LLaMA model for {@link ModelSynth}, with the named shapes of well-known models.
 *
 * @param name short name, e.g. {@code tinyllama-1.1b}
 * @param dim embedding length (residual stream width)
 * @param layers number of transformer blocks
 * @param heads query heads; {@code dim} must be a multiple of it
 * @param kvHeads key/value heads (grouped-query attention when fewer than {@code heads})
 * @param ffn feed-forward (SwiGLU) hidden size
 * @param vocab vocabulary size
 * @param context training context length ({@code llama.context_length})
 * @param ropeBase RoPE frequency base
 * @param rmsEps RMSNorm epsilon
 * @param tiedOutput true when there is no {@code output.weight} (the output projection reuses {@code token_embd})
 * @param ropeScaling Llama 3.1-style frequency scaling written as {@code rope_freqs.weight}, or null
 * @param std standard deviation of the block weights
 * @param embdStd standard deviation of {@code token_embd.weight}
 * @param outputStd standard deviation of {@code output.weight}
 */
public record Shape(
    String name,
    int dim,
    int layers,
    int heads,
    int kvHeads,
    int ffn,
    int vocab,
    int context,
    float ropeBase,
    float rmsEps,
    boolean tiedOutput,
    RopeScaling ropeScaling,
    float std,
    float embdStd,
    float outputStd) {

  /**
   * Llama 3.1 RoPE scaling parameters ({@code rope_scaling} of type {@code llama3} in Hugging Face configs).
   *
   * @param factor scale applied to the lowest frequencies
   * @param lowFreqFactor wavelengths above {@code originalContext / lowFreqFactor} get the full factor
   * @param highFreqFactor wavelengths below {@code originalContext / highFreqFactor} are left alone
   * @param originalContext the pre-training context length
   */
  public record RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalContext) {}

  private static final Map<String, Shape> NAMED = new LinkedHashMap<>();

  static {
    // tiny: tiny256's attention geometry, FFN 512 so the F32 file stays under 6 MB; rows of 256 fit every block size
    add(llama("tiny", 256, 2, 4, 2, 512, 512, 512, 10000f, false, null));
    add(llama("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000f, false, null));
    add(llama("llama2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000f, false, null));
    add(llama("llama3.2-1b", 2048, 16, 32, 8, 8192, 128256, 131072, 500000f, true, new RopeScaling(32f, 1f, 4f, 8192)));
  }

  public Shape {
    Objects.requireNonNull(name, "name");
    if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ffn <= 0 || vocab <= 0 || context <= 0) {
      throw new IllegalArgumentException("shape " + name + ": every size must be positive");
    }
    if (dim % heads != 0) {
      throw new IllegalArgumentException("shape " + name + ": dim " + dim + " is not a multiple of " + heads + " heads");
    }
    if (heads % kvHeads != 0) {
      throw new IllegalArgumentException("shape " + name + ": " + heads + " heads is not a multiple of " + kvHeads + " KV heads");
    }
    if ((dim / heads) % 2 != 0) {
      throw new IllegalArgumentException("shape " + name + ": head size " + dim / heads + " is odd; RoPE rotates pairs");
    }
  }

  /** A LLaMA shape with the default weight scales: std 0.02, output std 4 / sqrt(dim) (logits of rms ~4). */
  private static Shape llama(String name, int dim, int layers, int heads, int kvHeads, int ffn, int vocab, int ctx, float ropeBase, boolean tied, RopeScaling scaling) {
    float outStd = (float) (4 / Math.sqrt(dim));
    // a tied model's embedding is also its output projection: give it the output's scale
    return new Shape(name, dim, layers, heads, kvHeads, ffn, vocab, ctx, ropeBase, 1e-5f, tied, scaling, 0.02f, tied ? outStd : 0.02f, outStd);
  }

  private static void add(Shape s) {
    NAMED.put(s.name(), s);
  }

  /** The named shapes, in a stable order. */
  public static List<String> names() {
    return List.copyOf(NAMED.keySet());
  }

  /**
   * The shape called {@code name}.
   *
   * @throws IllegalArgumentException for an unknown name, listing the known ones
   */
  public static Shape named(String name) {
    Shape s = NAMED.get(name);
    if (s == null) {
      throw new IllegalArgumentException("unknown model shape '" + name + "'; known shapes: " + String.join(", ", NAMED.keySet()));
    }
    return s;
  }

  /** This shape with another vocabulary size (e.g. to fit a supplied vocabulary). */
  public Shape withVocab(int vocabSize) {
    return new Shape(name, dim, layers, heads, kvHeads, ffn, vocabSize, context, ropeBase, rmsEps, tiedOutput, ropeScaling, std, embdStd, outputStd);
  }

  /** Size of one attention head. */
  public int headDim() {
    return dim / heads;
  }

  /** Width of the K and V projections. */
  public int kvDim() {
    return kvHeads * headDim();
  }

  /** Number of weights, norms included (the count model cards quote). */
  public long parameterCount() {
    long perLayer = 2L * dim // attn_norm, ffn_norm
        + 2L * dim * dim // attn_q, attn_output
        + 2L * dim * kvDim() // attn_k, attn_v
        + 3L * dim * ffn; // ffn_gate, ffn_up, ffn_down
    return (long) vocab * dim * (tiedOutput ? 1 : 2) + layers * perLayer + dim;
  }
}
