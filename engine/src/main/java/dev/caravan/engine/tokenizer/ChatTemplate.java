package dev.caravan.engine.tokenizer;

import java.time.ZonedDateTime;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Renders a conversation into the prompt text a model was trained on.
 *
 * <p>Two kinds: {@linkplain #jinja Jinja templates} (the model's {@code tokenizer.chat_template}, rendered like
 * Hugging Face's {@code apply_chat_template}) and llama.cpp's {@linkplain BuiltinChatTemplate built-in renderers}
 * ({@code llama_chat_apply_template} by name), with {@link #detect} picking the built-in family from a template's source
 * the way llama.cpp does for models without a usable Jinja template.
 */
public interface ChatTemplate {

  /**
   * What a rendering needs besides the messages.
   *
   * @param addGenerationPrompt end with the header of an assistant turn
   * @param bosToken the text of the BOS token ({@code bos_token} in Jinja); built-in renderers ignore it
   * @param eosToken the text of the EOS token ({@code eos_token} in Jinja); built-in renderers ignore it
   * @param now the time {@code strftime_now} reports
   * @param extraVariables more Jinja variables ({@code tools}, {@code date_string}, ...), Java maps/lists/strings/numbers
   */
  record Options(boolean addGenerationPrompt, String bosToken, String eosToken, ZonedDateTime now, Map<String, Object> extraVariables) {
    public Options {
      Objects.requireNonNull(bosToken, "bosToken");
      Objects.requireNonNull(eosToken, "eosToken");
      Objects.requireNonNull(now, "now");
      extraVariables = Map.copyOf(extraVariables);
    }

    /** Options rendered "now", with no extra variables. */
    public static Options of(boolean addGenerationPrompt, String bosToken, String eosToken) {
      return new Options(addGenerationPrompt, bosToken, eosToken, ZonedDateTime.now(), Map.of());
    }

    public Options withNow(ZonedDateTime time) {
      return new Options(addGenerationPrompt, bosToken, eosToken, time, extraVariables);
    }

    public Options withExtraVariables(Map<String, Object> variables) {
      return new Options(addGenerationPrompt, bosToken, eosToken, now, variables);
    }
  }

  /**
   * Renders {@code messages}.
   *
   * @throws ChatTemplateException when the template fails or rejects the conversation ({@code raise_exception})
   */
  String render(List<ChatMessage> messages, Options options);

  /** Renders with the current time and no extra variables. */
  default String render(List<ChatMessage> messages, boolean addGenerationPrompt, String bosToken, String eosToken) {
    return render(messages, Options.of(addGenerationPrompt, bosToken, eosToken));
  }

  /** A Jinja template (Hugging Face {@code chat_template} source). */
  static ChatTemplate jinja(String source) {
    return new JinjaChatTemplate(source);
  }

  /**
   * llama.cpp's built-in renderer with this name ({@code chatml}, {@code llama2}, {@code llama2-sys-strip},
   * {@code llama3}, {@code mistral-v1}, {@code mistral-v3}, {@code mistral-v7}, {@code vicuna}, {@code zephyr}, ...).
   *
   * @throws IllegalArgumentException for a name that is not one, listing the names there are
   */
  static ChatTemplate builtin(String name) {
    return BuiltinChatTemplate.byName(name);
  }

  /**
   * The llama.cpp template family a template source belongs to ({@code llm_chat_detect_template}): either the source is
   * a built-in name, or it is recognised by marker strings ({@code <|im_start|>} is ChatML, {@code [INST]} Mistral or
   * Llama 2, ...). Empty when llama.cpp would not recognise it, or recognises a family Caravan has no renderer for.
   */
  static Optional<BuiltinChatTemplate> detect(String source) {
    return BuiltinChatTemplate.detect(source);
  }

  /**
   * The template a model uses: its {@code tokenizer.chat_template} as Jinja, or ChatML (llama.cpp's default) when it has
   * none.
   */
  static ChatTemplate forVocabulary(Vocabulary vocabulary) {
    return vocabulary.chatTemplate().<ChatTemplate>map(ChatTemplate::jinja).orElse(BuiltinChatTemplate.CHATML);
  }
}
