package dev.caravan.coordinator;

import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.GenerateRequest;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/** Turns a public GenerateRequest into a validated domain request, or a {@link GenerationException} (INVALID_ARGUMENT, NOT_FOUND) naming the problem. */
final class RequestValidator {
  /** Largest prompt text accepted before tokenizing (the context bounds it further). */
  static final int MAX_PROMPT_CHARS = 4 << 20;
  static final int MAX_STOP_STRINGS = 16;
  static final int MAX_STOP_CHARS = 256;
  private static final Pattern SESSION_ID = Pattern.compile("[A-Za-z0-9._:-]{1,128}");

  private final String modelId;
  private final Tokenizer tokenizer;
  private final int contextLength;
  private final ChatPrompt chat;

  RequestValidator(String modelId, Tokenizer tokenizer, int contextLength, ChatPrompt chat) {
    this.modelId = modelId;
    this.tokenizer = tokenizer;
    this.contextLength = contextLength;
    this.chat = chat;
  }

  void checkModel(String model) {
    if (!model.isEmpty() && !model.equals(modelId)) {
      throw new GenerationException(GenerationError.Kind.NOT_FOUND, "unknown model '" + model + "'; this cluster serves '" + modelId + "'");
    }
  }

  GenerationRequest validate(GenerateRequest r, long deadlineNanos) {
    checkModel(r.getModel());
    int[] prompt = switch (r.getInputCase()) {
      case PROMPT -> {
        String text = r.getPrompt();
        if (text.isEmpty()) {
          throw invalid("prompt is empty");
        }
        if (text.length() > MAX_PROMPT_CHARS) {
          throw invalid("prompt of " + text.length() + " characters is larger than the " + MAX_PROMPT_CHARS + " accepted");
        }
        if (r.getChat()) {
          try {
            yield chat.encodeUser(text);
          } catch (RuntimeException e) {
            throw new GenerationException(GenerationError.Kind.FAILED_PRECONDITION, "model '" + modelId + "': its chat template failed: " + e.getMessage());
          }
        }
        yield tokenizer.encode(text, true, false);
      }
      case PROMPT_IDS -> {
        List<Integer> ids = r.getPromptIds().getIdsList();
        if (ids.isEmpty()) {
          throw invalid("prompt_ids is empty");
        }
        if (ids.size() > contextLength) {
          throw invalid("prompt of " + ids.size() + " tokens does not fit the context length " + contextLength);
        }
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
          int id = ids.get(i);
          if (id < 0 || id >= tokenizer.vocabSize()) {
            throw invalid("prompt_ids[" + i + "] = " + id + " is outside the vocabulary [0, " + tokenizer.vocabSize() + ")");
          }
          out[i] = id;
        }
        yield out;
      }
      case INPUT_NOT_SET -> throw invalid("no prompt: set prompt or prompt_ids");
    };
    if (prompt.length == 0) {
      throw invalid("prompt tokenizes to no tokens");
    }
    if (prompt.length >= contextLength) {
      throw invalid("prompt of " + prompt.length + " tokens does not fit the context length " + contextLength + " (at least one position must be left to generate)");
    }
    if (r.getMaxTokens() <= 0) {
      throw invalid("max_tokens must be positive, not " + r.getMaxTokens());
    }
    if (r.getStopCount() > MAX_STOP_STRINGS) {
      throw invalid("at most " + MAX_STOP_STRINGS + " stop strings, not " + r.getStopCount());
    }
    for (String s : r.getStopList()) {
      if (s.isEmpty() || s.length() > MAX_STOP_CHARS) {
        throw invalid("stop strings must have 1 to " + MAX_STOP_CHARS + " characters");
      }
    }
    String session = r.getSessionId().isEmpty() ? null : r.getSessionId();
    if (session != null && !SESSION_ID.matcher(session).matches()) {
      throw invalid("session_id must be 1 to 128 characters of [A-Za-z0-9._:-]");
    }
    return new GenerationRequest(prompt, sampling(r.getSampling()), r.getMaxTokens(), List.copyOf(r.getStopList()), session, r.getIgnoreEos(), deadlineNanos);
  }

  /** Proto sampling fields with llama.cpp's defaults for those unset; the engine's record validates and names a bad field. */
  SamplingParams sampling(dev.caravan.proto.v1.SamplingParams p) {
    // sizes a client controls are bounded here: the penalty window is allocated per request
    if (p.hasRepeatLastN() && p.getRepeatLastN() > contextLength) {
      throw invalid("sampling: repeat_last_n must be at most the context length " + contextLength + ", not " + p.getRepeatLastN());
    }
    SamplingParams d = SamplingParams.defaults(p.hasSeed() ? p.getSeed() : ThreadLocalRandom.current().nextLong());
    try {
      return new SamplingParams(
          p.hasTemperature() ? p.getTemperature() : d.temperature(),
          p.hasTopK() ? p.getTopK() : d.topK(),
          p.hasTopP() ? p.getTopP() : d.topP(),
          p.hasMinP() ? p.getMinP() : d.minP(),
          p.hasRepeatPenalty() ? p.getRepeatPenalty() : d.repeatPenalty(),
          p.hasRepeatLastN() ? p.getRepeatLastN() : d.repeatLastN(),
          0f,
          0f,
          d.seed());
    } catch (IllegalArgumentException e) {
      throw invalid("sampling: " + e.getMessage().replace("topK", "top_k").replace("topP", "top_p").replace("minP", "min_p").replace("repeatPenalty", "repeat_penalty").replace("repeatLastN", "repeat_last_n"));
    }
  }

  static GenerationException invalid(String message) {
    return new GenerationException(GenerationError.Kind.INVALID_ARGUMENT, message);
  }
}
