package dev.caravan.coordinator.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.caravan.coordinator.RequestValidator;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.core.GenerationException;
import dev.caravan.coordinator.core.GenerationRequest;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.engine.tokenizer.ChatMessage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * One {@code POST /v1/chat/completions} or {@code /v1/completions} body, read with Jackson and checked field by field:
 * a wrong type or value is a 400 naming the field; fields this API does not know are ignored, as OpenAI does; the
 * OpenAI fields that would change the answer and are not supported ({@code n} > 1, {@code echo}, {@code logit_bias},
 * {@code tools}, ...) are a 400 rather than silently ignored.
 *
 * <p>Sampling fields left out stay unset, so {@link RequestValidator#sampling} applies the same llama.cpp defaults as
 * the gRPC API: the same request through either gives the same tokens.
 *
 * @param chat          chat completions (messages) or completions (prompt)
 * @param model         the model named, or "" (any)
 * @param messages      chat: the conversation
 * @param promptText    completions: the prompt as text, or null
 * @param promptIds     completions: the prompt as token ids, or null
 * @param maxTokens     the generation limit, or null (up to the context)
 * @param maxTokensField which field set it ({@code max_tokens} or {@code max_completion_tokens}), for messages
 * @param stop          stop strings (empty: none)
 * @param sampling      the sampling fields as sent (null: unset)
 * @param stream        answer as server-sent events
 * @param includeUsage  {@code stream_options.include_usage}: a last chunk with the usage
 * @param logprobs      how many top log-probabilities per token, or -1 for none (0: the chosen token's only)
 * @param ignoreEos     llama-server's and vLLM's extension: generate past end-of-generation tokens
 */
record OpenAiRequest(
    boolean chat,
    String model,
    List<ChatMessage> messages,
    String promptText,
    List<Integer> promptIds,
    Integer maxTokens,
    String maxTokensField,
    List<String> stop,
    RequestValidator.Sampling sampling,
    boolean stream,
    boolean includeUsage,
    int logprobs,
    boolean ignoreEos) {

  /** At most this many log-probabilities per token, as OpenAI. */
  static final int MAX_TOP_LOGPROBS = 20;
  /** At most this many chat messages (the characters in them are bounded by {@link RequestValidator#MAX_PROMPT_CHARS}). */
  static final int MAX_MESSAGES = 4096;
  private static final Set<String> ROLES = Set.of("system", "user", "assistant");

  static final ObjectMapper JSON = JsonMapper.builder().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS).build();

  /** Reads and checks a body; throws {@link ApiException} (400) naming the first problem. */
  static OpenAiRequest parse(boolean chat, byte[] body) {
    JsonNode root;
    try {
      root = JSON.readTree(body);
    } catch (JsonProcessingException e) {
      JsonLocation at = e.getLocation();
      throw HttpErrors.malformedJson(jsonProblem(e.getOriginalMessage()) + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")")).asException();
    } catch (IOException e) {
      throw HttpErrors.malformedJson(jsonProblem(e.getMessage())).asException();
    }
    if (root == null || root.isMissingNode()) {
      throw HttpErrors.malformedJson("the body is empty; send a JSON object").asException();
    }
    if (!root.isObject()) {
      throw HttpErrors.invalid(null, "the body must be a JSON object, not " + kind(root)).asException();
    }
    return parse(chat, (ObjectNode) root);
  }

  /**
   * Jackson's description of what is wrong with a body, without the Java names it mentions (the type it was read as,
   * the parser features and constraint methods to change): the client can act on the rest.
   */
  static String jsonProblem(String jackson) {
    return String.valueOf(jackson)
        .replaceAll("\\s*\\(bound as `[^`]*`\\)", "") // Trailing token ... (bound as `...JsonNode`)
        .replaceAll(":?\\s*not allowed as per `[^`]*`", "")
        .replaceAll("\\[Source: [^;\\]]*; (line: \\d+, column: \\d+)\\]", "$1") // (start marker at [Source: REDACTED (`...` disabled); line: 1, column: 1])
        .replaceAll(", from `[^`]*`\\)", ")") // exceeds the maximum allowed (1000, from `StreamReadConstraints.getMaxNestingDepth()`)
        .replaceAll(":?\\s*enable `[^`]*` to allow", "")
        .replaceAll("\\s*\\(not recognized as one since Feature '[A-Z_]+' not enabled for parser\\)", "")
        .replaceAll("\\s*`[^`]*`", "");
  }

  static OpenAiRequest parse(boolean chat, ObjectNode o) {
    String model = string(o, "model");
    List<ChatMessage> messages = chat ? messages(o) : List.of();
    String promptText = null;
    List<Integer> promptIds = null;
    if (!chat) {
      JsonNode p = o.get("prompt");
      if (absent(p)) {
        throw HttpErrors.invalid("prompt", "prompt is required: a string, or an array of token ids").asException();
      }
      if (p.isArray() && p.size() == 1 && (p.get(0).isTextual() || p.get(0).isArray())) {
        p = p.get(0); // a batch of one prompt is that prompt
      }
      if (p.isTextual()) {
        promptText = p.textValue();
      } else if (p.isArray()) {
        promptIds = tokenIds(p);
      } else {
        throw typeError("prompt", "a string or an array of token ids", p);
      }
    }

    Integer maxTokens = positive(o, "max_tokens");
    String maxTokensField = "max_tokens";
    Integer maxCompletion = positive(o, "max_completion_tokens");
    if (maxCompletion != null) {
      maxTokens = maxCompletion; // OpenAI's newer name wins
      maxTokensField = "max_completion_tokens";
    }

    List<String> stop = new ArrayList<>();
    JsonNode s = o.get("stop");
    if (!absent(s)) {
      if (s.isTextual()) {
        stop.add(s.textValue());
      } else if (s.isArray()) {
        if (s.size() > RequestValidator.MAX_STOP_STRINGS) {
          throw HttpErrors.invalid("stop", "stop: at most " + RequestValidator.MAX_STOP_STRINGS + " stop strings, not " + s.size()).asException();
        }
        for (int i = 0; i < s.size(); i++) {
          if (!s.get(i).isTextual()) {
            throw typeError("stop[" + i + "]", "a string", s.get(i));
          }
          stop.add(s.get(i).textValue());
        }
      } else {
        throw typeError("stop", "a string or an array of strings", s);
      }
    }

    RequestValidator.Sampling sampling = new RequestValidator.Sampling(
        number(o, "temperature"), integer(o, "top_k"), number(o, "top_p"), number(o, "min_p"), number(o, "repeat_penalty"), integer(o, "repeat_last_n"),
        number(o, "frequency_penalty"), number(o, "presence_penalty"), longInteger(o, "seed"));

    boolean stream = bool(o, "stream", false);
    boolean includeUsage = false;
    JsonNode so = o.get("stream_options");
    if (!absent(so)) {
      if (!so.isObject()) {
        throw typeError("stream_options", "an object", so);
      }
      includeUsage = bool((ObjectNode) so, "stream_options.include_usage", "include_usage", false);
    }

    int logprobs = -1;
    if (chat) {
      boolean wanted = bool(o, "logprobs", false);
      Integer top = integer(o, "top_logprobs");
      if (top != null && !wanted) {
        throw HttpErrors.invalid("top_logprobs", "top_logprobs needs logprobs: true").asException();
      }
      if (wanted) {
        logprobs = top == null ? 0 : checkTop("top_logprobs", top);
      }
    } else {
      Integer top = integer(o, "logprobs");
      if (top != null) {
        logprobs = checkTop("logprobs", top);
      }
    }

    Integer n = integer(o, "n");
    if (n != null && n != 1) {
      throw HttpErrors.invalid("n", "n must be 1: one choice per request (n = " + n + " is not supported; send separate requests)").asException();
    }
    Integer bestOf = integer(o, "best_of");
    if (bestOf != null && bestOf != 1) {
      throw HttpErrors.invalid("best_of", "best_of must be 1 (best_of = " + bestOf + " is not supported)").asException();
    }
    if (bool(o, "echo", false)) {
      throw HttpErrors.invalid("echo", "echo is not supported").asException();
    }
    String suffix = string(o, "suffix");
    if (suffix != null && !suffix.isEmpty()) {
      throw HttpErrors.invalid("suffix", "suffix is not supported").asException();
    }
    unsupportedUnlessEmpty(o, "logit_bias");
    unsupportedUnlessEmpty(o, "tools");
    unsupportedUnlessEmpty(o, "functions");
    JsonNode format = o.get("response_format");
    if (!absent(format)) {
      if (!format.isObject()) {
        throw typeError("response_format", "an object", format);
      }
      String type = string((ObjectNode) format, "response_format.type", "type");
      if (type != null && !type.equals("text")) {
        throw HttpErrors.invalid("response_format", "response_format type '" + type + "' is not supported (only text)").asException();
      }
    }
    string(o, "user"); // accepted, unused: but a string
    boolean ignoreEos = bool(o, "ignore_eos", false);
    return new OpenAiRequest(chat, model == null ? "" : model, messages, promptText, promptIds, maxTokens, maxTokensField, List.copyOf(stop), sampling, stream, includeUsage, logprobs, ignoreEos);
  }

  /**
   * The domain request: the prompt rendered (chat template) and tokenized, every limit checked by the validator the
   * gRPC API uses too. Tokenizing and templates can take a while on a long prompt: not for Netty's event loop.
   */
  GenerationRequest toGeneration(RequestValidator v, long deadlineNanos) {
    v.checkModel(model);
    String field = chat ? "messages" : "prompt";
    int[] prompt;
    try {
      if (chat) {
        prompt = v.encodeChat(messages);
      } else if (promptText != null) {
        prompt = v.encodeText("prompt", promptText);
      } else {
        if (promptIds.size() >= v.contextLength()) {
          throw HttpErrors.contextLengthExceeded(field, promptIds.size(), v.contextLength()).asException();
        }
        prompt = v.checkIds("prompt", promptIds);
      }
    } catch (GenerationException e) {
      if (e.kind() == GenerationError.Kind.INVALID_ARGUMENT) {
        throw HttpErrors.invalid(field, e.getMessage()).asException(); // the prompt's problem: name the field
      }
      throw e;
    }
    if (prompt.length >= v.contextLength()) {
      throw HttpErrors.contextLengthExceeded(field, prompt.length, v.contextLength()).asException();
    }
    // no limit given: up to the context (the sequence ends there with finish reason "length")
    int max = maxTokens != null ? maxTokens : v.contextLength();
    SamplingParams params;
    try {
      params = v.sampling(sampling);
    } catch (GenerationException e) {
      // "sampling: top_p must be in (0, 1] ...": the field is the message's first word after the prefix
      String m = e.getMessage();
      String param = m.startsWith("sampling: ") && m.indexOf(' ', 10) > 10 ? m.substring(10, m.indexOf(' ', 10)) : null;
      throw HttpErrors.invalid(param, m).asException();
    }
    return v.request(prompt, params, max, stop, null, ignoreEos, deadlineNanos);
  }

  // ---- typed fields ------------------------------------------------------------------------------------------------

  private static List<ChatMessage> messages(ObjectNode o) {
    JsonNode ms = o.get("messages");
    if (absent(ms)) {
      throw HttpErrors.invalid("messages", "messages is required: an array of {role, content}").asException();
    }
    if (!ms.isArray()) {
      throw typeError("messages", "an array", ms);
    }
    if (ms.isEmpty()) {
      throw HttpErrors.invalid("messages", "messages is empty").asException();
    }
    if (ms.size() > MAX_MESSAGES) {
      throw HttpErrors.invalid("messages", "at most " + MAX_MESSAGES + " messages, not " + ms.size()).asException();
    }
    List<ChatMessage> out = new ArrayList<>(ms.size());
    for (int i = 0; i < ms.size(); i++) {
      String at = "messages[" + i + "]";
      JsonNode m = ms.get(i);
      if (!m.isObject()) {
        throw typeError(at, "an object", m);
      }
      String role = string((ObjectNode) m, at + ".role", "role");
      if (role == null) {
        throw HttpErrors.invalid(at + ".role", at + ".role is required").asException();
      }
      if (!ROLES.contains(role)) {
        throw HttpErrors.invalid(at + ".role", at + ".role '" + role + "' is not supported (system, user or assistant)").asException();
      }
      out.add(new ChatMessage(role, content(at, role, m.get("content"))));
    }
    return out;
  }

  /** A message's text: a string, or the text parts of an array joined by newlines. */
  private static String content(String at, String role, JsonNode c) {
    String field = at + ".content";
    if (absent(c)) {
      if (role.equals("assistant")) {
        return ""; // an assistant turn that only called tools has none
      }
      throw HttpErrors.invalid(field, field + " is required").asException();
    }
    if (c.isTextual()) {
      return c.textValue();
    }
    if (!c.isArray()) {
      throw typeError(field, "a string or an array of content parts", c);
    }
    StringBuilder text = new StringBuilder();
    for (int j = 0; j < c.size(); j++) {
      String pf = field + "[" + j + "]";
      JsonNode part = c.get(j);
      if (!part.isObject()) {
        throw typeError(pf, "an object {type, text}", part);
      }
      String type = string((ObjectNode) part, pf + ".type", "type");
      if (!"text".equals(type)) {
        throw HttpErrors.invalid(pf + ".type", pf + ".type " + (type == null ? "is missing" : "'" + type + "' is not supported") + " (only text parts)").asException();
      }
      String t = string((ObjectNode) part, pf + ".text", "text");
      if (t == null) {
        throw HttpErrors.invalid(pf + ".text", pf + ".text is required").asException();
      }
      if (!text.isEmpty()) {
        text.append('\n');
      }
      text.append(t);
    }
    return text.toString();
  }

  private static List<Integer> tokenIds(JsonNode p) {
    if (p.isEmpty()) {
      throw HttpErrors.invalid("prompt", "prompt is empty").asException();
    }
    if (p.get(0).isTextual() || p.get(0).isArray()) {
      throw HttpErrors.invalid("prompt", "prompt: an array of " + p.size() + " prompts is not supported; send one prompt per request").asException();
    }
    List<Integer> ids = new ArrayList<>(p.size());
    for (int i = 0; i < p.size(); i++) {
      JsonNode id = p.get(i);
      if (!id.canConvertToExactIntegral() || !id.canConvertToInt()) {
        throw typeError("prompt[" + i + "]", "a token id (an integer)", id);
      }
      ids.add(id.intValue());
    }
    return ids;
  }

  private static int checkTop(String field, int top) {
    if (top < 0 || top > MAX_TOP_LOGPROBS) {
      throw HttpErrors.invalid(field, field + " must be between 0 and " + MAX_TOP_LOGPROBS + ", not " + top).asException();
    }
    return top;
  }

  private static Integer positive(ObjectNode o, String field) {
    Integer v = integer(o, field);
    if (v != null && v <= 0) {
      throw HttpErrors.invalid(field, field + " must be positive, not " + v).asException();
    }
    return v;
  }

  private static void unsupportedUnlessEmpty(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (!absent(v) && !((v.isArray() || v.isObject()) && v.isEmpty())) {
      throw HttpErrors.invalid(field, field + " is not supported").asException();
    }
  }

  /** JSON null counts as absent, as OpenAI's own SDKs send it for unset fields. */
  private static boolean absent(JsonNode v) {
    return v == null || v.isNull() || v.isMissingNode();
  }

  private static String string(ObjectNode o, String field) {
    return string(o, field, field);
  }

  private static String string(ObjectNode o, String path, String key) {
    JsonNode v = o.get(key);
    if (absent(v)) {
      return null;
    }
    if (!v.isTextual()) {
      throw typeError(path, "a string", v);
    }
    return v.textValue();
  }

  private static boolean bool(ObjectNode o, String field, boolean otherwise) {
    return bool(o, field, field, otherwise);
  }

  private static boolean bool(ObjectNode o, String path, String key, boolean otherwise) {
    JsonNode v = o.get(key);
    if (absent(v)) {
      return otherwise;
    }
    if (!v.isBoolean()) {
      throw typeError(path, "a boolean", v);
    }
    return v.booleanValue();
  }

  private static Float number(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (absent(v)) {
      return null;
    }
    if (!v.isNumber()) {
      throw typeError(field, "a number", v);
    }
    return v.floatValue();
  }

  private static Integer integer(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (absent(v)) {
      return null;
    }
    if (!v.isNumber() || !v.canConvertToExactIntegral()) {
      throw typeError(field, "an integer", v);
    }
    if (!v.canConvertToInt()) {
      throw HttpErrors.invalid(field, field + " is out of range: " + v).asException();
    }
    return v.intValue();
  }

  private static Long longInteger(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (absent(v)) {
      return null;
    }
    if (!v.isNumber() || !v.canConvertToExactIntegral()) {
      throw typeError(field, "an integer", v);
    }
    if (!v.canConvertToLong()) {
      throw HttpErrors.invalid(field, field + " is out of range: " + v).asException();
    }
    return v.longValue();
  }

  private static ApiException typeError(String field, String expected, JsonNode got) {
    return HttpErrors.invalid(field, field + " must be " + expected + ", not " + kind(got)).asException();
  }

  /** A value's JSON type for a message (the value itself only when it is short). */
  private static String kind(JsonNode v) {
    String type = switch (v.getNodeType()) {
      case STRING -> "a string";
      case NUMBER -> "a number";
      case BOOLEAN -> "a boolean";
      case ARRAY -> "an array";
      case OBJECT -> "an object";
      default -> v.getNodeType().name().toLowerCase();
    };
    String shown = v.isValueNode() ? v.toString() : "";
    return shown.isEmpty() || shown.length() > 40 ? type : type + " (" + shown + ")";
  }
}
