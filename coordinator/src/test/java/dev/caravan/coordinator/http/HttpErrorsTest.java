package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.caravan.coordinator.core.GenerationError;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every core error kind has its HTTP status and an OpenAI error object that keeps the core's message. */
class HttpErrorsTest {

  @Test
  void eachKindMapsToItsStatus() {
    Map<GenerationError.Kind, Integer> expected = Map.of(
        GenerationError.Kind.INVALID_ARGUMENT, 400,
        GenerationError.Kind.FAILED_PRECONDITION, 400,
        GenerationError.Kind.NOT_FOUND, 404,
        GenerationError.Kind.RESOURCE_EXHAUSTED, 429,
        GenerationError.Kind.UNAVAILABLE, 503,
        GenerationError.Kind.DEADLINE_EXCEEDED, 504,
        GenerationError.Kind.CANCELLED, 499,
        GenerationError.Kind.INTERNAL, 500);
    assertEquals(GenerationError.Kind.values().length, expected.size(), "every kind is covered");
    for (var e : expected.entrySet()) {
      ApiError a = HttpErrors.of(GenerationError.of(e.getKey(), "why: " + e.getKey()));
      assertEquals(e.getValue(), a.status(), e.getKey().name());
      assertEquals("why: " + e.getKey(), a.message(), "the core's message reaches the client");
    }
  }

  @Test
  void theBodyIsOpenAisErrorObject() {
    JsonNode body = HttpErrors.of(GenerationError.of(GenerationError.Kind.RESOURCE_EXHAUSTED, "the queue is full (256 requests waiting); retry later")).body();
    JsonNode e = body.get("error");
    assertEquals(1, body.size());
    assertEquals("the queue is full (256 requests waiting); retry later", e.get("message").asText());
    assertEquals("rate_limit_error", e.get("type").asText());
    assertEquals("rate_limit_exceeded", e.get("code").asText());
    assertEquals(true, e.get("param").isNull(), "param is present, null");
    JsonNode unauthorized = HttpErrors.unauthorized().body().get("error");
    assertEquals("invalid_api_key", unauthorized.get("code").asText());
    assertEquals("invalid_request_error", unauthorized.get("type").asText());
    assertEquals(401, HttpErrors.unauthorized().status());
    assertEquals("server_error", HttpErrors.internal().type());
  }
}
