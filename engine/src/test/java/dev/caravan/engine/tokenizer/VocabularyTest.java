package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufMetadata;
import dev.caravan.engine.gguf.GgufValue;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Vocabulary loading from synthetic metadata: defaults, text-based detection, and refusals with clear messages. */
class VocabularyTest {

  /** A tiny SentencePiece vocabulary: unk, bos, eos, then normal pieces with scores. */
  private static Map<String, GgufValue> spm(String... pieces) {
    List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
    tokens.addAll(List.of(pieces));
    float[] scores = new float[tokens.size()];
    int[] types = new int[tokens.size()];
    for (int i = 0; i < tokens.size(); i++) {
      scores[i] = -i;
      types[i] = i == 0 ? 2 : i < 3 ? 3 : 1;
    }
    Map<String, GgufValue> m = new LinkedHashMap<>();
    m.put("general.name", GgufValue.ofString("synthetic"));
    m.put("tokenizer.ggml.model", GgufValue.ofString("llama"));
    m.put("tokenizer.ggml.tokens", GgufValue.ofArray(GgufArray.ofStrings(tokens.toArray(String[]::new))));
    m.put("tokenizer.ggml.scores", GgufValue.ofArray(GgufArray.ofFloats(scores)));
    m.put("tokenizer.ggml.token_type", GgufValue.ofArray(GgufArray.ofInt32s(types)));
    return m;
  }

  /** A tiny byte-level BPE vocabulary: the 256 byte characters, then the given merged tokens and merges. */
  private static Map<String, GgufValue> bpe(String pre, List<String> extraTokens, List<String> merges) {
    List<String> tokens = new ArrayList<>();
    for (int b = 0; b < 256; b++) {
      tokens.add(String.valueOf(ByteLevel.charOf(b)));
    }
    tokens.addAll(extraTokens);
    Map<String, GgufValue> m = new LinkedHashMap<>();
    m.put("tokenizer.ggml.model", GgufValue.ofString("gpt2"));
    if (pre != null) {
      m.put("tokenizer.ggml.pre", GgufValue.ofString(pre));
    }
    m.put("tokenizer.ggml.tokens", GgufValue.ofArray(GgufArray.ofStrings(tokens.toArray(String[]::new))));
    m.put("tokenizer.ggml.merges", GgufValue.ofArray(GgufArray.ofStrings(merges.toArray(String[]::new))));
    return m;
  }

  private static Vocabulary load(Map<String, GgufValue> m) throws GgufFormatException {
    return Vocabulary.fromGguf(new GgufMetadata("test.gguf", m));
  }

  private static String failure(Map<String, GgufValue> m) {
    return assertThrows(GgufFormatException.class, () -> load(m)).getMessage();
  }

  @Test
  void sentencePieceDefaults() throws GgufFormatException {
    Vocabulary v = load(spm("▁", "a", "b", "▁a", "ab"));
    assertEquals(Vocabulary.Model.SENTENCE_PIECE, v.model());
    assertEquals(1, v.bos());
    assertEquals(2, v.eos());
    assertEquals(0, v.unknown());
    assertTrue(v.addBos());
    assertFalse(v.addEos());
    assertTrue(v.addSpacePrefix());
    assertEquals(Set.of(2), v.endOfGeneration()); // </s> by text and as EOS
    assertTrue(v.chatTemplate().isEmpty());
  }

  @Test
  void sentencePieceWithoutByteTokensFallsBackToUnknown() throws GgufFormatException {
    Tokenizer t = Tokenizer.of(load(spm("▁", "a", "b", "▁a", "ab")));
    // "▁ab▁c": "▁a" (score -6) beats "ab" (-7); "c" has neither a token nor a byte token: unk
    assertArrayEquals(new int[] {6, 5, 3, 0}, t.encode("ab c", false, false));
  }

  @Test
  void metadataOverridesAndChatTemplate() throws GgufFormatException {
    Map<String, GgufValue> m = spm("▁", "a", "<|im_end|>");
    m.put("tokenizer.ggml.add_bos_token", GgufValue.ofBool(false));
    m.put("tokenizer.ggml.add_eos_token", GgufValue.ofBool(true));
    m.put("tokenizer.ggml.add_space_prefix", GgufValue.ofBool(false));
    m.put("tokenizer.ggml.padding_token_id", GgufValue.ofUInt32(99)); // out of range: ignored with a warning
    m.put("tokenizer.chat_template", GgufValue.ofString("{{ messages }}"));
    Vocabulary v = load(m);
    assertFalse(v.addBos());
    assertTrue(v.addEos());
    assertFalse(v.addSpacePrefix());
    assertEquals(Vocabulary.NO_TOKEN, v.padding());
    assertEquals("{{ messages }}", v.chatTemplate().orElseThrow());
    // <|im_end|> (normal in the file) is found by text: end-of-turn, control, end-of-generation
    assertEquals(5, v.eot());
    assertTrue(v.isControl(5));
    assertEquals(Set.of(2, 5), v.endOfGeneration());
    assertArrayEquals(new int[] {3, 4, 2}, Tokenizer.of(v).encode(" a", true, false));
  }

  @Test
  void refusesUnknownTokenizerModel() {
    Map<String, GgufValue> m = spm("a");
    m.put("tokenizer.ggml.model", GgufValue.ofString("bert"));
    String msg = failure(m);
    assertTrue(msg.contains("'bert'") && msg.contains("'llama'") && msg.contains("'gpt2'"), msg);
  }

  @Test
  void refusesInconsistentLengths() {
    Map<String, GgufValue> m = spm("a", "b");
    m.put("tokenizer.ggml.scores", GgufValue.ofArray(GgufArray.ofFloats(0f, 0f)));
    String msg = failure(m);
    assertTrue(msg.contains("tokenizer.ggml.scores has 2 entries") && msg.contains("has 5"), msg);

    m = spm("a", "b");
    m.put("tokenizer.ggml.token_type", GgufValue.ofArray(GgufArray.ofInt32s(1, 1, 1, 1, 1, 1)));
    msg = failure(m);
    assertTrue(msg.contains("tokenizer.ggml.token_type has 6 entries"), msg);
  }

  @Test
  void refusesIdsOutsideTheVocabulary() {
    for (String key : List.of("bos_token_id", "eos_token_id", "eot_token_id", "eom_token_id", "unknown_token_id")) {
      Map<String, GgufValue> m = spm("a");
      m.put("tokenizer.ggml." + key, GgufValue.ofUInt32(4));
      String msg = failure(m);
      assertTrue(msg.contains("tokenizer.ggml." + key + " = 4") && msg.contains("0..3"), msg);
    }
  }

  @Test
  void refusesDuplicatesMissingTokensAndBadTypes() {
    String msg = failure(spm("a", "a"));
    assertTrue(msg.contains("duplicate token") && msg.contains("'a'") && msg.contains("3 and 4"), msg);

    Map<String, GgufValue> m = spm("a");
    m.remove("tokenizer.ggml.tokens");
    assertTrue(failure(m).contains("tokenizer.ggml.tokens is missing"));

    m = spm("a");
    m.put("tokenizer.ggml.scores", GgufValue.ofArray(GgufArray.ofStrings("x", "y", "z", "w")));
    assertTrue(failure(m).contains("expected FLOAT32 or INT32"));

    m = spm("a");
    m.put("tokenizer.ggml.add_bos_token", GgufValue.ofBool(true));
    m.put("tokenizer.ggml.model", GgufValue.ofString("gpt2"));
    m.put("tokenizer.ggml.pre", GgufValue.ofString("gpt-2"));
    m.put("tokenizer.ggml.merges", GgufValue.ofArray(GgufArray.ofStrings()));
    // gpt2 defaults BOS to 11, which a 4-token vocabulary does not have
    assertTrue(failure(m).contains("add_bos_token is true, but tokenizer.ggml.bos_token_id is not set"));
  }

  @Test
  void byteLevelPreTokenizerNames() throws GgufFormatException {
    Map<String, GgufValue> m = bpe("qwen2", List.of(), List.of());
    String msg = failure(m);
    assertTrue(msg.contains("'qwen2'") && msg.contains("llama-bpe") && msg.contains("gpt-2"), msg);

    m = bpe(null, List.of(), List.of());
    m.remove("tokenizer.ggml.merges");
    assertTrue(failure(m).contains("tokenizer.ggml.merges is missing"));

    Vocabulary llama3 = load(bpe("llama-bpe", List.of(), List.of()));
    assertEquals(Vocabulary.PreTokenizer.LLAMA3, llama3.preTokenizer());
    assertTrue(llama3.ignoreMerges());
    assertTrue(llama3.cleanSpaces());
    assertEquals(Vocabulary.PreTokenizer.GPT2, load(bpe("gpt-2", List.of(), List.of())).preTokenizer());
  }

  @Test
  void byteLevelMergesByRank() throws GgufFormatException {
    // merges: rank 0 "h e", rank 1 "t he", rank 2 "Ġ the"; ids 256.. for the merged tokens
    Tokenizer t = Tokenizer.of(load(bpe("gpt-2", List.of("he", "the", "Ġthe"), List.of("h e", "t he", "Ġ the"))));
    // this synthetic vocabulary lists the byte characters in byte order: 't' is id 0x74
    assertArrayEquals(new int[] {257, 258}, t.encode("the the", false, false));
    assertArrayEquals(new int[] {0x74, 257}, t.encode("tthe", false, false));
    assertArrayEquals(new int[] {257, 0x74}, t.encode("thet", false, false));
    assertArrayEquals(new int[] {0x73, 256, 0x74}, t.encode("shet", false, false));
    assertEquals("the the", t.decode(t.encode("the the", false, false)));
  }

  @Test
  void missingPreTokenizerUsesLlamaCppsDefault() throws GgufFormatException {
    Vocabulary v = load(bpe(null, List.of("he"), List.of("h e")));
    assertEquals(Vocabulary.PreTokenizer.DEFAULT, v.preTokenizer());
    Tokenizer t = Tokenizer.of(v);
    // the default set splits punctuation runs and numbers apart, then GPT-2 words
    assertEquals("he said: 12345!", t.decode(t.encode("he said: 12345!", false, false)));
    assertEquals(List.of("he", " said", ":", " ", "123", "45", "!"), words(Vocabulary.PreTokenizer.DEFAULT, "he said: 12345!"));
  }

  @Test
  void preTokenizerWords() {
    // GPT-2: contractions, optional space before letters/numbers/punctuation, trailing whitespace kept apart
    assertEquals(List.of("Hello", ",", " y", "'", "all", "!", "  ", " 123", "\n"), words(Vocabulary.PreTokenizer.GPT2, "Hello, y'all!   123\n"));
    // Llama 3: case-insensitive contractions, numbers in threes, newlines with preceding whitespace
    assertEquals(List.of("We", "'VE", " ", "123", "4", " \n\n", "  ", " x", "?!\n"), words(Vocabulary.PreTokenizer.LLAMA3, "We'VE 1234 \n\n   x?!\n"));
    // non-ASCII whitespace is whitespace (Java's \s would say no)
    assertEquals(List.of("a", "\u3000", "b"), words(Vocabulary.PreTokenizer.GPT2, "a\u3000b"));
  }

  private static List<String> words(Vocabulary.PreTokenizer pre, String text) {
    int[] cps = text.codePoints().toArray();
    IntList lens = PreTokenizers.split(pre, cps);
    List<String> out = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < lens.size(); i++) {
      out.add(new String(cps, start, lens.get(i)));
      start += lens.get(i);
    }
    return out;
  }
}
