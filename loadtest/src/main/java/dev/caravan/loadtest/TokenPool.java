package dev.caravan.loadtest;

import java.util.BitSet;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The token ids random prompts are drawn from: the model's vocabulary without its special tokens (BOS, EOS, chat
 * markers), as vLLM's random dataset does. The special ids known individually are removed; when they all sit in the
 * upper half of the vocabulary (Llama 3 keeps its 256 special and reserved tokens at the end), everything from the
 * lowest of them up is removed too, since reserved tokens have no spelling to discover them by.
 */
final class TokenPool {
  /** Ids used when the target could not be asked: byte tokens in SentencePiece vocabularies, plain bytes in BPE ones. */
  static final int FALLBACK_FIRST = 3;
  static final int FALLBACK_END = 259;

  private final int[] ids;
  private final int vocabSize;

  private TokenPool(int[] ids, int vocabSize) {
    if (ids.length == 0) {
      throw new IllegalArgumentException("no ordinary tokens left in a vocabulary of " + vocabSize);
    }
    this.ids = ids;
    this.vocabSize = vocabSize;
  }

  /** The vocabulary [0, vocabSize) without {@code special} (and the special tail, see the class comment). */
  static TokenPool of(int vocabSize, Set<Integer> special) {
    if (vocabSize <= 0) {
      throw new IllegalArgumentException("vocabulary size must be positive, not " + vocabSize);
    }
    BitSet excluded = new BitSet(vocabSize);
    int lowest = Integer.MAX_VALUE;
    for (int id : special) {
      if (id >= 0 && id < vocabSize) {
        excluded.set(id);
        lowest = Math.min(lowest, id);
      }
    }
    if (lowest != Integer.MAX_VALUE && lowest >= vocabSize / 2) {
      excluded.set(lowest, vocabSize);
    }
    BitSet allowed = new BitSet(vocabSize);
    allowed.set(0, vocabSize);
    allowed.andNot(excluded);
    return new TokenPool(allowed.stream().toArray(), vocabSize);
  }

  /** Ids [3, 259): safe in any LLaMA-family vocabulary, for when the target's could not be read. */
  static TokenPool fallback() {
    int[] ids = new int[FALLBACK_END - FALLBACK_FIRST];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = FALLBACK_FIRST + i;
    }
    return new TokenPool(ids, FALLBACK_END);
  }

  /** A uniformly drawn id. */
  int draw(SplittableRandom random) {
    return ids[random.nextInt(ids.length)];
  }

  int size() {
    return ids.length;
  }

  int vocabSize() {
    return vocabSize;
  }

  boolean contains(int id) {
    return java.util.Arrays.binarySearch(ids, id) >= 0;
  }
}
