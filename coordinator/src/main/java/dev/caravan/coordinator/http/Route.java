package dev.caravan.coordinator.http;

import io.netty.handler.codec.http.HttpMethod;

/** The HTTP API's endpoints; {@link #label} names them in metrics (unknown paths all count as {@code other}). */
enum Route {
  CHAT("/v1/chat/completions", HttpMethod.POST),
  COMPLETIONS("/v1/completions", HttpMethod.POST),
  MODELS("/v1/models", HttpMethod.GET),
  MODEL("/v1/models/{model}", HttpMethod.GET),
  HEALTH("/health", HttpMethod.GET),
  OTHER("other", null);

  private static final String MODEL_PREFIX = "/v1/models/";

  final String label;
  final HttpMethod method;

  Route(String label, HttpMethod method) {
    this.label = label;
    this.method = method;
  }

  static Route of(String path) {
    return switch (path) {
      case "/v1/chat/completions" -> CHAT;
      case "/v1/completions" -> COMPLETIONS;
      case "/v1/models" -> MODELS;
      case "/health" -> HEALTH;
      default -> path.startsWith(MODEL_PREFIX) && path.length() > MODEL_PREFIX.length() ? MODEL : OTHER;
    };
  }

  /** The model id of a {@code /v1/models/{model}} path. */
  static String modelOf(String path) {
    return path.substring(MODEL_PREFIX.length());
  }
}
