package dev.caravan.engine.tokenizer;

import java.util.List;

/**
 * Builds a model's prompt for a chat: renders the messages through the model's chat template (its Jinja template, or
 * the built-in format llama.cpp would pick) and tokenizes the result with special tokens parsed, adding BOS only when
 * the rendered text does not already start with it — llama.cpp's common chat path.
 */
public final class ChatPrompt {
  private final Tokenizer tokenizer;
  private final ChatTemplate template;
  private final String bos;
  private final String eos;

  public ChatPrompt(Tokenizer tokenizer) {
    this.tokenizer = tokenizer;
    Vocabulary v = tokenizer.vocabulary();
    this.template = ChatTemplate.forVocabulary(v);
    this.bos = v.bos() == Vocabulary.NO_TOKEN ? "" : v.token(v.bos());
    this.eos = v.eos() == Vocabulary.NO_TOKEN ? "" : v.token(v.eos());
  }

  /** The rendered text of a conversation, ready for the assistant's turn. */
  public String render(List<ChatMessage> messages) {
    return template.render(messages, true, bos, eos);
  }

  /** The token ids of a conversation, ready for the assistant's turn. */
  public int[] encode(List<ChatMessage> messages) {
    String text = render(messages);
    boolean hasBos = !bos.isEmpty() && text.startsWith(bos);
    return tokenizer.encode(text, !hasBos, true);
  }

  /** One user message. */
  public int[] encodeUser(String message) {
    return encode(List.of(new ChatMessage("user", message)));
  }
}
