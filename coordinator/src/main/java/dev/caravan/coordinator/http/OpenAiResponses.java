package dev.caravan.coordinator.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.caravan.coordinator.core.GenerationListener;
import dev.caravan.coordinator.scheduler.Sequence;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The JSON bodies of OpenAI's API, field for field: chat completions and their {@code chat.completion.chunk}s,
 * completions ({@code text_completion}) and their chunks, usage, log-probabilities in both shapes, the model list.
 */
final class OpenAiResponses {
  private static final JsonNodeFactory F = JsonNodeFactory.instance;

  private final Tokenizer tokenizer;
  private final String model;

  OpenAiResponses(Tokenizer tokenizer, String model) {
    this.tokenizer = tokenizer;
    this.model = model;
  }

  /** {@code stop} for an end-of-generation token or a stop string, {@code length} for max tokens or a full context. */
  static String finishReason(Sequence.Finish f) {
    return switch (f) {
      case LENGTH, CONTEXT -> "length";
      default -> "stop";
    };
  }

  // ---- chat ----------------------------------------------------------------------------------------------------------

  ObjectNode chatCompletion(String id, long created, String text, String finish, List<Logprobs.Entry> logprobs, GenerationListener.Usage usage) {
    ObjectNode r = head(id, "chat.completion", created);
    ObjectNode c = r.putArray("choices").addObject();
    c.put("index", 0);
    ObjectNode m = c.putObject("message");
    m.put("role", "assistant");
    m.put("content", text);
    m.putNull("refusal");
    c.set("logprobs", logprobs == null ? F.nullNode() : chatLogprobs(logprobs));
    c.put("finish_reason", finish);
    r.set("usage", usage(usage));
    return r;
  }

  /** A streamed chat chunk: {@code role} only in the first, {@code content} null in the last, {@code finish} only in the last. */
  ObjectNode chatChunk(String id, long created, String role, String content, List<Logprobs.Entry> logprobs, String finish, boolean withUsage) {
    ObjectNode r = head(id, "chat.completion.chunk", created);
    ObjectNode c = r.putArray("choices").addObject();
    c.put("index", 0);
    ObjectNode d = c.putObject("delta");
    if (role != null) {
      d.put("role", role);
    }
    if (content != null) {
      d.put("content", content);
    }
    c.set("logprobs", logprobs == null ? F.nullNode() : chatLogprobs(logprobs));
    c.put("finish_reason", finish);
    if (withUsage) {
      r.putNull("usage"); // as OpenAI: every chunk of a stream that asked for usage has the field, null but in the last
    }
    return r;
  }

  private ObjectNode chatLogprobs(List<Logprobs.Entry> entries) {
    ObjectNode lp = F.objectNode();
    ArrayNode content = lp.putArray("content");
    for (Logprobs.Entry e : entries) {
      ObjectNode t = token(e.token(), e.logprob());
      ArrayNode top = t.putArray("top_logprobs");
      for (int j = 0; j < e.topIds().length; j++) {
        top.add(token(e.topIds()[j], e.topLogprobs()[j]));
      }
      content.add(t);
    }
    lp.putNull("refusal");
    return lp;
  }

  private ObjectNode token(int id, double logprob) {
    byte[] bytes = tokenizer.tokenBytes(id, true);
    ObjectNode t = F.objectNode();
    t.put("token", new String(bytes, StandardCharsets.UTF_8));
    t.put("logprob", logprob);
    ArrayNode b = t.putArray("bytes");
    for (byte x : bytes) {
      b.add(x & 0xff);
    }
    return t;
  }

  // ---- completions ---------------------------------------------------------------------------------------------------

  ObjectNode completion(String id, long created, String text, String finish, List<Logprobs.Entry> logprobs, int[] textOffsets, GenerationListener.Usage usage) {
    ObjectNode r = head(id, "text_completion", created);
    r.putArray("choices").add(completionChoice(text, logprobs, textOffsets, finish));
    r.set("usage", usage(usage));
    return r;
  }

  ObjectNode completionChunk(String id, long created, String text, List<Logprobs.Entry> logprobs, int[] textOffsets, String finish, boolean withUsage) {
    ObjectNode r = head(id, "text_completion", created);
    r.putArray("choices").add(completionChoice(text, logprobs, textOffsets, finish));
    if (withUsage) {
      r.putNull("usage");
    }
    return r;
  }

  private ObjectNode completionChoice(String text, List<Logprobs.Entry> logprobs, int[] textOffsets, String finish) {
    ObjectNode c = F.objectNode();
    c.put("text", text);
    c.put("index", 0);
    c.set("logprobs", logprobs == null ? F.nullNode() : completionLogprobs(logprobs, textOffsets));
    c.put("finish_reason", finish);
    return c;
  }

  /** The legacy shape: parallel arrays, and each position's top tokens as an object token → log-probability. */
  private ObjectNode completionLogprobs(List<Logprobs.Entry> entries, int[] textOffsets) {
    ObjectNode lp = F.objectNode();
    ArrayNode tokens = lp.putArray("tokens");
    ArrayNode logprobs = lp.putArray("token_logprobs");
    ArrayNode tops = lp.putArray("top_logprobs");
    ArrayNode offsets = lp.putArray("text_offset");
    for (int i = 0; i < entries.size(); i++) {
      Logprobs.Entry e = entries.get(i);
      tokens.add(text(e.token()));
      logprobs.add(e.logprob());
      ObjectNode top = tops.addObject();
      for (int j = 0; j < e.topIds().length; j++) {
        String t = text(e.topIds()[j]);
        if (!top.has(t)) { // two tokens with the same text: the likelier one's
          top.put(t, e.topLogprobs()[j]);
        }
      }
      offsets.add(textOffsets[i]);
    }
    return lp;
  }

  private String text(int id) {
    return new String(tokenizer.tokenBytes(id, true), StandardCharsets.UTF_8);
  }

  // ---- both ------------------------------------------------------------------------------------------------------

  /** The last chunk of a stream with {@code include_usage}: no choices, the usage. */
  ObjectNode usageChunk(boolean chat, String id, long created, GenerationListener.Usage usage) {
    ObjectNode r = head(id, chat ? "chat.completion.chunk" : "text_completion", created);
    r.putArray("choices");
    r.set("usage", usage(usage));
    return r;
  }

  static ObjectNode usage(GenerationListener.Usage u) {
    ObjectNode r = F.objectNode();
    r.put("prompt_tokens", u.promptTokens());
    r.put("completion_tokens", u.completionTokens());
    r.put("total_tokens", u.promptTokens() + u.completionTokens());
    r.putObject("prompt_tokens_details").put("cached_tokens", u.cachedPromptTokens());
    return r;
  }

  private ObjectNode head(String id, String object, long created) {
    ObjectNode r = F.objectNode();
    r.put("id", id);
    r.put("object", object);
    r.put("created", created);
    r.put("model", model);
    return r;
  }

  // ---- models ----------------------------------------------------------------------------------------------------

  ObjectNode modelList(long created) {
    ObjectNode r = F.objectNode();
    r.put("object", "list");
    r.putArray("data").add(model(created));
    return r;
  }

  ObjectNode model(long created) {
    ObjectNode m = F.objectNode();
    m.put("id", model);
    m.put("object", "model");
    m.put("created", created);
    m.put("owned_by", "caravan");
    return m;
  }
}
