package dev.caravan.engine.tokenizer;

import java.util.Objects;

/**
 * One message of a conversation: its role ({@code system}, {@code user}, {@code assistant}, {@code tool}, ...) and text.
 */
public record ChatMessage(String role, String content) {
  public ChatMessage {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
  }

  public static ChatMessage system(String content) {
    return new ChatMessage("system", content);
  }

  public static ChatMessage user(String content) {
    return new ChatMessage("user", content);
  }

  public static ChatMessage assistant(String content) {
    return new ChatMessage("assistant", content);
  }
}
