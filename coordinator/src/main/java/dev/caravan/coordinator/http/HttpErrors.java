package dev.caravan.coordinator.http;

import dev.caravan.coordinator.RequestValidator;
import dev.caravan.coordinator.core.GenerationError;

/**
 * The HTTP edge of every error, in one place (as {@code GrpcErrors} is for gRPC): the core's {@link GenerationError}
 * kinds and the transport's own refusals, as OpenAI-style error objects with their HTTP status. Types follow OpenAI's
 * ({@code invalid_request_error}) and, where OpenAI has none, llama-server's ({@code unavailable_error},
 * {@code server_error}).
 */
final class HttpErrors {
  static final String INVALID_REQUEST = "invalid_request_error";

  private HttpErrors() {}

  /**
   * A core error: INVALID_ARGUMENT and FAILED_PRECONDITION 400, NOT_FOUND 404 ({@code model_not_found}: the only thing
   * a request can name that does not exist), RESOURCE_EXHAUSTED 429 (the queue or a KV budget is full), UNAVAILABLE 503
   * (no workers, draining), DEADLINE_EXCEEDED 504, CANCELLED 499 (the client went away: only ever counted, never
   * sent), INTERNAL 500.
   */
  static ApiError of(GenerationError e) {
    return switch (e.kind()) {
      case INVALID_ARGUMENT, FAILED_PRECONDITION -> new ApiError(400, INVALID_REQUEST, e.message(), null, null);
      case NOT_FOUND -> new ApiError(404, INVALID_REQUEST, e.message(), "model", "model_not_found");
      case RESOURCE_EXHAUSTED -> new ApiError(429, "rate_limit_error", e.message(), null, "rate_limit_exceeded");
      case UNAVAILABLE -> new ApiError(503, "unavailable_error", e.message(), null, null);
      case DEADLINE_EXCEEDED -> new ApiError(504, "timeout_error", e.message(), null, "timeout");
      case CANCELLED -> new ApiError(499, "cancelled", e.message(), null, null);
      case INTERNAL -> new ApiError(500, "server_error", e.message(), null, null);
    };
  }

  /** A request field that is wrong: 400 naming it. */
  static ApiError invalid(String param, String message) {
    return new ApiError(400, INVALID_REQUEST, message, param, null);
  }

  /** The prompt leaves no room in the context: 400 {@code context_length_exceeded}, as OpenAI answers it. */
  static ApiError contextLengthExceeded(String param, int promptTokens, int contextLength) {
    return new ApiError(400, INVALID_REQUEST, "the prompt of " + promptTokens + " tokens does not fit the model's context length of " + contextLength
        + " tokens (at least one position must be left to generate)", param, "context_length_exceeded");
  }

  static ApiError malformedJson(String detail) {
    return new ApiError(400, INVALID_REQUEST, "the body is not valid JSON: " + detail, null, null);
  }

  static ApiError malformedHttp(String detail) {
    return new ApiError(400, INVALID_REQUEST, "malformed HTTP request: " + detail, null, null);
  }

  static ApiError headersTooLarge(int maxBytes) {
    return new ApiError(431, INVALID_REQUEST, "the request's headers are larger than the " + maxBytes + " bytes accepted", null, "headers_too_large");
  }

  static ApiError uriTooLong(int maxBytes) {
    return new ApiError(414, INVALID_REQUEST, "the request line is longer than the " + maxBytes + " bytes accepted", null, "uri_too_long");
  }

  /** A request line naming another major HTTP version than 1: 505, and the connection closes. */
  static ApiError versionNotSupported(String version) {
    return new ApiError(505, INVALID_REQUEST, "HTTP version " + RequestValidator.quoted(version) + " is not supported: send HTTP/1.1 (or HTTP/1.0)", null, "http_version_not_supported");
  }

  static ApiError unauthorized() {
    return new ApiError(401, INVALID_REQUEST, "missing or incorrect API key: send it as 'Authorization: Bearer <key>'", null, "invalid_api_key");
  }

  static ApiError unknownPath(String method, String path) {
    return new ApiError(404, INVALID_REQUEST, "Invalid URL (" + method + " " + path + ")", null, "unknown_url");
  }

  static ApiError methodNotAllowed(String method, String path) {
    return new ApiError(405, INVALID_REQUEST, "Invalid method for URL (" + method + " " + path + ")", null, "method_not_allowed");
  }

  static ApiError tooLarge(int maxBytes) {
    return new ApiError(413, INVALID_REQUEST, "the request body is larger than the " + maxBytes + " bytes accepted (--max-request-bytes)", null, "request_too_large");
  }

  /** An {@code Expect} header other than {@code 100-continue}: 417, and the connection closes. */
  static ApiError expectationFailed(String expect) {
    return new ApiError(417, INVALID_REQUEST, "the Expect header " + RequestValidator.quoted(String.valueOf(expect)) + " is not supported: only 100-continue is", null, "expectation_failed");
  }

  static ApiError busy(String message) {
    return new ApiError(429, "rate_limit_error", message, null, "rate_limit_exceeded");
  }

  static ApiError unavailable(String message) {
    return new ApiError(503, "unavailable_error", message, null, null);
  }

  /** A bug: the client hears that it happened, the log has the details. */
  static ApiError internal() {
    return new ApiError(500, "server_error", "internal error in the coordinator's HTTP API; its log has the details", null, null);
  }
}
