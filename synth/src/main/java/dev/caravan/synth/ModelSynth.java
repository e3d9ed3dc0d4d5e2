package dev.caravan.synth;

import dev.caravan.engine.gguf.GgufValue;
import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;
import java.util.zip.CRC32;

/**
 * Writes seeded random LLaMA models as GGUF files that llama.cpp's {@code llama} architecture loads: the tensor names,
 * shapes and {@code llama.*} metadata of a real conversion, a tokenizer vocabulary, and weights ~ N(0, std).
 *
 * <p>Weights are generated and quantized chunk by chunk (about a million values at a time) and streamed to disk, so a
 * 7B model needs a few tens of MB of heap, not 7B floats. Each chunk has its own generator, seeded from the model seed,
 * the tensor name and the chunk index: the bytes depend only on (shape, type, seed, vocabulary), never on the number of
 * threads. Every {@link FileType} of one seed holds the same weights before conversion, so quantizing the F32 file's
 * tensors gives the quantized files' tensors.
 *
 * <p>Tensors (ggml dims, {@code [row length, rows]}): {@code token_embd.weight [dim, vocab]}; {@code rope_freqs.weight
 * [head_dim/2]} for shapes with Llama 3.1 RoPE scaling; per block N {@code blk.N.attn_norm.weight [dim]},
 * {@code attn_q [dim, dim]}, {@code attn_k}/{@code attn_v [dim, kv_dim]}, {@code attn_output [dim, dim]},
 * {@code ffn_norm [dim]}, {@code ffn_gate}/{@code ffn_up [dim, ffn]}, {@code ffn_down [ffn, dim]}; then
 * {@code output_norm.weight [dim]} and {@code output.weight [dim, vocab]} unless the shape ties it to the embedding.
 * Norm weights are 1.0; 1-D tensors are always F32.
 */
public final class ModelSynth {
  /** Values per generated chunk (rounded to whole rows): the unit of work and of determinism. */
  static final int CHUNK_VALUES = 1 << 20;

  private ModelSynth() {}

  /**
   * How the 2-D weights are stored, with llama.cpp's {@code general.file_type} (its {@code llama_ftype}). The uniform
   * types store every 2-D weight in that type ("pure" in llama-quantize's terms); {@link #Q4_K_M} mixes like
   * llama-quantize's Q4_K_M.
   */
  public enum FileType {
    F32(GgmlType.F32, 0),
    F16(GgmlType.F16, 1),
    Q4_0(GgmlType.Q4_0, 2),
    Q8_0(GgmlType.Q8_0, 7),
    /** Every 2-D weight Q4_K; file type MOSTLY_Q4_K_S, the nearest llama.cpp has. */
    Q4_K(GgmlType.Q4_K, 14),
    /**
     * llama-quantize's Q4_K_M mix for dense LLaMA: Q4_K, except the output projection (or the tied embedding) in Q6_K,
     * and {@code attn_v} and {@code ffn_down} in Q6_K for the first and last eighth of the layers and every third
     * layer between.
     */
    Q4_K_M(GgmlType.Q4_K, 15),
    Q6_K(GgmlType.Q6_K, 18),
    BF16(GgmlType.BF16, 32);

    private final GgmlType base;
    private final int llamaFileType;

    FileType(GgmlType base, int llamaFileType) {
      this.base = base;
      this.llamaFileType = llamaFileType;
    }

    /** The type of most 2-D weights. */
    public GgmlType baseType() {
      return base;
    }

    /** The value of {@code general.file_type}. */
    public int llamaFileType() {
      return llamaFileType;
    }

    /** The uniform file type storing 2-D weights as {@code type}. */
    public static FileType of(GgmlType type) {
      for (FileType f : values()) {
        if (f.base == type && f != Q4_K_M) {
          return f;
        }
      }
      throw new IllegalArgumentException("no synthetic model type for " + type + "; supported: " + Quantizer.supportedTypes());
    }
  }

  /**
   * Everything that determines a synthetic model file.
   *
   * @param shape hyper-parameters
   * @param fileType how 2-D weights are stored
   * @param seed weight generator seed
   * @param vocabulary tokenizer metadata; its size must equal the shape's vocabulary size
   * @param threads worker threads for generation and quantization (the output does not depend on it)
   */
  public record Spec(Shape shape, FileType fileType, long seed, Vocabulary vocabulary, int threads) {
    public Spec {
      Objects.requireNonNull(shape, "shape");
      Objects.requireNonNull(fileType, "fileType");
      Objects.requireNonNull(vocabulary, "vocabulary");
      if (vocabulary.size() != shape.vocab()) {
        throw new IllegalArgumentException("the vocabulary has " + vocabulary.size() + " tokens but shape " + shape.name() + " needs " + shape.vocab() + " (use Shape.withVocab to fit the shape to it)");
      }
      if (threads < 1) {
        throw new IllegalArgumentException("threads must be at least 1, not " + threads);
      }
    }

    /** A spec with a synthesized SentencePiece vocabulary of the shape's size and one thread per core. */
    public static Spec of(Shape shape, FileType fileType, long seed) {
      return new Spec(shape, fileType, seed, Vocabulary.sentencePiece(shape.vocab()), Runtime.getRuntime().availableProcessors());
    }

    /** A copy with another vocabulary (its size must match the shape's). */
    public Spec withVocabulary(Vocabulary v) {
      return new Spec(shape, fileType, seed, v, threads);
    }

    /** A copy with another worker count (the bytes written do not change). */
    public Spec withThreads(int n) {
      return new Spec(shape, fileType, seed, vocabulary, n);
    }
  }

  /**
   * Writes a model of {@code shape} with every 2-D weight in {@code type} and a synthesized SentencePiece vocabulary.
   *
   * @param progress told bytes written and the total file size as the file grows
   */
  public static void write(Path out, Shape shape, GgmlType type, long seed, GgufWriter.Progress progress) throws IOException {
    write(out, Spec.of(shape, FileType.of(type), seed), progress);
  }

  /** Writes the model {@code spec} describes. */
  public static void write(Path out, Spec spec, GgufWriter.Progress progress) throws IOException {
    ExecutorService pool = Executors.newFixedThreadPool(spec.threads(), r -> {
      Thread t = new Thread(r, "model-synth");
      t.setDaemon(true);
      return t;
    });
    try {
      plan(spec, pool).write(out, progress);
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * The writer for {@code spec}, metadata and tensor infos complete, tensor data generated only when written. With a
   * null pool, data is generated on the writing thread.
   */
  public static GgufWriter plan(Spec spec, ExecutorService pool) {
    Shape s = spec.shape();
    GgufWriter w = new GgufWriter();
    // general.* and llama.* metadata, as llama.cpp's converters write it
    w.putString("general.architecture", "llama");
    w.putString("general.name", "synthetic-" + s.name() + "-" + spec.fileType() + "-seed" + spec.seed());
    w.putString("general.description", "Caravan ModelSynth random weights: shape=" + s.name() + " seed=" + spec.seed() + " std=" + s.std() + " embd_std=" + s.embdStd() + " output_std=" + s.outputStd() + " type=" + spec.fileType());
    w.putUInt32("general.file_type", spec.fileType().llamaFileType());
    w.putUInt32("general.quantization_version", 2);
    w.alignment(32);
    w.putUInt32("llama.vocab_size", s.vocab());
    w.putUInt32("llama.context_length", s.context());
    w.putUInt32("llama.embedding_length", s.dim());
    w.putUInt32("llama.block_count", s.layers());
    w.putUInt32("llama.feed_forward_length", s.ffn());
    w.putUInt32("llama.rope.dimension_count", s.headDim());
    w.putUInt32("llama.attention.head_count", s.heads());
    w.putUInt32("llama.attention.head_count_kv", s.kvHeads());
    w.putFloat32("llama.attention.layer_norm_rms_epsilon", s.rmsEps());
    w.putFloat32("llama.rope.freq_base", s.ropeBase());
    for (Map.Entry<String, GgufValue> e : spec.vocabulary().metadata().entrySet()) {
      w.put(e.getKey(), e.getValue());
    }

    // tensors, in the order llama.cpp's converter writes them
    int dim = s.dim();
    matrix(w, spec, pool, "token_embd.weight", dim, s.vocab(), s.embdStd());
    if (s.ropeScaling() != null) {
      float[] factors = ropeFreqFactors(s.headDim(), s.ropeBase(), s.ropeScaling());
      w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {factors.length}, factors);
    }
    for (int layer = 0; layer < s.layers(); layer++) {
      String p = "blk." + layer + ".";
      norm(w, p + "attn_norm.weight", dim);
      matrix(w, spec, pool, p + "attn_q.weight", dim, dim, s.std());
      matrix(w, spec, pool, p + "attn_k.weight", dim, s.kvDim(), s.std());
      matrix(w, spec, pool, p + "attn_v.weight", dim, s.kvDim(), s.std());
      matrix(w, spec, pool, p + "attn_output.weight", dim, dim, s.std());
      norm(w, p + "ffn_norm.weight", dim);
      matrix(w, spec, pool, p + "ffn_gate.weight", dim, s.ffn(), s.std());
      matrix(w, spec, pool, p + "ffn_up.weight", dim, s.ffn(), s.std());
      matrix(w, spec, pool, p + "ffn_down.weight", s.ffn(), dim, s.std());
    }
    norm(w, "output_norm.weight", dim);
    if (!s.tiedOutput()) {
      matrix(w, spec, pool, "output.weight", dim, s.vocab(), s.outputStd());
    }
    return w;
  }

  /**
   * The type llama-quantize would give a 2-D weight {@code name} with rows of {@code rowLength} under
   * {@code fileType}: the file type's base type, the Q4_K_M promotions, then a fallback when rows are not a whole
   * number of blocks (K-quants to Q8_0, where llama.cpp takes Q5_0 for Q4_K, which Caravan does not write; anything
   * still misfitting to F16).
   */
  public static GgmlType tensorType(Shape shape, FileType fileType, String name, long rowLength) {
    GgmlType t = fileType.baseType();
    if (fileType == FileType.Q4_K_M) {
      boolean output = name.equals("output.weight") || (shape.tiedOutput() && name.equals("token_embd.weight"));
      if (output) {
        t = GgmlType.Q6_K;
      } else if (name.endsWith(".attn_v.weight") || name.endsWith(".ffn_down.weight")) {
        // dense LLaMA has one attn_v and one ffn_down per layer, so the counters llama.cpp keeps equal the layer index
        int layer = Integer.parseInt(name.substring(4, name.indexOf('.', 4)));
        if (useMoreBits(layer, shape.layers())) {
          t = GgmlType.Q6_K;
        }
      }
    }
    if (rowLength % t.blockSize() != 0) {
      t = t == GgmlType.Q4_K || t == GgmlType.Q6_K ? GgmlType.Q8_0 : t;
      if (rowLength % t.blockSize() != 0) {
        t = GgmlType.F16;
      }
    }
    return t;
  }

  /** llama.cpp's {@code use_more_bits}: the first and last eighth of the layers, and every third layer between. */
  static boolean useMoreBits(int layer, int layers) {
    return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
  }

  /**
   * Llama 3.1 RoPE frequency factors as llama.cpp's converter computes them for {@code rope_freqs.weight}: for
   * {@code freq_i = 1 / base^(2i / headDim)} (float32), wavelength {@code 2 pi / freq}; short wavelengths keep factor 1,
   * long ones get {@code factor}, and the band between blends smoothly.
   */
  public static float[] ropeFreqFactors(int headDim, float base, Shape.RopeScaling rs) {
    float[] out = new float[headDim / 2];
    double lowFreqWavelen = rs.originalContext() / (double) rs.lowFreqFactor();
    double highFreqWavelen = rs.originalContext() / (double) rs.highFreqFactor();
    for (int i = 0; i < out.length; i++) {
      float exponent = (float) (2 * i) / headDim;
      float freq = 1.0f / (float) Math.pow(base, exponent);
      double wavelen = 2 * Math.PI / freq;
      double f;
      if (wavelen < highFreqWavelen) {
        f = 1;
      } else if (wavelen > lowFreqWavelen) {
        f = rs.factor();
      } else {
        double smooth = (rs.originalContext() / wavelen - rs.lowFreqFactor()) / (rs.highFreqFactor() - rs.lowFreqFactor());
        f = 1 / ((1 - smooth) / rs.factor() + smooth);
      }
      out[i] = (float) f;
    }
    return out;
  }

  /** A 1-D norm weight: F32, all 1.0. */
  private static void norm(GgufWriter w, String name, int n) {
    w.addTensor(name, GgmlType.F32, new long[] {n}, sink -> {
      float[] ones = new float[n];
      Arrays.fill(ones, 1f);
      sink.writeFloats(ones, 0, n);
    });
  }

  /** A weight matrix of {@code rows} rows of {@code rowLength} values ~ N(0, std), generated when written. */
  private static void matrix(GgufWriter w, Spec spec, ExecutorService pool, String name, int rowLength, int rows, float std) {
    GgmlType type = tensorType(spec.shape(), spec.fileType(), name, rowLength);
    long nameHash = crc32(name);
    int rowsPerChunk = Math.max(1, CHUNK_VALUES / rowLength);
    int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
    w.addTensor(name, type, new long[] {rowLength, rows}, sink -> {
      // one chunk: its own generator, then quantization; workers run ahead of the writer by at most 2 x threads chunks
      IntFunction<byte[]> chunk = c -> {
        int r0 = c * rowsPerChunk;
        int n = Math.min(rowsPerChunk, rows - r0) * rowLength;
        float[] x = new float[n];
        SplittableRandom rnd = new SplittableRandom(chunkSeed(spec.seed(), nameHash, c));
        for (int i = 0; i < n; i++) {
          x[i] = (float) (rnd.nextGaussian() * std);
        }
        return Quantizer.quantize(type, x);
      };
      if (pool == null) {
        for (int c = 0; c < chunks; c++) {
          byte[] b = chunk.apply(c);
          sink.write(b, 0, b.length);
        }
        return;
      }
      int ahead = 2 * spec.threads();
      Deque<Future<byte[]>> inFlight = new ArrayDeque<>();
      int next = 0;
      try {
        while (next < chunks || !inFlight.isEmpty()) {
          while (next < chunks && inFlight.size() < ahead) {
            int c = next++;
            inFlight.add(pool.submit(() -> chunk.apply(c)));
          }
          byte[] b = inFlight.poll().get();
          sink.write(b, 0, b.length);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while generating " + name);
      } catch (ExecutionException e) {
        throw new IOException("generating " + name + " failed", e.getCause());
      } finally {
        for (Future<byte[]> f : inFlight) {
          f.cancel(true);
        }
      }
    });
  }

  /** A well-mixed 64-bit seed for chunk {@code c} of the tensor whose name hashes to {@code nameHash}. */
  static long chunkSeed(long seed, long nameHash, int c) {
    long z = seed * 0x9E3779B97F4A7C15L + nameHash * 0xC2B2AE3D27D4EB4FL + c * 0x165667B19E3779F9L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static long crc32(String s) {
    CRC32 c = new CRC32();
    c.update(s.getBytes(StandardCharsets.UTF_8));
    return c.getValue();
  }
}
