/**
 * Tokenizers and chat templates that reproduce llama.cpp ({@code src/llama-vocab.cpp}, {@code src/unicode.cpp},
 * {@code src/llama-chat.cpp}) exactly.
 *
 * <ul>
 *   <li>{@link dev.caravan.engine.tokenizer.Vocabulary}: the GGUF {@code tokenizer.*} metadata as llama.cpp loads it
 *       (defaults, special ids, text-based end-of-generation detection, flags).
 *   <li>{@link dev.caravan.engine.tokenizer.Tokenizer}: {@code encode} = {@code llama_tokenize}, {@code tokenBytes} =
 *       {@code llama_token_to_piece}, {@code decode} = {@code llama_detokenize}; implemented by
 *       {@link dev.caravan.engine.tokenizer.SentencePieceTokenizer} ({@code tokenizer.ggml.model = llama}) and
 *       {@link dev.caravan.engine.tokenizer.BpeTokenizer} ({@code gpt2}, pre-tokenizers {@code llama-bpe} family,
 *       {@code gpt-2} family and llama.cpp's {@code default}).
 *   <li>{@link dev.caravan.engine.tokenizer.StreamingDetokenizer}: token-by-token text output that never splits a
 *       UTF-8 character.
 *   <li>{@link dev.caravan.engine.tokenizer.ChatTemplate}: Jinja chat templates (jinjava set up like Hugging Face's
 *       Jinja2 environment) and llama.cpp's built-in formats ({@link dev.caravan.engine.tokenizer.BuiltinChatTemplate})
 *       with llama.cpp's template-family detection.
 * </ul>
 *
 * <p>Verified against llama.cpp b10470 (the oracle in {@code testdata/oracle}): the llama.cpp tokenizer test vectors for
 * the Llama 2 SentencePiece, GPT-2 and Llama 3 vocabularies, stories260K's prompt, the rendered chat templates and
 * their token ids.
 *
 * <p>Known limits: other tokenizer models (BERT WordPiece, T5 Unigram, RWKV, PLaMo-2) and other BPE pre-tokenizers
 * ({@code qwen2}, {@code deepseek-*}, {@code tekken}, ...) are refused with a message rather than approximated; Unicode
 * categories come from the JDK (Unicode 16), llama.cpp's table is older, so characters new in the later version may
 * split differently.
 */
package dev.caravan.engine.tokenizer;
