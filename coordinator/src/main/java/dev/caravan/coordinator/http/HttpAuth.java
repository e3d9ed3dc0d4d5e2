package dev.caravan.coordinator.http;

/**
 * Decides whether an HTTP request may use the API, from its {@code Authorization} header (null when absent). Checked
 * before anything else looks at a request; a refusal is answered 401 with OpenAI's {@code invalid_api_key} error.
 * {@code GET /health} is not checked, so load balancers and probes need no key (llama-server does the same).
 * Implementations are called on Netty's event loop: they must not block, and should compare keys in constant time.
 */
@FunctionalInterface
public interface HttpAuth {
  /** Every request is allowed (no API keys configured). */
  HttpAuth ALLOW_ALL = authorization -> true;

  boolean allows(String authorizationHeader);
}
