package dev.caravan.engine.model;

import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufMetadata;
import java.io.IOException;
import java.util.Optional;
import java.util.Set;

/**
 * The hyper-parameters of a LLaMA-family model, read from the GGUF's {@code llama.*} metadata with llama.cpp's
 * defaults. Covers Llama 1/2/3.x, TinyLlama, Mistral 7B and their fine-tunes (all use architecture {@code llama}).
 *
 * @param name         {@code general.name}, or the file name
 * @param dim          embedding length (hidden size)
 * @param layers       number of transformer blocks
 * @param heads        query heads
 * @param kvHeads      key/value heads (grouped-query attention when fewer than {@code heads})
 * @param headDim      values per head ({@code dim / heads})
 * @param ropeDim      leading values of each head that RoPE rotates
 * @param ffnDim       feed-forward hidden size
 * @param vocabSize    vocabulary size (rows of the token embedding)
 * @param contextLength the context length the model was trained for
 * @param rmsEps       RMSNorm epsilon
 * @param ropeBase     RoPE frequency base
 * @param ropeFreqScale RoPE linear scaling (1 / {@code rope.scaling.factor} for linear scaling, else 1)
 */
public record LlamaConfig(
    String name,
    int dim,
    int layers,
    int heads,
    int kvHeads,
    int headDim,
    int ropeDim,
    int ffnDim,
    int vocabSize,
    int contextLength,
    float rmsEps,
    float ropeBase,
    float ropeFreqScale) {

  /** Architectures that are LLaMA under another name in some converters. */
  private static final Set<String> ARCHITECTURES = Set.of("llama");

  public LlamaConfig {
    if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ffnDim <= 0 || vocabSize <= 0 || contextLength <= 0) {
      throw new IllegalArgumentException("model dimensions must be positive");
    }
    if (dim % heads != 0 || headDim != dim / heads) {
      throw new IllegalArgumentException("embedding length " + dim + " is not heads (" + heads + ") x head size (" + headDim + ")");
    }
    if (heads % kvHeads != 0) {
      throw new IllegalArgumentException(heads + " query heads cannot share " + kvHeads + " key/value heads evenly");
    }
    if (ropeDim <= 0 || ropeDim > headDim || ropeDim % 2 != 0) {
      throw new IllegalArgumentException("rope dimension " + ropeDim + " must be even and at most the head size " + headDim);
    }
  }

  /** Values per token in the key (and value) cache of one layer. */
  public int kvDim() {
    return kvHeads * headDim;
  }

  /** Query heads per key/value head. */
  public int groupSize() {
    return heads / kvHeads;
  }

  public static LlamaConfig from(GgufFile file) throws IOException {
    GgufMetadata m = file.metadata();
    String arch = m.string("general.architecture").orElseThrow(() -> new GgufFormatException(file.path(), "has no general.architecture: not a model file (a vocabulary-only GGUF?)"));
    if (!ARCHITECTURES.contains(arch)) {
      throw new UnsupportedModelException(file.path() + ": architecture '" + arch + "' is not supported; Caravan runs LLaMA-family models (general.architecture = llama: Llama 1/2/3.x, TinyLlama, Mistral, Vicuna, Alpaca, ...)");
    }
    String p = arch + ".";
    int dim = m.requireInt(p + "embedding_length", 1, 1 << 16);
    int layers = m.requireInt(p + "block_count", 1, 1024);
    int heads = m.requireInt(p + "attention.head_count", 1, 1024);
    int kvHeads = m.intInRange(p + "attention.head_count_kv", 1, 1024).orElse(heads);
    int ffn = m.requireInt(p + "feed_forward_length", 1, 1 << 20);
    int ctx = m.intInRange(p + "context_length", 1, 1 << 24).orElse(2048);
    if (dim % heads != 0) {
      throw new GgufFormatException(file.path(), "embedding length " + dim + " is not a multiple of the head count " + heads);
    }
    int headDim = dim / heads;
    Optional<Integer> keyLength = m.intInRange(p + "attention.key_length", 1, 1 << 16);
    Optional<Integer> valueLength = m.intInRange(p + "attention.value_length", 1, 1 << 16);
    if (keyLength.isPresent() && keyLength.get() != headDim || valueLength.isPresent() && valueLength.get() != headDim) {
      throw new UnsupportedModelException(file.path() + ": attention key/value length " + keyLength.orElse(headDim) + "/" + valueLength.orElse(headDim) + " differs from the head size " + headDim + "; Caravan supports standard LLaMA heads only");
    }
    int ropeDim = m.intInRange(p + "rope.dimension_count", 2, 1 << 16).orElse(headDim);
    float eps = m.float32(p + "attention.layer_norm_rms_epsilon").orElse(1e-5f);
    float base = m.float32(p + "rope.freq_base").orElse(10000f);
    float freqScale = 1f;
    String scaling = m.string(p + "rope.scaling.type").orElse("none");
    switch (scaling) {
      case "none" -> {}
      case "linear" -> {
        float factor = m.float32(p + "rope.scaling.factor").orElse(1f);
        if (!(factor > 0)) {
          throw new GgufFormatException(file.path(), p + "rope.scaling.factor = " + factor + " must be positive");
        }
        freqScale = 1f / factor;
      }
      case "llama3" -> {} // applied through the rope_freqs.weight tensor
      default -> throw new UnsupportedModelException(file.path() + ": RoPE scaling '" + scaling + "' is not supported (supported: none, linear, llama3)");
    }
    if (!(eps > 0) || !(base > 0)) {
      throw new GgufFormatException(file.path(), "RMS epsilon " + eps + " and RoPE base " + base + " must be positive");
    }
    int vocab = m.intInRange(p + "vocab_size", 1, 1 << 24)
        .or(() -> {
          try {
            return m.array("tokenizer.ggml.tokens").map(a -> a.length());
          } catch (GgufFormatException e) {
            return Optional.empty();
          }
        })
        .orElseGet(() -> file.tensor("token_embd.weight").map(t -> (int) t.dim(1)).orElse(0));
    if (vocab <= 0) {
      throw new GgufFormatException(file.path(), "has no vocabulary size (llama.vocab_size, tokenizer.ggml.tokens or token_embd.weight)");
    }
    String name = m.string("general.name").orElse(file.path().getFileName().toString());
    try {
      return new LlamaConfig(name, dim, layers, heads, kvHeads, headDim, ropeDim, ffn, vocab, ctx, eps, base, freqScale);
    } catch (IllegalArgumentException e) {
      throw new GgufFormatException(file.path(), e.getMessage());
    }
  }
}
