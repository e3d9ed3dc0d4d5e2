package dev.caravan.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.tokenizer.Vocabs.Vector;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Characters split across tokens come out whole and once; invalid bytes never throw; the first-token space rule. */
class StreamingDetokenizerTest {

  /** Feeds ids one at a time; returns what each call returned, then what finish returned. */
  private static List<String> feed(StreamingDetokenizer d, int... ids) {
    List<String> out = new ArrayList<>();
    for (int id : ids) {
      out.add(d.accept(id));
    }
    out.add(d.finish());
    return out;
  }

  private static int[] byteTokens(Tokenizer spm, String text) {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    int[] ids = new int[b.length];
    for (int i = 0; i < b.length; i++) {
      ids[i] = spm.vocabulary().id(String.format("<0x%02X>", b[i] & 0xFF));
    }
    return ids;
  }

  @Test
  void sentencePieceByteTokensAssembleEmojiAndCjk() {
    Tokenizer spm = Vocabs.oracle(Vocabs.SPM);
    // the Llama 2 vocabulary has no 🦙: llama.cpp encodes it as four byte tokens
    int[] llama = spm.encode("🦙", false, false);
    int space = spm.vocabulary().id("▁");
    assertEquals(space, llama[0]);
    int[] emojiBytes = java.util.Arrays.copyOfRange(llama, 1, llama.length);
    assertEquals(4, emojiBytes.length);
    StreamingDetokenizer d = new StreamingDetokenizer(spm, false, false, true);
    assertEquals("", d.accept(llama[0])); // the prefix space of the first piece is dropped
    for (int i = 0; i < 3; i++) {
      assertEquals("", d.accept(emojiBytes[i]));
      assertEquals(i + 1, d.pendingBytes());
    }
    assertEquals("🦙", d.accept(emojiBytes[3]));
    assertEquals(0, d.pendingBytes());
    assertEquals("", d.finish());

    // a CJK character as byte tokens, then a normal piece in the same stream
    int[] cjk = byteTokens(spm, "龘");
    assertEquals(List.of("", "", "龘", " Hello", ""), feed(new StreamingDetokenizer(spm, false, false, false), cjk[0], cjk[1], cjk[2], spm.vocabulary().id("▁Hello")));
  }

  @Test
  void gpt2BytePiecesAssembleEmoji() {
    for (String file : List.of(Vocabs.GPT2, Vocabs.LLAMA3)) {
      Tokenizer t = Vocabs.oracle(file);
      for (String text : List.of("😁", "🦙🦙", "我想在apple工作", "😶‍🌫️")) {
        int[] ids = t.encode(text, false, false);
        StreamingDetokenizer d = t.streamingDetokenizer();
        StringBuilder all = new StringBuilder();
        for (int id : ids) {
          String s = d.accept(id);
          // whatever comes out is whole characters (no U+FFFD), and never more than is complete
          assertTrue(s.indexOf('\uFFFD') < 0, file + " " + text + ": " + s);
          all.append(s);
          assertTrue(text.startsWith(all.toString()), file + " " + text + ": " + all);
        }
        assertEquals("", d.finish());
        assertEquals(text, all.toString(), file);
      }
      // 😁 needs two GPT-2 tokens: nothing until the second
      int[] ids = t.encode("😁", false, false);
      assertTrue(ids.length >= 2, file);
      assertEquals("", t.streamingDetokenizer().accept(ids[0]), file);
    }
  }

  @Test
  void invalidBytesBecomeReplacementCharacters() {
    Tokenizer spm = Vocabs.oracle(Vocabs.SPM);
    int ff = spm.vocabulary().id("<0xFF>");
    int f0 = spm.vocabulary().id("<0xF0>");
    int x9f = spm.vocabulary().id("<0x9F>");
    int x80 = spm.vocabulary().id("<0x80>");
    int e0 = spm.vocabulary().id("<0xE0>");
    int a = spm.vocabulary().id("a");
    // a byte that can never start a character: out at once
    assertEquals(List.of("\uFFFD", ""), feed(new StreamingDetokenizer(spm, false, false, false), ff));
    // a stray continuation byte, then a normal piece
    assertEquals(List.of("\uFFFD", "a", ""), feed(new StreamingDetokenizer(spm, false, false, false), x80, a));
    // a valid but unfinished sequence: held, then one U+FFFD at the end
    assertEquals(List.of("", "", "\uFFFD"), feed(new StreamingDetokenizer(spm, false, false, false), f0, x9f));
    // an unfinished sequence interrupted by ASCII: the broken part and the letter together
    assertEquals(List.of("", "", "\uFFFDa", ""), feed(new StreamingDetokenizer(spm, false, false, false), f0, x9f, a));
    // E0 80 is not a valid prefix (E0 needs A0..BF next): not held
    assertEquals(List.of("", "\uFFFD\uFFFD", ""), feed(new StreamingDetokenizer(spm, false, false, false), e0, x80));
    // in all cases the stream equals decoding all bytes at once
    int[][] cases = {{ff}, {x80, a}, {f0, x9f}, {f0, x9f, a}, {e0, x80}, {f0, a, x9f, x9f, ff}};
    for (int[] ids : cases) {
      byte[] all = spm.decodeBytes(ids, false, false);
      StreamingDetokenizer d = new StreamingDetokenizer(spm, false, false, false);
      assertEquals(new String(all, StandardCharsets.UTF_8), String.join("", feed(d, ids)));
    }
  }

  @Test
  void firstTokenRule() {
    Tokenizer spm = Vocabs.oracle(Vocabs.SPM);
    int hello = spm.vocabulary().id("▁Hello");
    int world = spm.vocabulary().id("▁world");
    assertEquals(List.of("Hello", " world", ""), feed(new StreamingDetokenizer(spm, false, false, true), hello, world));
    assertEquals(List.of(" Hello", " world", ""), feed(new StreamingDetokenizer(spm, false, false, false), hello, world));
    // after a BOS the space stays, whether the BOS is removed or rendered
    assertEquals(List.of("", " Hello", ""), feed(new StreamingDetokenizer(spm, true, false, true), 1, hello));
    assertEquals(List.of("<s>", " Hello", "</s>", ""), feed(new StreamingDetokenizer(spm, false, true, true), 1, hello, 2));
    // byte-level BPE has no space prefix: nothing is stripped
    Tokenizer llama3 = Vocabs.oracle(Vocabs.LLAMA3);
    int[] ids = llama3.encode(" Hello world", false, false);
    assertEquals(" Hello world", StreamingDetokenizer.streamAll(llama3, ids, false, false));
  }

  @Test
  void streamEqualsDetokenizeForAllVectors() {
    List<Vector> vectors = Vocabs.vectors("tokenizer/ggml-vocab-llama-spm.gguf.inp", "tokenizer/ggml-vocab-llama-spm.gguf.out");
    for (String file : List.of(Vocabs.SPM, Vocabs.GPT2, Vocabs.LLAMA3)) {
      Tokenizer t = Vocabs.oracle(file);
      for (Vector v : vectors) {
        int[] ids = t.encode(v.text(), true, false);
        String streamed = StreamingDetokenizer.streamAll(t, ids, false, false);
        // byte-level BPE: detokenize also cleans up spaces before punctuation, which streaming leaves out
        String expected = t.vocabulary().cleanSpaces() ? new String(AbstractTokenizer.cleanUpSpaces(streamed.getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8) : streamed;
        assertEquals(t.decode(ids), expected, file + " " + v);
      }
    }
  }
}
