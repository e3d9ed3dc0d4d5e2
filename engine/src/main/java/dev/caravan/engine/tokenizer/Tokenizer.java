package dev.caravan.engine.tokenizer;

import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufMetadata;
import java.nio.charset.StandardCharsets;

/**
 * Text to token ids and back, exactly as llama.cpp does it ({@code llama_tokenize}, {@code llama_token_to_piece},
 * {@code llama_detokenize}). Implementations are immutable and thread-safe.
 *
 * <p>Two algorithms, chosen by {@code tokenizer.ggml.model}: {@link SentencePieceTokenizer} ({@code llama}) and
 * {@link BpeTokenizer} ({@code gpt2}).
 */
public interface Tokenizer {

  /**
   * The tokenizer for a model's metadata.
   *
   * @throws GgufFormatException when the vocabulary metadata is missing, inconsistent or of a kind Caravan does not
   *     implement (see {@link Vocabulary#fromGguf})
   */
  static Tokenizer fromGguf(GgufMetadata metadata) throws GgufFormatException {
    return of(Vocabulary.fromGguf(metadata));
  }

  /** The tokenizer for a vocabulary. */
  static Tokenizer of(Vocabulary vocabulary) {
    return switch (vocabulary.model()) {
      case SENTENCE_PIECE -> new SentencePieceTokenizer(vocabulary);
      case BYTE_LEVEL_BPE -> new BpeTokenizer(vocabulary);
    };
  }

  Vocabulary vocabulary();

  /**
   * Tokenizes like {@code llama_tokenize(vocab, text, add_special, parse_special)}.
   *
   * @param addSpecial add BOS in front when the vocabulary's add-BOS flag is set, and EOS at the end when its add-EOS
   *     flag is set
   * @param parseSpecial turn control and unknown-token texts found in {@code text} (such as {@code <|eot_id|>}) into
   *     their ids; user-defined tokens are always recognised
   */
  int[] encode(String text, boolean addSpecial, boolean parseSpecial);

  /**
   * The bytes a token stands for ({@code llama_token_to_piece}): SentencePiece {@code ▁} becomes a space, byte tokens
   * {@code <0xNN>} that byte, GPT-2 byte spellings their bytes. Control and unknown tokens give their text when
   * {@code renderSpecial}, else nothing; user-defined tokens always give their text; unused tokens give nothing.
   *
   * @throws IllegalArgumentException when {@code id} is not in the vocabulary
   */
  byte[] tokenBytes(int id, boolean renderSpecial);

  /** {@link #tokenBytes(int, boolean)} without rendering control tokens. */
  default byte[] tokenBytes(int id) {
    return tokenBytes(id, false);
  }

  /**
   * Detokenizes like {@code llama_detokenize(tokens, remove_special, unparse_special)}, as bytes: the pieces
   * concatenated; with SentencePiece's space prefix, one leading space of the first piece is removed (unless a leading
   * BOS was removed); byte-level BPE vocabularies then clean up spaces before punctuation and contractions.
   *
   * @param removeSpecial drop a leading BOS (when the vocabulary adds BOS) and a trailing EOS (when it adds EOS)
   * @param unparseSpecial render control tokens as their text
   */
  byte[] decodeBytes(int[] ids, boolean removeSpecial, boolean unparseSpecial);

  /** {@link #decodeBytes} as text; invalid UTF-8 becomes U+FFFD. */
  default String decode(int[] ids, boolean removeSpecial, boolean unparseSpecial) {
    return new String(decodeBytes(ids, removeSpecial, unparseSpecial), StandardCharsets.UTF_8);
  }

  /** {@code decode(ids, false, false)}: the text the ids stand for, control tokens omitted. */
  default String decode(int[] ids) {
    return decode(ids, false, false);
  }

  /** Number of tokens in the vocabulary. */
  default int vocabSize() {
    return vocabulary().size();
  }

  /** BOS id, or {@link Vocabulary#NO_TOKEN}. */
  default int bos() {
    return vocabulary().bos();
  }

  /** EOS id, or {@link Vocabulary#NO_TOKEN}. */
  default int eos() {
    return vocabulary().eos();
  }

  /** Whether generation ends at this token. */
  default boolean isEndOfGeneration(int id) {
    return vocabulary().isEndOfGeneration(id);
  }

  /** A streaming detokenizer that starts a new text (llama.cpp's detokenize rule for the first token applies). */
  default StreamingDetokenizer streamingDetokenizer() {
    return new StreamingDetokenizer(this, false, false, true);
  }
}
