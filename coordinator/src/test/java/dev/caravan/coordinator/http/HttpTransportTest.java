package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The connection level of the HTTP API, over real sockets: a client that disconnects cancels its request and frees its
 * cache; a client that does not read gets its stream coalesced, nothing lost; bodies, headers and idle connections are
 * bounded; keep-alive, pipelining, HTTP/1.0 and garbage are handled.
 */
class HttpTransportTest {
  private static Parallel parallel;
  private static LlamaModel model;
  private static Tokenizer tokenizer;
  private HttpFixture f;

  @BeforeAll
  static void open() throws Exception {
    parallel = new Parallel(2);
    model = LlamaModel.open(Oracle.load("stories260K").modelPath(), parallel);
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

  private HttpFixture fixture(HttpServer.Settings settings) throws Exception {
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 4, 64, 1), Duration.ofSeconds(5), settings, HttpAuth.ALLOW_ALL);
    return f;
  }

  /** Waits for a condition the system under test makes true (a bound on waiting, not a timing assertion). */
  private static void await(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("never happened: " + what);
      }
      Thread.onSpinWait();
    }
  }

  private static List<JsonNode> events(String sseBody) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String block : sseBody.split("\n\n")) {
      if (block.isBlank()) {
        continue;
      }
      assertTrue(block.startsWith("data: "), block);
      String data = block.substring(6);
      if (!data.equals("[DONE]")) {
        out.add(HttpFixture.JSON.readTree(data));
      }
    }
    return out;
  }

  @Test
  void aClientThatDisconnectsCancelsItsRequestAndFreesItsCache() throws Exception {
    fixture(HttpFixture.settings());
    f.executor.holdAfter(3);
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send(RawHttp.post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 400, \"ignore_eos\": true, \"stream\": true}"));
      f.executor.awaitHeld(); // generating: its fourth batch waits at the gate
      assertEquals(1, f.executor.cachedSequences());
    } // the client goes away
    await("the server sees the client leave", () -> f.httpRequests("/v1/completions", 499) == 1);
    f.executor.open();
    await("the cancelled request's cache is freed", () -> f.executor.cachedSequences() == 0);
    assertEquals(0, f.core.load().get().running());
    assertEquals(1.0, f.metrics.requestErrors.labelValues("CANCELLED").get());
    assertEquals(0.0, f.metrics.requestSuccess.labelValues("length").get(), "it did not run to its end");
  }

  @Test
  void aClientThatDoesNotReadGetsItsStreamCoalescedWithNothingLost() throws Exception {
    // tiny buffers on both sides: the socket stops taking data after a few events
    fixture(HttpFixture.settings().withBuffers(1024, 4096));
    int n = 400;
    String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": " + n + ", \"temperature\": 0, \"ignore_eos\": true, \"logprobs\": 5";
    String sse;
    try (RawHttp c = new RawHttp(f.server.port(), 4096)) {
      c.send(RawHttp.post("/v1/completions", body + ", \"stream\": true}"));
      // read nothing until the whole generation is over
      await("the generation ends while the client reads nothing", () -> f.metrics.requestSuccess.labelValues("length").get() == 1);
      RawHttp.Response r = c.read();
      assertEquals(200, r.status());
      assertEquals("chunked", r.headers().get("transfer-encoding"));
      sse = r.body();
    }
    assertTrue(sse.endsWith("data: [DONE]\n\n"));
    List<JsonNode> chunks = events(sse);
    StringBuilder text = new StringBuilder();
    int tokens = 0;
    for (JsonNode c : chunks) {
      JsonNode choice = c.get("choices").get(0);
      text.append(choice.get("text").asText());
      tokens += choice.get("logprobs").get("tokens").size();
    }
    assertEquals(n, tokens, "every token's log-probabilities arrived");
    assertTrue(chunks.size() < n / 2, chunks.size() + " chunks for " + n + " tokens: those waiting for the reader were coalesced");
    String whole = HttpFixture.json(f.post("/v1/completions", body + "}")).get("choices").get(0).get("text").asText();
    assertEquals(whole, text.toString(), "nothing lost, nothing reordered");
  }

  @Test
  void aBodyOverTheLimitIs413AndTheConnectionCloses() throws Exception {
    fixture(new HttpServer.Settings("127.0.0.1", 0, 1024, 16 << 10, Duration.ofMinutes(2), Duration.ofMinutes(2), 2, 2, 64, 64 << 10, 0, HttpServer.Settings.DEFAULT_MAX_BUFFERED_BYTES));
    String big = "{\"prompt\": \"" + "a".repeat(2000) + "\"}";
    HttpResponse<String> r = f.post("/v1/completions", big);
    assertEquals(413, r.statusCode());
    JsonNode e = HttpFixture.json(r).get("error");
    assertEquals("the request body is larger than the 1024 bytes accepted (--max-request-bytes)", e.get("message").asText());
    assertEquals("request_too_large", e.get("code").asText());
    // announced with Expect: 100-continue, it is refused before the body is sent
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
      RawHttp.Response x = c.read();
      assertEquals(413, x.status());
      assertEquals("request_too_large", HttpFixture.JSON.readTree(x.body()).get("error").get("code").asText());
      assertTrue(c.closedByServer());
    }
    assertEquals(200, f.get("/health").statusCode(), "the server goes on");
    assertEquals(2.0, f.httpRequests("/v1/completions", 413));
  }

  /**
   * Found by HttpApiFuzzTest: an Expect header other than 100-continue got Netty's bare 417 with an empty body; it is
   * OpenAI's error shape naming the header, and the connection closes.
   */
  @Test
  void anUnsupportedExpectationIs417NamingIt() throws Exception {
    fixture(HttpFixture.settings());
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send(RawHttp.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 1}", "Expect: 200-ok\r\n"));
      RawHttp.Response r = c.read();
      assertEquals(417, r.status());
      JsonNode e = HttpFixture.JSON.readTree(r.body()).get("error");
      assertEquals("the Expect header '200-ok' is not supported: only 100-continue is", e.get("message").asText());
      assertEquals("expectation_failed", e.get("code").asText());
      assertTrue(c.closedByServer());
    }
    assertEquals(200, f.get("/health").statusCode(), "the server goes on");
    assertEquals(1.0, f.httpRequests("/v1/completions", 417));
  }

  /**
   * Found by HttpApiFuzzTest: a request line naming HTTP/2.0 was answered "HTTP/2.0 200 OK" in HTTP/1.1's text format.
   * Answers are always HTTP/1.x: another major version is 505, a later 1.x is answered as 1.1.
   */
  @Test
  void answersAreHttp1WhateverVersionTheRequestNames() throws Exception {
    fixture(HttpFixture.settings());
    for (String version : new String[] {"HTTP/2.0", "HTTP/9.9", "HTTP/1.2"}) {
      try (java.net.Socket s = new java.net.Socket("127.0.0.1", f.server.port())) {
        s.setSoTimeout(60_000);
        s.getOutputStream().write(("GET /health " + version + "\r\nHost: x\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8); // read to the close
        if (version.equals("HTTP/1.2")) {
          assertTrue(answer.startsWith("HTTP/1.1 200 OK\r\n"), answer);
        } else {
          assertTrue(answer.startsWith("HTTP/1.1 505 HTTP Version Not Supported\r\n"), answer);
          JsonNode e = HttpFixture.JSON.readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4)).get("error");
          assertEquals("HTTP version '" + version + "' is not supported: send HTTP/1.1 (or HTTP/1.0)", e.get("message").asText());
          assertEquals("http_version_not_supported", e.get("code").asText());
        }
      }
    }
  }

  /**
   * Found by HttpApiFuzzTest: a client that closed the connection in the middle of a request's body made the server log
   * a warning with a stack trace each time (a log any client could flood). It is a debug line, like other disconnects.
   */
  @Test
  void aClientThatLeavesMidBodyIsNoWarning() throws Exception {
    fixture(HttpFixture.settings());
    ch.qos.logback.classic.Logger log = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(HttpApiHandler.class);
    ch.qos.logback.classic.Level level = log.getLevel();
    List<ch.qos.logback.classic.spi.ILoggingEvent> logged = new java.util.concurrent.CopyOnWriteArrayList<>(); // (logged on the event loops)
    ch.qos.logback.core.AppenderBase<ch.qos.logback.classic.spi.ILoggingEvent> events = new ch.qos.logback.core.AppenderBase<>() {
      @Override
      protected void append(ch.qos.logback.classic.spi.ILoggingEvent e) {
        logged.add(e);
      }
    };
    events.start();
    log.addAppender(events);
    log.setLevel(ch.qos.logback.classic.Level.DEBUG);
    try {
      for (int i = 0; i < 3; i++) {
        try (RawHttp c = new RawHttp(f.server.port())) {
          c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"prompt\": ");
        }
      }
      await("the server logs the three disconnects", () -> logged.stream().filter(e -> String.valueOf(e.getFormattedMessage()).contains("Channel closed while still aggregating")
          || e.getThrowableProxy() != null && e.getThrowableProxy().getMessage().contains("Channel closed while still aggregating")).count() == 3);
      assertTrue(logged.stream().noneMatch(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN)), () -> "warnings: " + logged);
      assertEquals(200, f.get("/health").statusCode(), "the server goes on");
    } finally {
      log.setLevel(level);
      log.detachAppender(events);
    }
  }

  /**
   * The known gap the fuzzing brief named: each body was bounded, but not all of them together, so many connections
   * could each hold one. Bodies held at once are bounded by --http-max-buffered-bytes: past it a connection is answered
   * 429 and closed, and what a connection held is free again once its request is read or it closes.
   */
  @Test
  void bodiesHeldAtOnceAreBoundedOverAllConnections() throws Exception {
    fixture(new HttpServer.Settings("127.0.0.1", 0, 1024, 16 << 10, Duration.ofMinutes(2), Duration.ofMinutes(2), 2, 2, 64, 64 << 10, 0, 2048));
    String part = "{\"prompt\": \"Hi\", \"max_tokens\": 1, \"temperature\": 0, \"pad\": \"" + "a".repeat(830); // 890 bytes of a 1000-byte body
    RawHttp first = new RawHttp(f.server.port());
    RawHttp second = new RawHttp(f.server.port());
    try (RawHttp third = new RawHttp(f.server.port())) {
      first.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + part);
      second.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + part);
      await("the server holds both bodies", () -> f.server.bufferedBodyBytes() == 2 * part.length());
      third.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + part);
      RawHttp.Response r = third.read();
      assertEquals(429, r.status());
      JsonNode e = HttpFixture.JSON.readTree(r.body()).get("error");
      String m = e.get("message").asText();
      assertTrue(m.startsWith("the HTTP API holds ") && m.endsWith(" bytes of request bodies already, its limit is 2048 (--http-max-buffered-bytes); retry later"), m);
      assertEquals("rate_limit_exceeded", e.get("code").asText());
      assertTrue(third.closedByServer());
      // the first request completes: its body is read, tokenized and answered, and its bytes are free again
      String rest = "\"}";
      first.send(rest + " ".repeat(1000 - part.length() - rest.length()));
      assertEquals(200, first.read().status());
      second.close(); // the second client leaves mid-body
      await("every byte is given back", () -> f.server.bufferedBodyBytes() == 0);
    } finally {
      first.close();
      second.close();
    }
    assertEquals(200, f.post("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 1}").statusCode(), "the server goes on");
    assertEquals(1.0, f.httpRequests("/v1/completions", 429));
  }

  @Test
  void headersOverTheLimitAre431AndGarbageIs400() throws Exception {
    fixture(HttpFixture.settings());
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send(RawHttp.get("/v1/models", "X-Filler: " + "x".repeat(20_000) + "\r\n"));
      RawHttp.Response r = c.read();
      assertEquals(431, r.status());
      assertEquals("the request's headers are larger than the 16384 bytes accepted", HttpFixture.JSON.readTree(r.body()).get("error").get("message").asText());
      assertTrue(c.closedByServer());
    }
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send("HELLO THERE\r\n\r\n");
      RawHttp.Response r = c.read();
      assertEquals(400, r.status());
      assertTrue(HttpFixture.JSON.readTree(r.body()).get("error").get("message").asText().startsWith("malformed HTTP request"), r.body());
      assertTrue(c.closedByServer());
    }
    assertEquals(200, f.get("/health").statusCode());
  }

  @Test
  void anIdleKeepAliveConnectionIsClosed() throws Exception {
    fixture(new HttpServer.Settings("127.0.0.1", 0, 1 << 20, 16 << 10, Duration.ofMinutes(2), Duration.ofMillis(200), 2, 2, 64, 64 << 10, 0, HttpServer.Settings.DEFAULT_MAX_BUFFERED_BYTES));
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send(RawHttp.get("/health"));
      assertEquals(200, c.read().status());
      assertTrue(c.closedByServer(), "closed once idle");
    }
    try (RawHttp c = new RawHttp(f.server.port())) {
      assertTrue(c.closedByServer(), "a connection that never sends a request is closed too");
    }
  }

  @Test
  void keepAliveAndPipelinedRequestsAreAnsweredInOrder() throws Exception {
    fixture(HttpFixture.settings());
    try (RawHttp c = new RawHttp(f.server.port())) {
      // three requests in one write: a generation, then two more behind it
      c.send(RawHttp.post("/v1/completions", "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0}") + RawHttp.get("/v1/models") + RawHttp.get("/nope"));
      RawHttp.Response first = c.read();
      assertEquals(200, first.status());
      assertEquals("text_completion", HttpFixture.JSON.readTree(first.body()).get("object").asText());
      RawHttp.Response second = c.read();
      assertEquals(200, second.status());
      assertEquals("list", HttpFixture.JSON.readTree(second.body()).get("object").asText());
      assertEquals(404, c.read().status());
      // the same connection takes more
      c.send(RawHttp.post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 3, \"stream\": true}"));
      RawHttp.Response stream = c.read();
      assertEquals(200, stream.status());
      assertTrue(stream.body().endsWith("data: [DONE]\n\n"));
      c.send(RawHttp.get("/health"));
      assertEquals(200, c.read().status());
    }
  }

  @Test
  void anHttp10StreamEndsWithTheConnection() throws Exception {
    fixture(HttpFixture.settings());
    String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 5, \"temperature\": 0, \"stream\": true}";
    try (RawHttp c = new RawHttp(f.server.port())) {
      c.send("POST /v1/completions HTTP/1.0\r\nContent-Length: " + body.length() + "\r\n\r\n" + body);
      RawHttp.Response r = c.read();
      assertEquals(200, r.status());
      assertFalse(r.headers().containsKey("transfer-encoding"));
      assertTrue(r.body().endsWith("data: [DONE]\n\n"), r.body());
      assertEquals("length", events(r.body()).getLast().get("choices").get(0).get("finish_reason").asText());
    }
  }
}
