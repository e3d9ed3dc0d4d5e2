package dev.caravan.coordinator;

import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.ChatMessage;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.GenerateRequest;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/** Turns a public GenerateRequest into a validated domain request, or a {@link GenerationException} (INVALID_ARGUMENT, NOT_FOUND) naming the problem. */
public final class RequestValidator {
  /** Largest prompt text accepted before tokenizing (the context bounds it further). */
  public static final int MAX_PROMPT_CHARS = 4 << 20;
  public static final int MAX_STOP_STRINGS = 16;
  static final int MAX_STOP_CHARS = 256;
  private static final Pattern SESSION_ID = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

  private final String modelId;
  private final Tokenizer tokenizer;
  private final int contextLength;
  private final ChatPrompt chat;

  public RequestValidator(String modelId, Tokenizer tokenizer, int contextLength, ChatPrompt chat) {
    this.modelId = modelId;
    this.tokenizer = tokenizer;
    this.contextLength = contextLength;
    this.chat = chat;
  }

  public void checkModel(String model) {
    if (!model.isEmpty() && !model.equals(modelId)) {
      throw new GenerationException(GenerationError.Kind.NOT_FOUND, "unknown model " + quoted(model) + "; this cluster serves '" + modelId + "'");
    }
  }

  /** The most characters of a client's value an error message repeats. */
  static final int MAX_QUOTED_CHARS = 64;

  /**
   * A client's value as an error message shows it: quoted, and cut after {@value #MAX_QUOTED_CHARS} characters (a
   * message is a gRPC trailer, and gRPC clients refuse trailers over 8 KiB).
   */
  public static String quoted(String value) {
    if (value.length() <= MAX_QUOTED_CHARS) {
      return "'" + value + "'";
    }
    int cut = Character.isHighSurrogate(value.charAt(MAX_QUOTED_CHARS - 1)) ? MAX_QUOTED_CHARS - 1 : MAX_QUOTED_CHARS;
    return "'" + value.substring(0, cut) + "...' (" + value.length() + " characters)";
  }

  /** The model this cluster serves. */
  public String modelId() {
    return modelId;
  }

  /** The model's context length in tokens. */
  public int contextLength() {
    return contextLength;
  }

  GenerationRequest validate(GenerateRequest r, long deadlineNanos) {
    checkModel(r.getModel());
    int[] prompt = switch (r.getInputCase()) {
      case PROMPT -> r.getChat() ? encodeChat(List.of(ChatMessage.user(checkText("prompt", r.getPrompt())))) : encodeText("prompt", r.getPrompt());
      case PROMPT_IDS -> checkIds("prompt_ids", r.getPromptIds().getIdsList());
      case INPUT_NOT_SET -> throw invalid("no prompt: set prompt or prompt_ids");
    };
    if (r.getMaxTokens() <= 0) {
      throw invalid("max_tokens must be positive, not " + r.getMaxTokens());
    }
    dev.caravan.proto.v1.SamplingParams p = r.getSampling();
    SamplingParams sampling = sampling(new Sampling(
        p.hasTemperature() ? p.getTemperature() : null,
        p.hasTopK() ? p.getTopK() : null,
        p.hasTopP() ? p.getTopP() : null,
        p.hasMinP() ? p.getMinP() : null,
        p.hasRepeatPenalty() ? p.getRepeatPenalty() : null,
        p.hasRepeatLastN() ? p.getRepeatLastN() : null,
        null,
        null,
        p.hasSeed() ? p.getSeed() : null));
    return request(prompt, sampling, r.getMaxTokens(), r.getStopList(), r.getSessionId().isEmpty() ? null : r.getSessionId(), r.getIgnoreEos(), deadlineNanos);
  }

  /** Prompt text, bounded before anything else looks at it. */
  public String checkText(String field, String text) {
    if (text.isEmpty()) {
      throw invalid(field + " is empty");
    }
    if (text.length() > MAX_PROMPT_CHARS) {
      throw invalid(field + " of " + text.length() + " characters is larger than the " + MAX_PROMPT_CHARS + " accepted");
    }
    return text;
  }

  /** Prompt text tokenized as the model asks (BOS added when it wants one, special tokens as plain text). */
  public int[] encodeText(String field, String text) {
    return tokenizer.encode(checkText(field, text), true, false);
  }

  /** A conversation rendered through the model's chat template, ready for the assistant's turn. */
  public int[] encodeChat(List<ChatMessage> messages) {
    long chars = 0;
    for (ChatMessage m : messages) {
      chars += m.content().length();
    }
    if (chars > MAX_PROMPT_CHARS) {
      throw invalid("messages of " + chars + " characters in all are larger than the " + MAX_PROMPT_CHARS + " accepted");
    }
    try {
      return chat.encode(messages);
    } catch (RuntimeException e) {
      throw new GenerationException(GenerationError.Kind.FAILED_PRECONDITION, "model '" + modelId + "': its chat template failed: " + e.getMessage());
    }
  }

  /** Prompt token ids, each inside the vocabulary. */
  public int[] checkIds(String field, List<Integer> ids) {
    if (ids.isEmpty()) {
      throw invalid(field + " is empty");
    }
    if (ids.size() > contextLength) {
      throw invalid("prompt of " + ids.size() + " tokens does not fit the context length " + contextLength);
    }
    int[] out = new int[ids.size()];
    for (int i = 0; i < out.length; i++) {
      Integer id = ids.get(i);
      if (id == null || id < 0 || id >= tokenizer.vocabSize()) {
        throw invalid(field + "[" + i + "] = " + id + " is outside the vocabulary [0, " + tokenizer.vocabSize() + ")");
      }
      out[i] = id;
    }
    return out;
  }

  /**
   * The checks every entry point shares, then the domain request: the prompt fits the context with room to generate,
   * max tokens is positive, stop strings and the session id are bounded.
   */
  public GenerationRequest request(int[] prompt, SamplingParams sampling, int maxTokens, List<String> stop, String session, boolean ignoreEos, long deadlineNanos) {
    if (prompt.length == 0) {
      throw invalid("prompt tokenizes to no tokens");
    }
    if (prompt.length >= contextLength) {
      throw invalid("prompt of " + prompt.length + " tokens does not fit the context length " + contextLength + " (at least one position must be left to generate)");
    }
    if (maxTokens <= 0) {
      throw invalid("max_tokens must be positive, not " + maxTokens);
    }
    if (stop.size() > MAX_STOP_STRINGS) {
      throw invalid("at most " + MAX_STOP_STRINGS + " stop strings, not " + stop.size());
    }
    for (String s : stop) {
      if (s.isEmpty() || s.length() > MAX_STOP_CHARS) {
        throw invalid("stop strings must have 1 to " + MAX_STOP_CHARS + " characters");
      }
    }
    if (session != null && !SESSION_ID.matcher(session).matches()) {
      throw invalid("session_id must be 1 to 128 characters of [A-Za-z0-9._:-]");
    }
    return new GenerationRequest(prompt, sampling, maxTokens, List.copyOf(stop), session, ignoreEos, deadlineNanos);
  }

  /** Sampling fields as a client sent them; null means unset (llama.cpp's default applies). */
  public record Sampling(Float temperature, Integer topK, Float topP, Float minP, Float repeatPenalty, Integer repeatLastN, Float frequencyPenalty, Float presencePenalty, Long seed) {}

  /** Sampling with llama.cpp's defaults for the fields unset; the engine's record validates and names a bad field. */
  public SamplingParams sampling(Sampling p) {
    // sizes a client controls are bounded here: the penalty window is allocated per request
    if (p.repeatLastN() != null && p.repeatLastN() > contextLength) {
      throw invalid("sampling: repeat_last_n must be at most the context length " + contextLength + ", not " + p.repeatLastN());
    }
    SamplingParams d = SamplingParams.defaults(p.seed() != null ? p.seed() : ThreadLocalRandom.current().nextLong());
    try {
      return new SamplingParams(
          p.temperature() != null ? p.temperature() : d.temperature(),
          p.topK() != null ? p.topK() : d.topK(),
          p.topP() != null ? p.topP() : d.topP(),
          p.minP() != null ? p.minP() : d.minP(),
          p.repeatPenalty() != null ? p.repeatPenalty() : d.repeatPenalty(),
          p.repeatLastN() != null ? p.repeatLastN() : d.repeatLastN(),
          p.frequencyPenalty() != null ? p.frequencyPenalty() : d.frequencyPenalty(),
          p.presencePenalty() != null ? p.presencePenalty() : d.presencePenalty(),
          d.seed());
    } catch (IllegalArgumentException e) {
      throw invalid("sampling: " + e.getMessage().replace("topK", "top_k").replace("topP", "top_p").replace("minP", "min_p").replace("repeatPenalty", "repeat_penalty")
          .replace("repeatLastN", "repeat_last_n").replace("frequencyPenalty", "frequency_penalty").replace("presencePenalty", "presence_penalty"));
    }
  }

  public static GenerationException invalid(String message) {
    return new GenerationException(GenerationError.Kind.INVALID_ARGUMENT, message);
  }
}
