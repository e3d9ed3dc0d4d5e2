package dev.caravan.engine.tokenizer;

/**
 * A binary max-heap of candidate merges in parallel arrays: highest priority first, then lowest left index. SentencePiece
 * pushes a pair's priority (llama.cpp's {@code llm_bigram_spm::comparator}); byte-level BPE pushes minus its merge rank, so
 * the lowest rank comes first ({@code llm_bigram_bpe::comparator}; ranks below 2^24 are exact as floats).
 */
final class BigramQueue {
  private float[] priority;
  private int[] left;
  private int[] right;
  private int[] size;
  private int count;

  BigramQueue(int capacity) {
    capacity = Math.max(capacity, 8);
    priority = new float[capacity];
    left = new int[capacity];
    right = new int[capacity];
    size = new int[capacity];
  }

  boolean isEmpty() {
    return count == 0;
  }

  int topLeft() {
    return left[0];
  }

  int topRight() {
    return right[0];
  }

  float topPriority() {
    return priority[0];
  }

  int topSize() {
    return size[0];
  }

  /** Whether entry a comes out before entry b. */
  private boolean before(int a, int b) {
    return priority[a] > priority[b] || (priority[a] == priority[b] && left[a] < left[b]);
  }

  void push(float s, int l, int r, int sz) {
    if (count == priority.length) {
      int cap = count * 2;
      priority = java.util.Arrays.copyOf(priority, cap);
      left = java.util.Arrays.copyOf(left, cap);
      right = java.util.Arrays.copyOf(right, cap);
      size = java.util.Arrays.copyOf(size, cap);
    }
    int i = count++;
    set(i, s, l, r, sz);
    // sift up
    while (i > 0) {
      int parent = (i - 1) >>> 1;
      if (!before(i, parent)) {
        break;
      }
      swap(i, parent);
      i = parent;
    }
  }

  void pop() {
    count--;
    if (count == 0) {
      return;
    }
    set(0, priority[count], left[count], right[count], size[count]);
    // sift down
    int i = 0;
    while (true) {
      int l = 2 * i + 1;
      if (l >= count) {
        break;
      }
      int best = l + 1 < count && before(l + 1, l) ? l + 1 : l;
      if (!before(best, i)) {
        break;
      }
      swap(i, best);
      i = best;
    }
  }

  private void set(int i, float s, int l, int r, int sz) {
    priority[i] = s;
    left[i] = l;
    right[i] = r;
    size[i] = sz;
  }

  private void swap(int a, int b) {
    float s = priority[a];
    priority[a] = priority[b];
    priority[b] = s;
    int t = left[a];
    left[a] = left[b];
    left[b] = t;
    t = right[a];
    right[a] = right[b];
    right[b] = t;
    t = size[a];
    size[a] = size[b];
    size[b] = t;
  }
}
