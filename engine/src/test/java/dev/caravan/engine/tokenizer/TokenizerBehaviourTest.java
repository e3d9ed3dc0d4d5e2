package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.caravan.engine.TestData;
import dev.caravan.engine.tokenizer.Vocabs.Vector;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** Encoding and decoding details beyond the vector files: specials, BOS, pieces, end-of-generation, round trips. */
class TokenizerBehaviourTest {

  @Test
  void llama3HelloWorld() {
    Tokenizer t = Vocabs.oracle(Vocabs.LLAMA3);
    assertArrayEquals(new int[] {9906, 1917}, t.encode("Hello world", false, false));
    assertArrayEquals(new int[] {128000, 9906, 1917}, t.encode("Hello world", true, false));
    assertEquals(128256, t.vocabSize());
    assertEquals(128000, t.bos());
    assertEquals(128001, t.eos());
  }

  @Test
  void stories260KPromptMatchesTheOracle() throws IOException {
    JsonNode oracle = new ObjectMapper().readTree(TestData.oracle("stories260K.oracle.json").toFile());
    int[] inputIds = new int[oracle.get("input_ids").size()];
    for (int i = 0; i < inputIds.length; i++) {
      inputIds[i] = oracle.get("input_ids").get(i).asInt();
    }
    Tokenizer t = Vocabs.stories260K();
    int[] got = t.encode("Once upon a time, there was a little dog named Max.", true, false);
    assertArrayEquals(Arrays.copyOf(inputIds, 17), got);
    // llama.cpp's detokenization of all 32 ids (BOS rendered, its space kept after BOS)
    assertEquals(oracle.get("input_text").asText(), t.decode(inputIds, false, true));
  }

  @Test
  void parseSpecialTurnsControlTextIntoIds() {
    Tokenizer t = Vocabs.oracle(Vocabs.LLAMA3);
    String text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    assertArrayEquals(new int[] {128006, 882, 128007, 271, 13347, 128009}, t.encode(text, false, true));
    int[] plain = t.encode(text, false, false);
    assertTrue(Arrays.stream(plain).allMatch(id -> id < 128000), Arrays.toString(plain));
    assertEquals(text, t.decode(plain));

    // SentencePiece: text after a special token gets the space prefix again
    Tokenizer spm = Vocabs.oracle(Vocabs.SPM);
    int[] ids = spm.encode("Hello</s>world", false, true);
    assertEquals(2, ids[ids.length - 2]);
    assertEquals(spm.vocabulary().id("▁world"), ids[ids.length - 1]);
    assertFalse(Arrays.stream(spm.encode("Hello</s>world", false, false)).anyMatch(id -> id == 2));
  }

  @Test
  void endOfGenerationSets() {
    Vocabulary llama3 = Vocabs.oracle(Vocabs.LLAMA3).vocabulary();
    assertEquals(Set.of(128001, 128009), llama3.endOfGeneration());
    assertEquals(128009, llama3.eot());
    assertTrue(llama3.isEndOfGeneration(128009));
    assertFalse(llama3.isEndOfGeneration(128000));
    assertFalse(llama3.isEndOfGeneration(Vocabulary.NO_TOKEN));

    Vocabulary spm = Vocabs.oracle(Vocabs.SPM).vocabulary();
    assertEquals(Set.of(2), spm.endOfGeneration());
    assertEquals(Vocabulary.NO_TOKEN, spm.eot());

    Vocabulary gpt2 = Vocabs.oracle(Vocabs.GPT2).vocabulary();
    assertEquals(Set.of(50256), gpt2.endOfGeneration());
    assertEquals(50256, gpt2.eot()); // found by its text <|endoftext|>
    assertTrue(gpt2.isControl(50256));
  }

  @Test
  void tokenBytes() {
    Tokenizer spm = Vocabs.oracle(Vocabs.SPM);
    Vocabulary v = spm.vocabulary();
    assertEquals(" Hello", utf8(spm.tokenBytes(v.id("▁Hello"))));
    assertArrayEquals(new byte[] {'\n'}, spm.tokenBytes(v.id("<0x0A>")));
    assertArrayEquals(new byte[] {(byte) 0xFF}, spm.tokenBytes(v.id("<0xFF>")));
    assertEquals("", utf8(spm.tokenBytes(1)));
    assertEquals("<s>", utf8(spm.tokenBytes(1, true)));
    assertEquals("", utf8(spm.tokenBytes(0)));
    assertEquals("<unk>", utf8(spm.tokenBytes(0, true)));

    Tokenizer gpt2 = Vocabs.oracle(Vocabs.GPT2);
    assertEquals(" the", utf8(gpt2.tokenBytes(gpt2.vocabulary().id("Ġthe"))));
    assertEquals("\n", utf8(gpt2.tokenBytes(gpt2.vocabulary().id("Ċ"))));
    assertEquals("<|endoftext|>", utf8(gpt2.tokenBytes(50256, true)));
    assertEquals("", utf8(gpt2.tokenBytes(50256)));
  }

  @Test
  void sentencePieceLeadingSpaceRuleOfDetokenize() {
    Tokenizer spm = Vocabs.oracle(Vocabs.SPM);
    int hello = spm.vocabulary().id("▁Hello");
    assertArrayEquals(new int[] {1, hello}, spm.encode("Hello", true, false));
    // the first piece loses its space; after a BOS (removed or not) the space stays, as in llama_detokenize
    assertEquals("Hello", spm.decode(new int[] {hello}));
    assertEquals(" Hello", spm.decode(new int[] {1, hello}));
    assertEquals(" Hello", spm.decode(new int[] {1, hello}, true, false));
    assertEquals("<s> Hello", spm.decode(new int[] {1, hello}, false, true));
    assertEquals("Hello</s>", spm.decode(new int[] {hello, 2}, false, true));
  }

  @Test
  void byteLevelCleanUpOfSpaces() {
    assertEquals("a? b! c. d, it's I'm we're we've 't 'd 'll x'y", utf8(AbstractTokenizer.cleanUpSpaces(bytes("a ? b ! c . d , it 's I 'm we 're we 've 't 'd 'll x ' y"))));
    assertEquals("", utf8(AbstractTokenizer.cleanUpSpaces(new byte[0])));
    Tokenizer llama3 = Vocabs.oracle(Vocabs.LLAMA3);
    assertEquals("Hello?", llama3.decode(llama3.encode("Hello ?", false, false)));
  }

  /** Where llama.cpp does not round-trip: byte-level BPE's clean-up removes the space in " ?" (vectors 32 and 45). */
  @Test
  void roundTripsWhereLlamaCppDoes() {
    List<Vector> vectors = Vocabs.vectors("tokenizer/ggml-vocab-llama-spm.gguf.inp", "tokenizer/ggml-vocab-llama-spm.gguf.out");
    for (String file : List.of(Vocabs.SPM, Vocabs.GPT2, Vocabs.LLAMA3)) {
      Tokenizer t = Vocabs.oracle(file);
      Set<Integer> notRoundTripping = new TreeSet<>();
      for (Vector v : vectors) {
        int[] ids = t.encode(v.text(), false, false);
        String back = t.decode(ids);
        // the pieces always concatenate back to the input (SentencePiece: minus the prefix space)
        assertEquals(v.text(), StreamingDetokenizer.streamAll(t, ids, false, false), file + " " + v);
        String expected = t.vocabulary().cleanSpaces() ? utf8(AbstractTokenizer.cleanUpSpaces(bytes(v.text()))) : v.text();
        assertEquals(expected, back, file + " " + v);
        if (!back.equals(v.text())) {
          notRoundTripping.add(v.index());
        }
      }
      Set<Integer> expected = t.vocabulary().model() == Vocabulary.Model.SENTENCE_PIECE ? Set.of() : Set.of(32, 45);
      assertEquals(expected, notRoundTripping, file);
      System.out.printf("%s: round trip %d/%d (not: %s)%n", file, vectors.size() - notRoundTripping.size(), vectors.size(),
          notRoundTripping.stream().map(String::valueOf).collect(Collectors.joining(",")));
    }
  }

  @Test
  void addSpecialWithEmptyText() {
    assertArrayEquals(new int[] {1}, Vocabs.oracle(Vocabs.SPM).encode("", true, false));
    assertArrayEquals(new int[0], Vocabs.oracle(Vocabs.SPM).encode("", false, false));
    assertArrayEquals(new int[] {128000}, Vocabs.oracle(Vocabs.LLAMA3).encode("", true, true));
    // GPT-2 does not add BOS (no add_bos_token key, and the gpt-2 pre-tokenizer does not imply it)
    assertArrayEquals(new int[0], Vocabs.oracle(Vocabs.GPT2).encode("", true, false));
  }

  static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
