package dev.caravan.engine.tokenizer;

import java.util.Arrays;

/** A growable list of ints without boxing. */
final class IntList {
  private int[] a;
  private int n;

  IntList(int capacity) {
    a = new int[Math.max(capacity, 4)];
  }

  void add(int v) {
    if (n == a.length) {
      a = Arrays.copyOf(a, n * 2);
    }
    a[n++] = v;
  }

  void addAll(int[] values) {
    for (int v : values) {
      add(v);
    }
  }

  int get(int i) {
    return a[i];
  }

  int size() {
    return n;
  }

  int[] toArray() {
    return Arrays.copyOf(a, n);
  }
}
