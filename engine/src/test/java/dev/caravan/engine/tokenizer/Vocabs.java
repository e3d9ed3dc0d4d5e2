package dev.caravan.engine.tokenizer;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufMetadata;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** The shared test vocabularies, each loaded once per test JVM, and llama.cpp's tokenizer test vectors. */
final class Vocabs {
  private Vocabs() {}

  static final String SPM = "tokenizer/ggml-vocab-llama-spm.gguf";
  static final String GPT2 = "tokenizer/ggml-vocab-gpt-2.gguf";
  static final String LLAMA3 = "tokenizer/llama3-vocab.gguf";

  private static final Map<String, Tokenizer> CACHE = new ConcurrentHashMap<>();

  /** The tokenizer of an oracle vocabulary file (path relative to the oracle directory). */
  static Tokenizer oracle(String relative) {
    return CACHE.computeIfAbsent(relative, r -> load(TestData.oracle(r)));
  }

  static Tokenizer stories260K() {
    return CACHE.computeIfAbsent("stories260K", r -> load(TestData.stories260K()));
  }

  static GgufMetadata metadata(Path file) {
    try (GgufFile f = GgufFile.open(file)) {
      return f.metadata();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Tokenizer load(Path file) {
    try {
      return Tokenizer.fromGguf(metadata(file));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** One llama.cpp test vector: the input text and the ids llama_tokenize(add_special=false, parse_special=false) gives. */
  record Vector(int index, String text, int[] ids) {
    @Override
    public String toString() {
      return "#" + index + " " + quote(text);
    }
  }

  /** Reads {@code NAME.inp} / {@code NAME.out} (llama.cpp tests/test-tokenizer-0 format). */
  static List<Vector> vectors(String inpRelative, String outRelative) {
    try {
      String inp = Files.readString(TestData.oracle(inpRelative), StandardCharsets.UTF_8);
      List<String> out = Files.readAllLines(TestData.oracle(outRelative), StandardCharsets.UTF_8);
      String sep = "\n__ggml_vocab_test__\n";
      List<String> texts = new ArrayList<>();
      int pos = 0;
      while (pos < inp.length()) {
        int next = inp.indexOf(sep, pos);
        if (next < 0) {
          texts.add(inp.substring(pos));
          break;
        }
        texts.add(inp.substring(pos, next));
        pos = next + sep.length();
      }
      if (texts.size() != out.size()) {
        throw new IllegalStateException(inpRelative + " has " + texts.size() + " tests but " + outRelative + " has " + out.size() + " lines");
      }
      List<Vector> vectors = new ArrayList<>();
      for (int i = 0; i < texts.size(); i++) {
        String line = out.get(i).strip();
        int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" +")).mapToInt(Integer::parseInt).toArray();
        vectors.add(new Vector(i, texts.get(i), ids));
      }
      return vectors;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String quote(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\n' -> sb.append("\\n");
        case '\t' -> sb.append("\\t");
        case '\r' -> sb.append("\\r");
        case '"' -> sb.append("\\\"");
        default -> sb.append(c);
      }
    }
    return sb.append('"').toString();
  }

  static int[] parseIds(String s) {
    String t = s.strip();
    return t.isEmpty() ? new int[0] : Arrays.stream(t.split("\\s+")).mapToInt(Integer::parseInt).toArray();
  }
}
