package dev.caravan.engine.model;

import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.tensor.GgmlType;
import dev.caravan.engine.tensor.Kernels;
import dev.caravan.engine.tensor.WeightMatrix;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.LongConsumer;
import java.util.stream.Collectors;

/**
 * The weights one stage needs for its {@link LayerRange}, looked up by llama.cpp's tensor names. Matrices stay in the
 * memory-mapped file in their own type; only the small norm vectors (and Llama 3's RoPE factors) are read into
 * {@code float[]}. Tensors outside the range are never touched.
 */
public final class LlamaWeights {
  /** Tensor types the kernels support. */
  public static final Set<GgmlType> SUPPORTED_TYPES = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K);

  /** One transformer block. */
  public record Layer(
      float[] attnNorm, // (dim)
      WeightMatrix wq, // (heads * headDim, dim)
      WeightMatrix wk, // (kvHeads * headDim, dim)
      WeightMatrix wv, // (kvHeads * headDim, dim)
      WeightMatrix wo, // (dim, heads * headDim)
      float[] ffnNorm, // (dim)
      WeightMatrix wGate, // (ffn, dim)  "w1"
      WeightMatrix wUp, // (ffn, dim)    "w3"
      WeightMatrix wDown // (dim, ffn)   "w2"
      ) {}

  public final LlamaConfig config;
  public final LayerRange range;
  /** (vocab, dim): first stage only, else null. */
  public final WeightMatrix tokenEmbedding;
  /** Blocks of the range, index 0 = layer {@code range.start()}. */
  public final List<Layer> layers;
  /** (dim): last stage only, else null. */
  public final float[] outputNorm;
  /** (vocab, dim): last stage only, else null; the token embedding when the model ties them. */
  public final WeightMatrix output;
  /** (ropeDim / 2) frequency divisors (Llama 3.1+ {@code rope_freqs.weight}), or null. */
  public final float[] ropeFreqs;

  private LlamaWeights(LlamaConfig config, LayerRange range, WeightMatrix tokenEmbedding, List<Layer> layers, float[] outputNorm, WeightMatrix output, float[] ropeFreqs) {
    this.config = config;
    this.range = range;
    this.tokenEmbedding = tokenEmbedding;
    this.layers = layers;
    this.outputNorm = outputNorm;
    this.output = output;
    this.ropeFreqs = ropeFreqs;
  }

  /** Loads the weights of {@code range} without touching their pages. */
  public static LlamaWeights load(GgufFile file, LlamaConfig c, LayerRange range) throws IOException {
    return load(file, c, range, null);
  }

  /**
   * Loads the weights of {@code range}. With a {@code progress} callback, every tensor's pages are also read into
   * memory (so the first request does not pay for page faults) and the bytes done so far are reported.
   */
  public static LlamaWeights load(GgufFile file, LlamaConfig c, LayerRange range, LongConsumer progress) throws IOException {
    if (range.end() > c.layers()) {
      throw new IllegalArgumentException("layer range " + range + " exceeds the model's " + c.layers() + " layers");
    }
    Loader l = new Loader(file, progress);
    int q = c.heads() * c.headDim();
    int kv = c.kvDim();
    WeightMatrix embedding = range.isFirst() ? l.matrix("token_embd.weight", c.dim(), c.vocabSize()) : null;
    Layer[] layers = new Layer[range.size()];
    for (int i = range.start(); i < range.end(); i++) {
      String p = "blk." + i + ".";
      layers[i - range.start()] = new Layer(
          l.vector(p + "attn_norm.weight", c.dim()),
          l.matrix(p + "attn_q.weight", c.dim(), q),
          l.matrix(p + "attn_k.weight", c.dim(), kv),
          l.matrix(p + "attn_v.weight", c.dim(), kv),
          l.matrix(p + "attn_output.weight", q, c.dim()),
          l.vector(p + "ffn_norm.weight", c.dim()),
          l.matrix(p + "ffn_gate.weight", c.dim(), c.ffnDim()),
          l.matrix(p + "ffn_up.weight", c.dim(), c.ffnDim()),
          l.matrix(p + "ffn_down.weight", c.ffnDim(), c.dim()));
    }
    float[] outputNorm = null;
    WeightMatrix output = null;
    if (range.isLast(c.layers())) {
      outputNorm = l.vector("output_norm.weight", c.dim());
      // tied output: no output.weight, the token embedding doubles as the classifier (llama.cpp does the same)
      output = file.tensor("output.weight").isPresent() ? l.matrix("output.weight", c.dim(), c.vocabSize()) : l.matrix("token_embd.weight", c.dim(), c.vocabSize());
    }
    float[] ropeFreqs = file.tensor("rope_freqs.weight").isPresent() ? l.vector("rope_freqs.weight", c.ropeDim() / 2) : null;
    return new LlamaWeights(c, range, embedding, List.of(layers), outputNorm, output, ropeFreqs);
  }

  /**
   * The first layer of this range alone, as a stage of its own: the same tensors (no copy), with the token embedding
   * when that layer is the model's first, and without the output head unless that layer is the model's last (then this
   * range itself, which has only that layer). For the start-up warm-up, which runs real forward passes over one layer.
   */
  LlamaWeights firstLayer() {
    LayerRange one = new LayerRange(range.start(), range.start() + 1);
    if (one.isLast(config.layers())) {
      return this;
    }
    return new LlamaWeights(config, one, one.isFirst() ? tokenEmbedding : null, List.of(layers.get(0)), null, null, ropeFreqs);
  }

  /** Looks tensors up, checks their shapes and types, optionally pre-faults their pages. */
  private static final class Loader {
    private final GgufFile file;
    private final LongConsumer progress;
    private long done;

    Loader(GgufFile file, LongConsumer progress) {
      this.file = file;
      this.progress = progress;
    }

    private GgufTensorInfo info(String name, long... dims) throws IOException {
      GgufTensorInfo t = file.tensor(name).orElseThrow(() -> new GgufFormatException(file.path(), "tensor " + name + " is missing"));
      long[] shape = dims.length == 1 ? new long[] {dims[0]} : dims;
      boolean ok = t.rank() <= Math.max(2, shape.length);
      for (int d = 0; ok && d < Math.max(t.rank(), shape.length); d++) {
        ok = t.dim(d) == (d < shape.length ? shape[d] : 1);
      }
      if (!ok) {
        throw new GgufFormatException(file.path(), "tensor " + name + " has shape " + t.shape() + ", the model's metadata expects " + Arrays.toString(shape));
      }
      if (!SUPPORTED_TYPES.contains(t.type())) {
        throw new UnsupportedModelException(file.path() + ": tensor " + name + " is " + t.type() + ", which Caravan does not support yet (supported: " + SUPPORTED_TYPES.stream().map(Enum::name).collect(Collectors.joining(", ")) + ")");
      }
      return t;
    }

    private MemorySegment data(GgufTensorInfo t) {
      MemorySegment s = file.tensorData(t);
      if (progress != null) {
        s.load();
        done += s.byteSize();
        progress.accept(done);
      }
      return s;
    }

    /** A GGUF [cols, rows] matrix. */
    WeightMatrix matrix(String name, int cols, int rows) throws IOException {
      GgufTensorInfo t = info(name, cols, rows);
      return new WeightMatrix(name, t.type(), data(t), rows, cols);
    }

    /** A 1-D tensor, dequantized into floats (norm weights: a few KB). */
    float[] vector(String name, int n) throws IOException {
      GgufTensorInfo t = info(name, n);
      float[] v = new float[n];
      Kernels.get().dequantizeRow(new WeightMatrix(name, t.type(), data(t), 1, n), 0, v, 0);
      return v;
    }
  }

  /** The layer of a {@code blk.N.*} tensor, or -1 when N is not a layer number (no range holds such a tensor). */
  private static int layerOf(String name) {
    int dot = name.indexOf('.', 4);
    try {
      return dot > 4 ? Integer.parseInt(name, 4, dot, 10) : -1;
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Bytes of all tensors of {@code range} (for progress bars and capacity planning). */
  public static long bytesOf(GgufFile file, LlamaConfig c, LayerRange range) {
    long sum = 0;
    for (GgufTensorInfo t : file.tensors()) {
      String n = t.name();
      if (n.startsWith("blk.")) {
        if (range.contains(layerOf(n))) {
          sum += t.byteSize();
        }
      } else if (n.equals("token_embd.weight")) {
        sum += range.isFirst() || (range.isLast(c.layers()) && file.tensor("output.weight").isEmpty()) ? t.byteSize() : 0;
      } else if (n.startsWith("output")) {
        sum += range.isLast(c.layers()) ? t.byteSize() : 0;
      }
    }
    return sum;
  }
}
