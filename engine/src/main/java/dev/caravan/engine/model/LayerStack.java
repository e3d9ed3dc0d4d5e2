package dev.caravan.engine.model;

import dev.caravan.engine.tensor.Kernels;
import dev.caravan.engine.tensor.MatMul;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tensor.ActivationMath;

/**
 * The transformer layers of one {@link LayerRange} of a LLaMA model and their forward pass over a {@link Batch}: what a
 * pipeline stage executes. A single-process run is one stack holding every layer.
 *
 * <ul>
 *   <li>first stage: embeds the batch's token ids; other stages take the previous stage's hidden states;
 *   <li>every stage: its transformer blocks, reading and appending to each sequence's {@link KvCache};
 *   <li>last stage: final RMSNorm and logits, only for tokens that want them; other stages return hidden states.
 * </ul>
 *
 * <p>The numbers are those of llama.cpp's CPU backend with an F32 KV cache (or with an F16 one, see {@link KvCache.Type}) and flash attention off: RMSNorm with a
 * double sum, RoPE in "normal" mode (adjacent pairs) with the angle built by repeated float multiplication, attention
 * scores scaled by 1/sqrt(head size) and a double-summed softmax, SwiGLU. A token's result depends only on its
 * sequence, never on the rest of the batch or on where the layers were split.
 *
 * <p>Not thread-safe: one driving thread calls {@link #forward} at a time (it fans the work out to its {@link Parallel}).
 */
public final class LayerStack {
  private final LlamaConfig c;
  private final LlamaWeights w;
  private final Kernels kernels;
  private final Parallel parallel;
  private final boolean first;
  private final boolean last;
  private final float attentionScale;
  private final float thetaScale; // base^(-2/ropeDim), the ratio between successive RoPE frequencies
  private final boolean roundActivations = ActivationRounding.ENABLED; // chosen (and logged) once, when the first stage is built

  // Activations for up to `capacity` tokens, allocated once and grown only for a larger batch.
  private int capacity;
  private float[] x; // (n, dim) the residual stream
  private float[] xb; // (n, dim) normed input of a sub-block / its output
  private float[] q; // (n, heads * headDim)
  private float[] k; // (n, kvDim)
  private float[] v; // (n, kvDim)
  private float[] att; // (n, heads * headDim) attention output, before wo
  private float[] hb; // (n, ffn) gate, then silu(gate) * up
  private float[] hb2; // (n, ffn) up
  private float[] ropeCos; // (n, ropeDim / 2)
  private float[] ropeSin; // (n, ropeDim / 2)
  private float[] logitsIn; // (n, dim) normed final hidden state of the tokens that want logits
  private float[] xr; // (n, max(dim, qDim, ffn)) a matmul input rounded to the weight type's vec-dot type
  private dev.caravan.engine.tensor.GgmlType xrType; // the type xr is rounded for (q, k and v share one input)

  // The attention fan-out reads these; kept as fields so a forward pass allocates nothing.
  private final AttentionTask attentionTask = new AttentionTask();
  private final ThreadLocal<float[]> scores; // (context) attention weights of one (token, head)

  public LayerStack(LlamaWeights weights, Kernels kernels, Parallel parallel) {
    this.c = weights.config;
    this.w = weights;
    this.kernels = kernels;
    this.parallel = parallel;
    this.first = weights.range.isFirst();
    this.last = weights.range.isLast(c.layers());
    this.attentionScale = 1.0f / (float) Math.sqrt(c.headDim());
    this.thetaScale = (float) Math.pow(c.ropeBase(), -2.0f / c.ropeDim());
    int context = c.contextLength();
    this.scores = ThreadLocal.withInitial(() -> new float[context]);
    ensureCapacity(1);
  }

  public LlamaConfig config() {
    return c;
  }

  public LayerRange range() {
    return w.range;
  }

  public boolean isFirst() {
    return first;
  }

  public boolean isLast() {
    return last;
  }

  /** A new, empty KV cache for one sequence, for this stage's layers, of the JVM's default type ({@link KvCache.Type#DEFAULT}). */
  public KvCache newCache(int capacity) {
    return newCache(capacity, KvCache.Type.DEFAULT);
  }

  /** A new, empty KV cache of {@code type} for one sequence, for this stage's layers. */
  public KvCache newCache(int capacity, KvCache.Type type) {
    return new KvCache(w.range.size(), c.kvDim(), Math.min(capacity, c.contextLength()), type);
  }

  public KvCache newCache() {
    return newCache(c.contextLength());
  }

  /** Floats {@link #forward} writes: hidden states (n × dim) for a non-final stage, logits (wanted × vocab) for the last. */
  public int outputSize(Batch batch) {
    return last ? batch.logitsCount() * c.vocabSize() : batch.size() * c.dim();
  }

  /**
   * Runs the batch through this stage's layers.
   *
   * @param batch    tokens, positions and caches; every sequence continues its cache
   * @param hiddenIn (n, dim) hidden states from the previous stage; ignored (may be null) on the first stage
   * @param out      receives {@link #outputSize} floats: hidden states (n, dim), or logits (wanted, vocab) in batch order
   */
  public void forward(Batch batch, float[] hiddenIn, float[] out) {
    int n = batch.size();
    if (n == 0) {
      return;
    }
    batch.validate();
    if (out.length < outputSize(batch)) {
      throw new IllegalArgumentException("output buffer holds " + out.length + " floats, needs " + outputSize(batch));
    }
    ensureCapacity(n);
    int dim = c.dim();

    // input: token embeddings (first stage) or the previous stage's hidden states
    if (first) {
      for (int b = 0; b < n; b++) {
        int token = batch.token(b);
        if (token < 0 || token >= c.vocabSize()) {
          throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + c.vocabSize() + ")");
        }
        kernels.dequantizeRow(w.tokenEmbedding, token, x, b * dim);
      }
    } else {
      if (hiddenIn == null || hiddenIn.length < n * dim) {
        throw new IllegalArgumentException("stage " + w.range + " needs " + n + " x " + dim + " hidden states as input");
      }
      System.arraycopy(hiddenIn, 0, x, 0, n * dim);
    }

    // make room in every sequence's cache; RoPE angles of every token (shared by all layers and heads)
    for (int b = 0; b < n; b++) {
      batch.cache(b).reserve(batch.position(b) + 1);
    }
    ropeAngles(batch, n);

    for (int l = 0; l < w.layers.size(); l++) {
      LlamaWeights.Layer layer = w.layers.get(l);

      // attention: xb = rmsnorm(x) * attn_norm; q, k, v projections
      for (int b = 0; b < n; b++) {
        ActivationMath.rmsNorm(xb, b * dim, x, b * dim, layer.attnNorm(), dim, c.rmsEps());
      }
      matmul(layer.wq(), xb, n, q, false);
      matmul(layer.wk(), xb, n, k, true);
      matmul(layer.wv(), xb, n, v, true);

      // RoPE on q and k, then append k and v to each token's sequence cache
      for (int b = 0; b < n; b++) {
        rope(q, b * c.heads() * c.headDim(), c.heads(), b);
        rope(k, b * c.kvDim(), c.kvHeads(), b);
        batch.cache(b).store(l, batch.position(b), k, b * c.kvDim(), v, b * c.kvDim());
      }

      // causal self-attention of every (token, head) over its own sequence's cache
      attentionTask.set(batch, l);
      parallel.forRange(n * c.heads(), attentionTask);
      attentionTask.set(null, 0);

      // output projection and residual: x += wo · att
      matmul(layer.wo(), att, n, xb, false);
      ActivationMath.add(xb, 0, x, 0, n * dim);

      // feed-forward: x += w_down · (silu(w_gate · xn) * (w_up · xn)), xn = rmsnorm(x) * ffn_norm
      for (int b = 0; b < n; b++) {
        ActivationMath.rmsNorm(xb, b * dim, x, b * dim, layer.ffnNorm(), dim, c.rmsEps());
      }
      matmul(layer.wGate(), xb, n, hb, false);
      matmul(layer.wUp(), xb, n, hb2, true);
      ActivationMath.swiglu(hb, 0, hb2, 0, hb, 0, n * c.ffnDim());
      matmul(layer.wDown(), hb, n, xb, false);
      ActivationMath.add(xb, 0, x, 0, n * dim);
    }

    // every sequence's cache now holds the batch's positions
    for (int b = 0; b < n; b++) {
      KvCache cache = batch.cache(b);
      if (batch.position(b) + 1 > cache.length()) {
        cache.setLength(batch.position(b) + 1);
      }
    }

    if (!last) {
      // non-final stage: hand the residual stream to the next stage
      System.arraycopy(x, 0, out, 0, n * dim);
      return;
    }
    // last stage: final norm and classifier, only for the tokens that want logits
    int m = 0;
    for (int b = 0; b < n; b++) {
      if (batch.wantsLogits(b)) {
        ActivationMath.rmsNorm(logitsIn, m * dim, x, b * dim, w.outputNorm, dim, c.rmsEps());
        m++;
      }
    }
    if (m > 0) {
      matmul(w.output, logitsIn, m, out, false);
    }
  }

  /**
   * {@code out = w · x} for {@code n} tokens, with x first rounded to w's vec-dot type like llama.cpp (see
   * {@link ActivationRounding}). {@code sameInput}: x is unchanged since the previous call, so its rounding can be
   * reused when the weight type is the same (k and v after q, up after gate).
   */
  private void matmul(dev.caravan.engine.tensor.WeightMatrix w, float[] x, int n, float[] out, boolean sameInput) {
    float[] in = x;
    if (roundActivations && ActivationRounding.rounds(w.type())) {
      if (!sameInput || xrType != w.type()) {
        ActivationRounding.round(w.type(), x, n, w.cols(), xr);
        xrType = w.type();
      }
      in = xr;
    } else {
      xrType = null;
    }
    MatMul.matmul(kernels, parallel, w, in, n, out);
  }

  private void ensureCapacity(int n) {
    if (n <= capacity) {
      return;
    }
    int qDim = c.heads() * c.headDim();
    x = new float[n * c.dim()];
    xb = new float[n * c.dim()];
    q = new float[n * qDim];
    k = new float[n * c.kvDim()];
    v = new float[n * c.kvDim()];
    att = new float[n * qDim];
    hb = new float[n * c.ffnDim()];
    hb2 = new float[n * c.ffnDim()];
    ropeCos = new float[n * c.ropeDim() / 2];
    ropeSin = new float[n * c.ropeDim() / 2];
    logitsIn = new float[n * c.dim()];
    xr = new float[n * Math.max(Math.max(c.dim(), qDim), c.ffnDim())];
    capacity = n;
  }

  /** cos and sin of theta_i = freqScale * pos * base^(-2i/ropeDim) / ropeFreqs[i], per token. */
  private void ropeAngles(Batch batch, int n) {
    int half = c.ropeDim() / 2;
    for (int b = 0; b < n; b++) {
      // llama.cpp builds theta by repeated float multiplication: pos, pos*s, (pos*s)*s, ...
      float theta = batch.position(b);
      for (int i = 0; i < half; i++) {
        float t = w.ropeFreqs != null ? theta / w.ropeFreqs[i] : theta;
        t = c.ropeFreqScale() * t;
        ropeCos[b * half + i] = (float) Math.cos(t);
        ropeSin[b * half + i] = (float) Math.sin(t);
        theta *= thetaScale;
      }
    }
  }

  /** Rotates adjacent pairs (x[2i], x[2i+1]) of the first ropeDim values of each head of token b. */
  private void rope(float[] vec, int off, int nHeads, int b) {
    int half = c.ropeDim() / 2;
    for (int h = 0; h < nHeads; h++) {
      int base = off + h * c.headDim();
      for (int i = 0; i < half; i++) {
        float cos = ropeCos[b * half + i];
        float sin = ropeSin[b * half + i];
        float x0 = vec[base + 2 * i];
        float x1 = vec[base + 2 * i + 1];
        vec[base + 2 * i] = x0 * cos - x1 * sin;
        vec[base + 2 * i + 1] = x0 * sin + x1 * cos;
      }
    }
  }

  /** One slice of (token, head) pairs: scores over the cache, softmax, weighted sum of values. */
  private final class AttentionTask implements Parallel.RangeTask {
    private Batch batch;
    private int layer;

    void set(Batch batch, int layer) {
      this.batch = batch;
      this.layer = layer;
    }

    @Override
    public void run(int from, int to) {
      int headDim = c.headDim();
      int qDim = c.heads() * headDim;
      float[] s = scores.get();
      for (int i = from; i < to; i++) {
        int b = i / c.heads();
        int h = i % c.heads();
        int kvh = h / c.groupSize();
        KvCache cache = batch.cache(b);
        int pos = batch.position(b);
        int qOff = b * qDim + h * headDim;
        // scores: q · k_t * scale for t in [0, pos], then softmax (max-subtracted, double sum, like ggml)
        for (int t = 0; t <= pos; t++) {
          s[t] = cache.dotKey(layer, t, kvh * headDim, q, qOff, headDim) * attentionScale;
        }
        ActivationMath.softmax(s, 0, pos + 1);
        // att = sum_t softmax_t * v_t
        int oOff = b * qDim + h * headDim;
        java.util.Arrays.fill(att, oOff, oOff + headDim, 0f);
        for (int t = 0; t <= pos; t++) {
          cache.axpyValue(s[t], layer, t, kvh * headDim, att, oOff, headDim);
        }
      }
    }
  }

}
