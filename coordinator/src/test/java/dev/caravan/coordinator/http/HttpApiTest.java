package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.caravan.coordinator.core.GenerationError;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.ChatMessage;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The HTTP API over real loopback HTTP, in front of the real core and the in-process executor on stories260K: what each
 * endpoint answers, in OpenAI's shapes, with the tokens and log-probabilities the engine computes (checked against
 * llama.cpp's greedy output and the engine's own logits), and the error status of each kind of failure.
 */
class HttpApiTest {
  private static Parallel parallel;
  private static LlamaModel model;
  private static Tokenizer tokenizer;
  private static Oracle oracle;
  private HttpFixture f;

  @BeforeAll
  static void open() throws Exception {
    parallel = new Parallel(2);
    oracle = Oracle.load("stories260K");
    model = LlamaModel.open(oracle.modelPath(), parallel);
    tokenizer = Tokenizer.fromGguf(model.file().metadata());
  }

  @AfterAll
  static void close() {
    model.close();
    parallel.close();
  }

  @AfterEach
  void tearDown() {
    if (f != null) {
      f.close();
    }
  }

  private HttpFixture fixture() throws Exception {
    f = new HttpFixture(model, tokenizer);
    return f;
  }

  private static String ids(int[] ids) {
    return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(", ", "[", "]"));
  }

  @Test
  void aGreedyCompletionIsLlamaCppsWithLogprobsFromTheRawLogits() throws Exception {
    fixture();
    int n = oracle.greedyIds.length;
    HttpResponse<String> r = f.post("/v1/completions", "{\"model\": \"stories260K\", \"prompt\": " + ids(oracle.greedyPrompt) + ", \"max_tokens\": " + n
        + ", \"temperature\": 0, \"ignore_eos\": true, \"logprobs\": 3}");
    assertEquals(200, r.statusCode(), r.body());
    assertEquals("application/json", r.headers().firstValue("content-type").orElseThrow());
    JsonNode body = HttpFixture.json(r);
    assertEquals("text_completion", body.get("object").asText());
    assertTrue(body.get("id").asText().startsWith("cmpl-"));
    assertEquals("stories260K", body.get("model").asText());
    JsonNode choice = body.get("choices").get(0);
    assertEquals("length", choice.get("finish_reason").asText());
    StringBuilder expectedText = new StringBuilder();
    for (int id : oracle.greedyIds) {
      expectedText.append(f.piece(id));
    }
    assertEquals(expectedText.toString(), choice.get("text").asText());

    // the tokens are llama.cpp's; each log-probability is the log-softmax of the engine's raw logits
    JsonNode lp = choice.get("logprobs");
    float[][] logits = HttpFixture.engineLogits(model, oracle.greedyPrompt, oracle.greedyIds, n);
    int offset = 0;
    for (int k = 0; k < n; k++) {
      assertEquals(f.piece(oracle.greedyIds[k]), lp.get("tokens").get(k).asText(), "token " + k);
      double logZ = 0;
      for (float l : logits[k]) {
        logZ += Math.exp(l);
      }
      logZ = Math.log(logZ);
      assertEquals(logits[k][oracle.greedyIds[k]] - logZ, lp.get("token_logprobs").get(k).asDouble(), 1e-5, "logprob " + k);
      JsonNode top = lp.get("top_logprobs").get(k);
      assertTrue(top.size() >= 1 && top.size() <= 3, top.toString());
      // greedy, no penalties: the chosen token is the most likely
      assertEquals(lp.get("token_logprobs").get(k).asDouble(), top.properties().iterator().next().getValue().asDouble(), 1e-12);
      assertEquals(offset, lp.get("text_offset").get(k).asInt());
      offset += f.piece(oracle.greedyIds[k]).length();
    }
    JsonNode usage = body.get("usage");
    assertEquals(oracle.greedyPrompt.length, usage.get("prompt_tokens").asInt());
    assertEquals(n, usage.get("completion_tokens").asInt());
    assertEquals(oracle.greedyPrompt.length + n, usage.get("total_tokens").asInt());
    assertEquals(0, usage.get("prompt_tokens_details").get("cached_tokens").asInt());
    assertEquals(1.0, f.httpRequests("/v1/completions", 200));
  }

  @Test
  void aStreamedChatIsOpenAisChunksAndSaysTheSameAsTheWholeAnswer() throws Exception {
    fixture();
    List<ChatMessage> conversation = List.of(ChatMessage.system("You tell stories."), ChatMessage.user("Tell me about a dog."));
    int[] prompt = new ChatPrompt(tokenizer).encode(conversation);
    int[] greedy = HttpFixture.engineGreedy(model, prompt, 12);
    String messages = "[{\"role\": \"system\", \"content\": \"You tell stories.\"}, {\"role\": \"user\", \"content\": \"Tell me about a dog.\"}]";
    String body = "{\"model\": \"stories260K\", \"messages\": " + messages + ", \"max_tokens\": 12, \"temperature\": 0, \"ignore_eos\": true";

    JsonNode whole = HttpFixture.json(f.post("/v1/chat/completions", body + "}"));
    assertEquals("chat.completion", whole.get("object").asText());
    assertTrue(whole.get("id").asText().startsWith("chatcmpl-"));
    JsonNode message = whole.get("choices").get(0).get("message");
    assertEquals("assistant", message.get("role").asText());
    StringBuilder expected = new StringBuilder();
    for (int id : greedy) {
      expected.append(f.piece(id));
    }
    assertEquals(expected.toString(), message.get("content").asText(), "the engine's greedy tokens for the chat template's prompt");
    assertTrue(whole.get("choices").get(0).get("logprobs").isNull());
    assertEquals(prompt.length, whole.get("usage").get("prompt_tokens").asInt());

    HttpFixture.Stream s = f.stream("/v1/chat/completions", body + ", \"stream\": true, \"stream_options\": {\"include_usage\": true}}");
    assertEquals(200, s.response().statusCode());
    assertTrue(s.response().headers().firstValue("content-type").orElseThrow().startsWith("text/event-stream"));
    assertEquals("[DONE]", s.events().getLast());
    List<JsonNode> chunks = s.json();
    String id = chunks.getFirst().get("id").asText();
    StringBuilder streamed = new StringBuilder();
    for (int i = 0; i < chunks.size(); i++) {
      JsonNode c = chunks.get(i);
      assertEquals("chat.completion.chunk", c.get("object").asText());
      assertEquals(id, c.get("id").asText(), "one id for the whole stream");
      assertTrue(c.has("usage"), "include_usage: every chunk has the field");
      if (i == chunks.size() - 1) {
        assertEquals(0, c.get("choices").size(), "the usage chunk has no choices");
        assertEquals(12, c.get("usage").get("completion_tokens").asInt());
        assertEquals(prompt.length, c.get("usage").get("prompt_tokens").asInt());
        continue;
      }
      assertTrue(c.get("usage").isNull());
      JsonNode choice = c.get("choices").get(0);
      JsonNode delta = choice.get("delta");
      if (i == 0) {
        assertEquals("assistant", delta.get("role").asText(), "the role comes first");
        assertEquals("", delta.get("content").asText());
      } else {
        assertFalse(delta.has("role"));
      }
      if (i == chunks.size() - 2) {
        assertEquals("length", choice.get("finish_reason").asText());
        assertFalse(delta.has("content"), "the finishing chunk's delta is empty");
      } else {
        assertTrue(choice.get("finish_reason").isNull());
        streamed.append(delta.get("content").asText());
      }
    }
    assertEquals(expected.toString(), streamed.toString());
  }

  @Test
  void aStreamedCompletionWithoutUsageAndWithLogprobsPerChunk() throws Exception {
    fixture();
    HttpFixture.Stream s = f.stream("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 10, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true, \"logprobs\": 1}");
    List<JsonNode> chunks = s.json();
    StringBuilder text = new StringBuilder();
    List<String> tokens = new ArrayList<>();
    for (JsonNode c : chunks) {
      assertEquals("text_completion", c.get("object").asText());
      assertFalse(c.has("usage"), "no include_usage: no usage field");
      JsonNode choice = c.get("choices").get(0);
      text.append(choice.get("text").asText());
      choice.get("logprobs").get("tokens").forEach(t -> tokens.add(t.asText()));
    }
    assertEquals("length", chunks.getLast().get("choices").get(0).get("finish_reason").asText());
    assertEquals(10, tokens.size(), "one log-probability entry per generated token");
    assertEquals(String.join("", tokens), text.toString());
    JsonNode whole = HttpFixture.json(f.post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 10, \"temperature\": 0, \"ignore_eos\": true}"));
    assertEquals(whole.get("choices").get(0).get("text").asText(), text.toString());
  }

  @Test
  void aStopStringEndsTheTextBeforeItWithFinishReasonStop() throws Exception {
    fixture();
    String full = HttpFixture.json(f.post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true}"))
        .get("choices").get(0).get("text").asText();
    int at = full.indexOf("little");
    assertTrue(at > 0, "the greedy story has the word: " + full);
    for (String stop : List.of("\"little\"", "[\"zzz\", \"little\"]")) {
      JsonNode r = HttpFixture.json(f.post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24, \"temperature\": 0, \"ignore_eos\": true, \"stop\": " + stop + "}"));
      assertEquals(full.substring(0, at), r.get("choices").get(0).get("text").asText());
      assertEquals("stop", r.get("choices").get(0).get("finish_reason").asText());
    }
    HttpFixture.Stream s = f.stream("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 40, \"temperature\": 0, \"stream\": true, \"stop\": [\" \"]}");
    JsonNode last = s.json().getLast().get("choices").get(0);
    assertEquals("stop", last.get("finish_reason").asText());
  }

  @Test
  void aSeedMakesSamplingRepeatableAndUnsetParametersKeepTheSamplersDefaults() throws Exception {
    fixture();
    String body = "{\"prompt\": \"Lily and Ben went to the park.\", \"max_tokens\": 32, \"ignore_eos\": true, \"seed\": 4242";
    String a = HttpFixture.json(f.post("/v1/completions", body + "}")).get("choices").get(0).get("text").asText();
    String b = HttpFixture.json(f.post("/v1/completions", body + "}")).get("choices").get(0).get("text").asText();
    String greedy = HttpFixture.json(f.post("/v1/completions", body + ", \"temperature\": 0}")).get("choices").get(0).get("text").asText();
    String explicitDefaults = HttpFixture.json(f.post("/v1/completions", body + ", \"temperature\": 0.8, \"top_k\": 40, \"top_p\": 0.95, \"min_p\": 0.05, \"repeat_penalty\": 1, \"repeat_last_n\": 64}"))
        .get("choices").get(0).get("text").asText();
    assertEquals(a, b, "same seed, same text");
    assertNotEquals(greedy, a, "the default temperature samples (it is not OpenAI's greedy-looking 1.0 or 0)");
    assertEquals(explicitDefaults, a, "unset parameters are llama.cpp's defaults");
    String other = HttpFixture.json(f.post("/v1/completions", body.replace("4242", "7") + "}")).get("choices").get(0).get("text").asText();
    assertNotEquals(a, other, "another seed, another text");
  }

  @Test
  void chatLogprobsInOpenAisShape() throws Exception {
    fixture();
    JsonNode r = HttpFixture.json(f.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 4, \"temperature\": 0, \"ignore_eos\": true, \"logprobs\": true, \"top_logprobs\": 2}"));
    JsonNode content = r.get("choices").get(0).get("logprobs").get("content");
    assertEquals(4, content.size());
    StringBuilder text = new StringBuilder();
    for (JsonNode t : content) {
      text.append(t.get("token").asText());
      assertTrue(t.get("logprob").asDouble() <= 0);
      assertEquals(2, t.get("top_logprobs").size());
      assertEquals(t.get("token").asText(), t.get("top_logprobs").get(0).get("token").asText(), "greedy takes the most likely");
      byte[] bytes = t.get("token").asText().getBytes(java.nio.charset.StandardCharsets.UTF_8);
      assertEquals(bytes.length, t.get("bytes").size());
      assertTrue(t.get("top_logprobs").get(0).get("logprob").asDouble() >= t.get("top_logprobs").get(1).get("logprob").asDouble());
    }
    assertEquals(r.get("choices").get(0).get("message").get("content").asText(), text.toString());
  }

  @Test
  void modelsAndHealth() throws Exception {
    fixture();
    JsonNode models = HttpFixture.json(f.get("/v1/models"));
    assertEquals("list", models.get("object").asText());
    assertEquals(1, models.get("data").size());
    JsonNode m = models.get("data").get(0);
    assertEquals("stories260K", m.get("id").asText());
    assertEquals("model", m.get("object").asText());
    assertEquals("caravan", m.get("owned_by").asText());
    assertTrue(m.get("created").asLong() > 1_600_000_000L);
    assertEquals(m, HttpFixture.json(f.get("/v1/models/stories260K")));
    assertEquals(404, f.get("/v1/models/gpt-4").statusCode());

    HttpResponse<String> ok = f.get("/health");
    assertEquals(200, ok.statusCode());
    assertEquals("{\"status\":\"ok\"}", ok.body());
    f.notServing.set("no serving plan: waiting for workers to join and load the model");
    HttpResponse<String> down = f.get("/health");
    assertEquals(503, down.statusCode());
    assertEquals("no serving plan: waiting for workers to join and load the model", HttpFixture.json(down).get("error").get("message").asText());
    f.notServing.set(null);
    f.server.setServing(false); // draining
    assertEquals(503, f.get("/health").statusCode());
    HttpResponse<String> refused = f.post("/v1/completions", "{\"prompt\": \"Hi\"}");
    assertEquals(503, refused.statusCode());
    assertEquals("the coordinator is draining: it takes no new requests", HttpFixture.json(refused).get("error").get("message").asText());
  }

  @Test
  void routingErrorsInOpenAisErrorObject() throws Exception {
    fixture();
    HttpResponse<String> r = f.get("/v1/engines");
    assertEquals(404, r.statusCode());
    assertEquals("Invalid URL (GET /v1/engines)", HttpFixture.json(r).get("error").get("message").asText());
    r = f.get("/v1/chat/completions");
    assertEquals(405, r.statusCode());
    assertEquals("POST", r.headers().firstValue("allow").orElseThrow());
    r = f.post("/v1/completions", "{\"prompt\": \"Hi\", ");
    assertEquals(400, r.statusCode());
    JsonNode e = HttpFixture.json(r).get("error");
    assertEquals("invalid_request_error", e.get("type").asText());
    assertTrue(e.has("param") && e.has("code"));
    r = f.post("/v1/chat/completions", "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
    assertEquals(404, r.statusCode());
    assertEquals("model_not_found", HttpFixture.json(r).get("error").get("code").asText());
    r = f.post("/v1/completions", "{\"prompt\": \"Hi\", \"n\": 3}");
    assertEquals(400, r.statusCode());
    assertEquals("n", HttpFixture.json(r).get("error").get("param").asText());
    assertEquals(1.0, f.httpRequests("other", 404));
    assertEquals(1.0, f.httpRequests("/v1/chat/completions", 405));
    assertEquals(1.0, f.httpRequests("/v1/chat/completions", 404));
    assertEquals(2.0, f.httpRequests("/v1/completions", 400));
  }

  @Test
  void aFullQueueIs429() throws Exception {
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(1, 0, 64, 1), Duration.ofSeconds(5), HttpFixture.settings(), HttpAuth.ALLOW_ALL);
    f.executor.hold();
    CompletableFuture<HttpResponse<String>> first = CompletableFuture.supplyAsync(() -> {
      try {
        return f.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3, \"temperature\": 0}");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    f.executor.awaitHeld(); // the first request runs (its batch waits at the gate)
    HttpResponse<String> second = f.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}");
    assertEquals(429, second.statusCode());
    JsonNode e = HttpFixture.json(second).get("error");
    assertEquals("rate_limit_exceeded", e.get("code").asText());
    assertTrue(e.get("message").asText().startsWith("the queue is full"), e.toString());
    f.executor.open();
    assertEquals(200, first.get().statusCode());
  }

  @Test
  void noWorkersIs503AndAFailureMidStreamIsAFinalErrorEvent() throws Exception {
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ZERO, HttpFixture.settings(), HttpAuth.ALLOW_ALL);
    f.core.setServingPlan(-1, 0, "no plan: the last worker left");
    HttpResponse<String> r = f.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 3}");
    assertEquals(503, r.statusCode());
    assertEquals("no plan: the last worker left", HttpFixture.json(r).get("error").get("message").asText());
    assertEquals("unavailable_error", HttpFixture.json(r).get("error").get("type").asText());
    HttpFixture.Stream s = f.stream("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"stream\": true}");
    assertEquals(503, s.response().statusCode(), "an error before the first token keeps its status");

    f.core.setServingPlan(1, 1, null);
    f.executor.holdAfter(4); // the prompt and three tokens, then the batches wait
    CompletableFuture<HttpFixture.Stream> stream = CompletableFuture.supplyAsync(() -> {
      try {
        return f.stream("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 50, \"temperature\": 0, \"ignore_eos\": true, \"stream\": true}");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    // the first tokens are out; then a batch fails the way a bug would
    f.executor.awaitHeld();
    f.executor.failHeld(GenerationError.of(GenerationError.Kind.INTERNAL, "stage 1 failed: boom"));
    HttpFixture.Stream broken = stream.get();
    assertEquals(200, broken.response().statusCode());
    assertFalse(broken.events().contains("[DONE]"), "an error is not a normal end");
    JsonNode last = broken.json().getLast();
    assertEquals("stage 1 failed: boom", last.get("error").get("message").asText());
    assertEquals("server_error", last.get("error").get("type").asText());
    assertTrue(broken.json().size() >= 2, "tokens came before the error");
  }

  @Test
  void aRequestPastItsDeadlineIs504() throws Exception {
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ofSeconds(5),
        new HttpServer.Settings("127.0.0.1", 0, 1 << 20, 16 << 10, Duration.ofMillis(1), Duration.ofMinutes(2), 2, 2, 64, 64 << 10, 0, HttpServer.Settings.DEFAULT_MAX_BUFFERED_BYTES), HttpAuth.ALLOW_ALL);
    // 400 tokens cannot be generated within the millisecond the request has
    HttpResponse<String> r = f.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 400, \"ignore_eos\": true}");
    assertEquals(504, r.statusCode());
    assertTrue(HttpFixture.json(r).get("error").get("message").asText().startsWith("deadline exceeded"), r.body());
    assertEquals("timeout", HttpFixture.json(r).get("error").get("code").asText());
  }

  @Test
  void anApiKeyIsCheckedBeforeAnythingElse() throws Exception {
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ofSeconds(5), HttpFixture.settings(), h -> "Bearer sk-test".equals(h));
    for (HttpResponse<String> r : List.of(f.get("/v1/models"), f.get("/v1/models", "Authorization", "Bearer wrong"), f.get("/no/such/path"),
        f.post("/v1/completions", "not even json"))) {
      assertEquals(401, r.statusCode(), r.body());
      JsonNode e = HttpFixture.json(r).get("error");
      assertEquals("invalid_api_key", e.get("code").asText());
      assertEquals("invalid_request_error", e.get("type").asText());
    }
    assertEquals(200, f.get("/v1/models", "Authorization", "Bearer sk-test").statusCode());
    assertEquals(200, f.get("/health").statusCode(), "health needs no key (probes)");
    HttpResponse<String> r = f.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2}", "Authorization", "Bearer sk-test");
    assertEquals(200, r.statusCode(), r.body());
  }

  @Test
  void thePublicTlsCertificateServesHttps(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    var ca = dev.caravan.cluster.security.Certificates.authority("test CA", Duration.ofDays(1));
    java.nio.file.Path cert = dev.caravan.cluster.security.Certificates.issue(ca, "public", dev.caravan.cluster.security.Role.COORDINATOR, List.of("127.0.0.1"), Duration.ofDays(1))
        .write(dir, "public");
    var tls = dev.caravan.cluster.security.PublicTls.load(cert, dir.resolve("public.key"));
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ofSeconds(5), HttpFixture.settings(), HttpAuth.ALLOW_ALL, tls.httpContext());

    java.security.KeyStore trust = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
    trust.load(null, null);
    trust.setCertificateEntry("ca", ca.certificate());
    javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    javax.net.ssl.SSLContext ssl = javax.net.ssl.SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    try (java.net.http.HttpClient https = java.net.http.HttpClient.newBuilder().sslContext(ssl).version(java.net.http.HttpClient.Version.HTTP_1_1).build()) {
      HttpResponse<String> r = https.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("https://127.0.0.1:" + f.server.port() + "/v1/completions"))
          .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once upon a time\", \"max_tokens\": 4, \"temperature\": 0}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      assertEquals(4, HttpFixture.json(r).get("usage").get("completion_tokens").asInt(), r.body());
    }
    // a plaintext request to the TLS port gets no answer from the API
    assertThrows(java.io.IOException.class, () -> f.get("/v1/models"));
  }

  @Test
  void aBugIsA500WithoutAStackTrace() throws Exception {
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ofSeconds(5), HttpFixture.settings(), h -> {
      throw new IllegalStateException("authorizer bug");
    });
    HttpResponse<String> r = f.get("/v1/models");
    assertEquals(500, r.statusCode());
    assertEquals("server_error", HttpFixture.json(r).get("error").get("type").asText());
    assertFalse(r.body().contains("authorizer bug") || r.body().contains("at dev.caravan"), r.body());
    assertEquals(200, f.get("/health").statusCode(), "the server goes on");
  }
}
