package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.tokenizer.Vocabs.Vector;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * llama.cpp's tokenizer test vectors (tests/test-tokenizer-0: {@code .inp} texts, {@code .out} ids from
 * {@code llama_tokenize(add_special=false, parse_special=false)}), for the three oracle vocabularies; the round
 * trip is in {@link TokenizerBehaviourTest}.
 */
class TokenizerVectorsTest {

  @Test
  void sentencePieceLlama2MatchesAllVectors() {
    checkVectors(Vocabs.oracle(Vocabs.SPM), "tokenizer/ggml-vocab-llama-spm.gguf.inp", "tokenizer/ggml-vocab-llama-spm.gguf.out");
  }

  @Test
  void gpt2MatchesAllVectors() {
    checkVectors(Vocabs.oracle(Vocabs.GPT2), "tokenizer/ggml-vocab-gpt-2.gguf.inp", "tokenizer/ggml-vocab-gpt-2.gguf.out");
  }

  @Test
  void llama3MatchesAllLlamaBpeVectors() {
    checkVectors(Vocabs.oracle(Vocabs.LLAMA3), "tokenizer/ggml-vocab-llama-bpe.gguf.inp", "tokenizer/ggml-vocab-llama-bpe.gguf.out");
  }

  private static void checkVectors(Tokenizer tok, String inp, String out) {
    List<Vector> vectors = Vocabs.vectors(inp, out);
    assertEquals(46, vectors.size(), inp);
    List<String> failures = new ArrayList<>();
    for (Vector v : vectors) {
      int[] got = tok.encode(v.text(), false, false);
      if (!Arrays.equals(v.ids(), got)) {
        failures.add(v + "\n    expected " + Arrays.toString(v.ids()) + "\n    got      " + Arrays.toString(got));
      }
    }
    System.out.printf("%s: %d/%d vectors exact%n", inp, vectors.size() - failures.size(), vectors.size());
    assertTrue(failures.isEmpty(), failures.size() + " of " + vectors.size() + " vectors differ:\n" + String.join("\n", failures));
  }
}
