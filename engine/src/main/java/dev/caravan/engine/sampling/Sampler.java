package dev.caravan.engine.sampling;

import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Chooses tokens for one sequence: holds the sequence's random generator and its window of recent tokens. Not
 * thread-safe; one per sequence.
 *
 * <p>Each {@link #sample} runs llama.cpp's sampler chain in its order: penalties (repeat, frequency, presence over the
 * last {@code repeatLastN} accepted tokens) → top-k → top-p → min-p → temperature → softmax → a seeded draw. With
 * temperature 0 it returns the highest penalized logit, the lowest id on ties (llama.cpp's greedy sampler). Top-p and
 * min-p see the logits before temperature, as in llama.cpp's default chain; a NaN logit counts as minus infinity.
 *
 * <p>{@link #accept} tells the sampler which token the sequence actually took (the sampled one, or prompt tokens when
 * penalties should see the prompt too, as llama-server does). Buffers are sized to the vocabulary once and reused: a
 * call allocates nothing.
 *
 * <p>The draw uses Java's {@link SplittableRandom}, not llama.cpp's {@code std::mt19937} with
 * {@code std::discrete_distribution}: seeded runs reproduce in Caravan, not token for token against llama.cpp (greedy
 * does). Ties inside top-k are broken towards lower ids, deterministically.
 */
public final class Sampler {
  private final SamplingParams params;
  private SplittableRandom rng;

  // per-call work buffers, sized to the largest vocabulary seen
  /** Penalized logits. */
  private float[] work = new float[0];
  /** Candidates as sortable keys: logit in the high 32 bits, (MAX - id) in the low bits, so larger = better. */
  private long[] keys = new long[0];

  // recent-token window for the penalties: a ring buffer and per-token counts
  private final int[] window;
  private int windowStart;
  private int windowSize;
  private int[] counts = new int[0];
  /** Marks tokens already penalized in the current call (stamp == callId). */
  private int[] stamp = new int[0];
  private int callId;
  /** The highest penalized logit of the current call. */
  private float chainMax;

  /** A sampler for one sequence, its generator seeded from {@code params.seed()}. */
  public Sampler(SamplingParams params) {
    this.params = Objects.requireNonNull(params, "params");
    this.rng = new SplittableRandom(params.seed());
    this.window = new int[params.repeatLastN()];
  }

  /** The parameters this sampler was made with. */
  public SamplingParams params() {
    return params;
  }

  /** Forgets the accepted tokens and restarts the random generator from the seed. */
  public void reset() {
    Arrays.fill(counts, 0);
    windowStart = 0;
    windowSize = 0;
    rng = new SplittableRandom(params.seed());
  }

  /** Records that the sequence took {@code token}: it enters the penalty window (the oldest one leaves when full). */
  public void accept(int token) {
    if (token < 0) {
      throw new IllegalArgumentException("token id " + token + " is negative");
    }
    if (window.length == 0) {
      return;
    }
    if (token >= counts.length) {
      counts = Arrays.copyOf(counts, Math.max(token + 1, counts.length * 2));
    }
    if (windowSize == window.length) {
      counts[window[windowStart]]--;
      window[windowStart] = token;
      windowStart = (windowStart + 1) % window.length;
    } else {
      window[(windowStart + windowSize) % window.length] = token;
      windowSize++;
    }
    counts[token]++;
  }

  /**
   * The next token for logits {@code logits[offset .. offset + vocabSize)}; the array is not modified. Call
   * {@link #accept} with the token the sequence then takes.
   */
  public int sample(float[] logits, int offset, int vocabSize) {
    int m = chain(logits, offset, vocabSize);
    if (m < 0) {
      return -m - 1;
    }
    // temperature, softmax over the survivors, and the draw
    float t = params.temperature();
    float maxT = chainMax / t;
    double total = 0;
    for (int i = 0; i < m; i++) {
      total += Math.exp(logitOf(keys[i]) / t - maxT);
    }
    double u = rng.nextDouble() * total;
    double acc = 0;
    for (int i = 0; i < m; i++) {
      acc += Math.exp(logitOf(keys[i]) / t - maxT);
      if (u < acc) {
        return idOf(keys[i]);
      }
    }
    return idOf(keys[m - 1]);
  }

  /**
   * The candidate set the chain leaves before the draw, for tests: writes the ids (in no particular order) to
   * {@code ids} and their final probabilities (after temperature) to {@code probs}, returns how many. Does not touch
   * the random generator.
   */
  int candidates(float[] logits, int offset, int vocabSize, int[] ids, double[] probs) {
    int m = chain(logits, offset, vocabSize);
    if (m < 0) {
      ids[0] = -m - 1;
      probs[0] = 1;
      return 1;
    }
    float t = params.temperature();
    float maxT = chainMax / t;
    double total = 0;
    for (int i = 0; i < m; i++) {
      total += Math.exp(logitOf(keys[i]) / t - maxT);
    }
    for (int i = 0; i < m; i++) {
      ids[i] = idOf(keys[i]);
      probs[i] = Math.exp(logitOf(keys[i]) / t - maxT) / total;
    }
    return m;
  }

  /**
   * Penalties, then greedy or top-k / top-p / min-p. Returns {@code -(token + 1)} when the choice is already made
   * (greedy), else the number m of survivors, left in {@code keys[0..m)} (best first when top-k or top-p sorted them).
   */
  private int chain(float[] logits, int offset, int vocabSize) {
    if (vocabSize <= 0) {
      throw new IllegalArgumentException("vocabSize must be positive, not " + vocabSize);
    }
    Objects.checkFromIndexSize(offset, vocabSize, logits.length);
    ensureCapacity(vocabSize);
    int n = vocabSize;

    // penalties, on a copy of the logits
    for (int i = 0; i < n; i++) {
      float l = logits[offset + i];
      work[i] = Float.isNaN(l) ? Float.NEGATIVE_INFINITY : l;
    }
    if (params.hasPenalties()) {
      applyPenalties(n);
    }

    // greedy: the first maximum; also when nothing has a finite logit
    int best = argmax(n);
    if (params.isGreedy() || work[best] == Float.NEGATIVE_INFINITY) {
      return -best - 1;
    }
    float max = work[best];
    chainMax = max;

    // top-k: the k best candidates, sorted; otherwise every token, unsorted for now
    int k = params.topK() > 0 && params.topK() < n ? selectTopK(n, params.topK()) : 0;

    // the softmax denominator over the top-k set (top-p's probabilities are relative to it)
    float sum = 0f;
    if (k > 0) {
      for (int i = 0; i < k; i++) {
        sum += (float) Math.exp(logitOf(keys[i]) - max);
      }
    } else {
      for (int i = 0; i < n; i++) {
        sum += (float) Math.exp(work[i] - max);
      }
    }

    // min-p keeps a prefix of the sorted candidates (logit >= max + ln minP); top-p another; the chain keeps the shorter
    float minLogit = params.minP() > 0f ? max + (float) Math.log(params.minP()) : Float.NEGATIVE_INFINITY;
    int m = 0;
    if (k > 0) {
      while (m < k && logitOf(keys[m]) >= minLogit) {
        m++;
      }
    } else {
      // only the min-p survivors are kept, and sorted only when top-p needs the order
      for (int i = 0; i < n; i++) {
        if (work[i] >= minLogit) {
          keys[m++] = key(i);
        }
      }
      if (params.topP() < 1f) {
        Arrays.sort(keys, 0, m);
        reverse(keys, m);
      }
    }
    if (params.topP() < 1f) {
      float cum = 0f;
      for (int i = 0; i < m; i++) {
        cum += (float) Math.exp(logitOf(keys[i]) - max) / sum;
        if (cum >= params.topP()) {
          m = i + 1;
          break;
        }
      }
    }
    return m;
  }

  /** The penalized logits of the last {@link #sample} call (for tests). */
  float penalizedLogit(int id) {
    return work[id];
  }

  /** llama.cpp's penalties: repeat (divide positive, multiply negative), then frequency x count and presence. */
  private void applyPenalties(int n) {
    if (++callId == 0) {
      Arrays.fill(stamp, 0);
      callId = 1;
    }
    float repeat = params.repeatPenalty();
    for (int j = 0; j < windowSize; j++) {
      int tok = window[(windowStart + j) % window.length];
      if (tok >= n || stamp[tok] == callId) {
        continue;
      }
      stamp[tok] = callId;
      int c = counts[tok];
      float l = work[tok];
      l = l <= 0 ? l * repeat : l / repeat;
      l -= c * params.frequencyPenalty() + (c > 0 ? 1 : 0) * params.presencePenalty();
      work[tok] = l;
    }
  }

  /** Index of the first maximum of work[0..n). */
  private int argmax(int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
      if (work[i] > work[best]) {
        best = i;
      }
    }
    return best;
  }

  /** Puts the k best keys, best first, in keys[0..k) using a min-heap of size k. */
  private int selectTopK(int n, int k) {
    int size = 0;
    for (int i = 0; i < n; i++) {
      long key = key(i);
      if (size < k) {
        // sift up
        int c = size++;
        while (c > 0) {
          int p = (c - 1) >>> 1;
          if (keys[p] <= key) {
            break;
          }
          keys[c] = keys[p];
          c = p;
        }
        keys[c] = key;
      } else if (key > keys[0]) {
        // replace the smallest and sift down
        int c = 0;
        while (true) {
          int l = 2 * c + 1;
          if (l >= k) {
            break;
          }
          int s = l + 1 < k && keys[l + 1] < keys[l] ? l + 1 : l;
          if (keys[s] >= key) {
            break;
          }
          keys[c] = keys[s];
          c = s;
        }
        keys[c] = key;
      }
    }
    Arrays.sort(keys, 0, k);
    reverse(keys, k);
    return k;
  }

  /** Sortable key of token i: higher logit first, then lower id. */
  private long key(int i) {
    int bits = Float.floatToIntBits(work[i]);
    int sortable = bits ^ ((bits >> 31) & 0x7fffffff);
    return ((long) sortable << 32) | (Integer.MAX_VALUE - i);
  }

  private static int idOf(long key) {
    return Integer.MAX_VALUE - (int) (key & 0xffffffffL);
  }

  private float logitOf(long key) {
    return work[idOf(key)];
  }

  private static void reverse(long[] a, int n) {
    for (int i = 0, j = n - 1; i < j; i++, j--) {
      long x = a[i];
      a[i] = a[j];
      a[j] = x;
    }
  }

  private void ensureCapacity(int n) {
    if (work.length < n) {
      work = new float[n];
      keys = new long[n];
    }
    if (stamp.length < n) {
      stamp = new int[n];
    }
    if (counts.length < n) {
      counts = Arrays.copyOf(counts, n);
    }
  }
}
