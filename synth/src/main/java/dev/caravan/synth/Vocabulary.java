package dev.caravan.synth;

import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufValue;
import dev.caravan.engine.gguf.GgufValueType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A tokenizer vocabulary as GGUF metadata: the {@code tokenizer.*} keys a model file carries.
 *
 * @param metadata the keys, in file order
 * @param size number of tokens
 */
public record Vocabulary(Map<String, GgufValue> metadata, int size) {
  /** llama.cpp's token types. */
  static final int NORMAL = 1;
  static final int UNKNOWN = 2;
  static final int CONTROL = 3;
  static final int BYTE = 6;

  public Vocabulary {
    metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
  }

  /** Every {@code tokenizer.*} key of a GGUF file (a model or a vocabulary-only file). */
  public static Vocabulary fromGguf(Path file) throws IOException {
    try (GgufFile f = GgufFile.open(file)) {
      Map<String, GgufValue> kv = new LinkedHashMap<>();
      for (Map.Entry<String, GgufValue> e : f.metadata().asMap().entrySet()) {
        if (e.getKey().startsWith("tokenizer.")) {
          kv.put(e.getKey(), e.getValue());
        }
      }
      String[] tokens = f.metadata().stringArray("tokenizer.ggml.tokens").orElseThrow(() -> new GgufFormatException(file + ": has no tokenizer.ggml.tokens, so no vocabulary"));
      return new Vocabulary(kv, tokens.length);
    }
  }

  /**
   * A valid SentencePiece-style (llama.cpp {@code tokenizer.ggml.model = "llama"}) vocabulary of {@code size} tokens:
   * {@code <unk>} (0), {@code <s>} (1), {@code </s>} (2), the 256 byte tokens {@code <0x00>}..{@code <0xFF>}, then
   * distinct pieces: {@code ▁}, the printable ASCII characters, then {@code ▁}-prefixed and bare lower-case letter
   * strings (a, b, ..., z, aa, ab, ...), alternating. Scores: 0 for the special and byte tokens, then 0, -1, -2, ... in
   * piece order (earlier pieces merge first), like stories260K's.
   */
  public static Vocabulary sentencePiece(int size) {
    if (size < 259 + 1) {
      throw new IllegalArgumentException("a SentencePiece vocabulary needs at least 260 tokens (3 special, 256 bytes, 1 piece), not " + size);
    }
    String[] tokens = new String[size];
    float[] scores = new float[size];
    int[] types = new int[size];
    tokens[0] = "<unk>";
    types[0] = UNKNOWN;
    tokens[1] = "<s>";
    types[1] = CONTROL;
    tokens[2] = "</s>";
    types[2] = CONTROL;
    for (int b = 0; b < 256; b++) {
      tokens[3 + b] = String.format("<0x%02X>", b);
      types[3 + b] = BYTE;
    }
    // pieces: ▁, printable ASCII, then letter strings with and without the word-start mark
    Set<String> pieces = new LinkedHashSet<>();
    pieces.add("▁");
    for (char c = '!'; c <= '~' && pieces.size() < size - 259; c++) {
      pieces.add(String.valueOf(c));
    }
    for (long k = 0; pieces.size() < size - 259; k++) {
      String word = letters(k / 2);
      pieces.add(k % 2 == 0 ? "▁" + word : word);
    }
    int i = 259;
    for (String p : pieces) {
      tokens[i] = p;
      scores[i] = -(i - 259);
      types[i] = NORMAL;
      i++;
    }
    Map<String, GgufValue> kv = new LinkedHashMap<>();
    kv.put("tokenizer.ggml.model", GgufValue.ofString("llama"));
    kv.put("tokenizer.ggml.tokens", GgufValue.ofArray(GgufArray.ofStrings(tokens)));
    kv.put("tokenizer.ggml.scores", GgufValue.ofArray(GgufArray.ofFloats(scores)));
    kv.put("tokenizer.ggml.token_type", GgufValue.ofArray(new GgufArray(GgufValueType.INT32, types)));
    kv.put("tokenizer.ggml.bos_token_id", GgufValue.ofUInt32(1));
    kv.put("tokenizer.ggml.eos_token_id", GgufValue.ofUInt32(2));
    kv.put("tokenizer.ggml.unknown_token_id", GgufValue.ofUInt32(0));
    kv.put("tokenizer.ggml.add_bos_token", GgufValue.ofBool(true));
    kv.put("tokenizer.ggml.add_eos_token", GgufValue.ofBool(false));
    return new Vocabulary(kv, size);
  }

  /** Bijective base-26: 0 -> a, 25 -> z, 26 -> aa, ... */
  private static String letters(long k) {
    StringBuilder sb = new StringBuilder();
    long n = k + 1;
    while (n > 0) {
      n--;
      sb.append((char) ('a' + n % 26));
      n /= 26;
    }
    return sb.reverse().toString();
  }
}
