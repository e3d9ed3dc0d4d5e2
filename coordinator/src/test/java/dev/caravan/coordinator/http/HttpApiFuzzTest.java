package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.caravan.coordinator.FuzzChecks;
import dev.caravan.coordinator.core.EngineCore;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import dev.caravan.engine.Oracle;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Fuzzes the OpenAI-compatible HTTP API over real loopback sockets: the real Netty {@link HttpServer} in front of the
 * real core with the in-process executor on stories260K, as {@link HttpFixture} builds it.
 *
 * <ul>
 *   <li>{@link #mutatedJsonBodiesGetAClearAnswer}: valid chat and completion requests mutated — every field given every
 *       JSON type, null, huge and edge numbers, huge strings and arrays, deep nesting, unknown and duplicate keys,
 *       lone surrogates, invalid UTF-8, truncation, trailing garbage, random bytes — streamed or not, some clients
 *       leaving mid-answer;
 *   <li>{@link #hostileHttpGetsAClearAnswer}: the request around the body — methods, paths (long, encoded, odd),
 *       versions, headers (huge, many, malformed, API keys), Content-Length lies, chunked bodies, Expect, garbage and
 *       half requests on the socket.
 * </ul>
 *
 * <p>Every answer must come (no hang), with an expected status and, for an error, OpenAI's error object whose message
 * names the problem without a stack trace or Java class name; a 200 must be a well-formed completion, list, health
 * answer or event stream. Only a request that never ended may get no answer. After each property: health is ok on
 * every event loop, a greedy request gives llama.cpp's tokens, and the core holds no request and no KV cache. Tries:
 * {@code -Dcaravan.fuzz.tries=N}.
 */
class HttpApiFuzzTest {
  private static final Set<Integer> EXPECTED = Set.of(200, 400, 401, 404, 405, 413, 414, 417, 429, 431, 503, 504, 505);
  /** The fixture's --max-request-bytes. */
  private static final int MAX_BODY = 1 << 20;
  /** Longer than any request may run (the server's request timeout is 5 s): no answer by then is a hang. */
  private static final int HANG_MILLIS = 30_000;
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private static Parallel parallel;
  private static LlamaModel model;
  private static Tokenizer tokenizer;
  private static HttpFixture f;
  /** Per outcome: cases, and their total milliseconds. */
  private static final Map<String, long[]> counts = new ConcurrentHashMap<>();

  @BeforeContainer
  static void start() throws IOException {
    parallel = new Parallel(1);
    model = LlamaModel.open(Oracle.load("stories260K").modelPath(), parallel);
    tokenizer = Tokenizer.fromGguf(model.file().metadata());
    // the coordinator's settings, with a 1 MiB body limit and short request and idle timeouts
    f = new HttpFixture(model, tokenizer, new SchedulerConfig(4, 8, 64, 1), Duration.ofSeconds(5),
        HttpServer.Settings.of("127.0.0.1", 0, MAX_BODY, Duration.ofSeconds(5), Duration.ofSeconds(5)), HttpAuth.ALLOW_ALL);
  }

  @AfterContainer
  static void stop() {
    System.out.println("HTTP fuzz outcomes:");
    counts.entrySet().stream().sorted(Map.Entry.comparingByKey())
        .forEach(e -> System.out.printf("  %-44s %7d requests, %7.1f ms each%n", e.getKey(), e.getValue()[0], (double) e.getValue()[1] / e.getValue()[0]));
    f.close();
    model.close();
    parallel.close();
  }

  // ---- the properties --------------------------------------------------------------------------------------------

  @Property(shrinking = ShrinkingMode.BOUNDED)
  void mutatedJsonBodiesGetAClearAnswer(@ForAll("jsonRequests") HttpCase c) throws Exception {
    check(c, exchange(c));
  }

  @Property(shrinking = ShrinkingMode.BOUNDED)
  void hostileHttpGetsAClearAnswer(@ForAll("hostileRequests") HttpCase c) throws Exception {
    check(c, exchange(c));
  }

  /** After every property: health on every event loop, llama.cpp's greedy tokens, nothing left in the core. */
  @AfterProperty
  void theServerIsStillWell() throws Exception {
    for (int i = 0; i < 4; i++) { // new connections go round the event loops
      Response health = exchange(HttpCase.of("GET", "/health", Map.of(), null));
      assertEquals(200, health.status, "health after the fuzzing: " + health);
      assertEquals("ok", HttpFixture.JSON.readTree(health.body).get("status").asText());
    }
    Oracle o = Oracle.load("stories260K");
    String body = "{\"prompt\": " + Arrays.toString(o.greedyPrompt) + ", \"max_tokens\": " + o.greedyIds.length + ", \"temperature\": 0, \"ignore_eos\": true, \"logprobs\": 0}";
    Response r = exchange(HttpCase.of("POST", "/v1/completions", Map.of("Content-Type", "application/json"), body.getBytes(StandardCharsets.UTF_8)));
    assertEquals(200, r.status, r.toString());
    JsonNode tokens = HttpFixture.JSON.readTree(r.body).get("choices").get(0).get("logprobs").get("tokens");
    assertEquals(o.greedyIds.length, tokens.size());
    for (int k = 0; k < o.greedyIds.length; k++) {
      assertEquals(f.piece(o.greedyIds[k]), tokens.get(k).asText(), "greedy token " + k + " after the fuzzing");
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      EngineCore.Load load = f.core.load().get(10, TimeUnit.SECONDS);
      int cached = f.executor.cachedSequences();
      if (load.running() == 0 && load.waiting() == 0 && cached == 0) {
        break;
      }
      assertTrue(System.nanoTime() < deadline, "the core still holds " + load + " and " + cached + " cached sequences a minute after the last case");
      Thread.sleep(50);
    }
  }

  // ---- one exchange on its own connection -----------------------------------------------------------------------

  /**
   * One request's bytes and how the client behaves: {@code halfClose} shuts the socket's output after sending (a
   * request that never ends may then get no answer), {@code leaveAfter} closes the connection after that many bytes of
   * the answer (-1: read it all).
   */
  record HttpCase(String method, byte[] request, boolean halfClose, int leaveAfter, String description) {
    static HttpCase of(String method, String target, Map<String, String> headers, byte[] body) {
      return new Request(method, target, "HTTP/1.1", headers, body, Framing.CONTENT_LENGTH).toCase(false, -1);
    }

    @Override
    public String toString() {
      return description + (halfClose ? " (output shut after sending)" : "") + (leaveAfter >= 0 ? " (client leaves after " + leaveAfter + " bytes)" : "");
    }
  }

  /** An answer: its status (-1: the connection closed without one), head, body (the events' text for a stream). */
  record Response(int status, String version, Map<String, String> headers, String body, long millis) {
    @Override
    public String toString() {
      return status + " " + headers + " " + (body.length() > 2000 ? body.substring(0, 2000) + "..." : body);
    }
  }

  private static Response exchange(HttpCase c) throws IOException {
    long t0 = System.nanoTime();
    try (Socket s = new Socket()) {
      s.setSoTimeout(HANG_MILLIS);
      s.connect(new InetSocketAddress("127.0.0.1", f.server.port()), 10_000);
      OutputStream out = s.getOutputStream();
      try {
        out.write(c.request);
        out.flush();
        if (c.halfClose) {
          s.shutdownOutput();
        }
      } catch (SocketException e) {
        // the server may answer (413, 431) and close before the whole request is written: read what it said
      }
      InputStream in = s.getInputStream();
      if (c.leaveAfter == 0) {
        return new Response(-2, "", Map.of(), "", 0);
      }
      try {
        return read(in, c, t0);
      } catch (SocketTimeoutException e) {
        throw new AssertionError("no answer within " + HANG_MILLIS + " ms: " + c, e);
      }
    }
  }

  private static Response read(InputStream in, HttpCase c, long t0) throws IOException {
    Limited body = new Limited(in, c.leaveAfter);
    String head;
    do {
      head = readHead(body);
      if (head == null) {
        return new Response(-1, "", Map.of(), "", (System.nanoTime() - t0) / 1_000_000);
      }
      if (head.isEmpty()) {
        return new Response(-3, "", Map.of(), "", (System.nanoTime() - t0) / 1_000_000); // the client left inside the head
      }
    } while (head.startsWith("HTTP/1.1 100 ")); // Expect: 100-continue
    String[] lines = head.split("\r\n");
    String[] statusLine = lines[0].split(" ", 3);
    assertTrue(statusLine.length >= 2 && statusLine[0].startsWith("HTTP/1."), "a status line: " + head);
    int status = Integer.parseInt(statusLine[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      assertTrue(colon > 0, "a header line: " + lines[i]);
      headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
    }
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    boolean complete = true;
    try {
      if (c.method.equals("HEAD")) {
        // no body follows an answer to HEAD
      } else if (headers.containsKey("content-length")) {
        int n = Integer.parseInt(headers.get("content-length"));
        byte[] got = body.readNBytes(n);
        b.write(got);
        complete = got.length == n;
      } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
        while (true) {
          String sizeLine = readLine(body);
          if (sizeLine == null) {
            complete = false;
            break;
          }
          int size = Integer.parseInt(sizeLine.split(";")[0].trim(), 16);
          if (size == 0) {
            readLine(body);
            break;
          }
          byte[] got = body.readNBytes(size);
          b.write(got);
          if (got.length < size || readLine(body) == null) {
            complete = false;
            break;
          }
        }
      } else {
        b.write(body.readAllBytes()); // HTTP/1.0: to the end of the connection
        complete = !body.left(); // unless the client left first: then the end was the client's, not the server's
      }
    } catch (SocketException e) {
      complete = false;
    }
    if (!complete && !body.left()) {
      throw new AssertionError("the answer broke off: " + head + b.toString(StandardCharsets.UTF_8));
    }
    return new Response(complete ? status : -3, statusLine[0], headers, b.toString(StandardCharsets.UTF_8), (System.nanoTime() - t0) / 1_000_000);
  }

  /** The answer's bytes, up to the point where the client leaves. */
  private static final class Limited extends InputStream {
    private final InputStream in;
    private long left;

    Limited(InputStream in, long limit) {
      this.in = in;
      this.left = limit < 0 ? Long.MAX_VALUE : limit;
    }

    boolean left() {
      return left == 0;
    }

    @Override
    public int read() throws IOException {
      if (left == 0) {
        return -1;
      }
      int c = in.read();
      if (c >= 0) {
        left--;
      }
      return c;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (left == 0) {
        return -1;
      }
      int n = in.read(b, off, (int) Math.min(len, left));
      if (n > 0) {
        left -= n;
      }
      return n;
    }
  }

  /** The head of an answer; null when the connection closed before one, "" when the client left inside it. */
  private static String readHead(Limited in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int matched = 0;
    try {
      while (matched < 4) {
        int c = in.read();
        if (c < 0) {
          if (in.left()) {
            return "";
          }
          if (b.size() == 0) {
            return null;
          }
          throw new AssertionError("the connection closed inside a response head: " + b.toString(StandardCharsets.ISO_8859_1));
        }
        b.write(c);
        matched = (c == '\r' && (matched == 0 || matched == 2)) || (c == '\n' && (matched == 1 || matched == 3)) ? matched + 1 : (c == '\r' ? 1 : 0);
      }
    } catch (SocketException e) {
      if (b.size() == 0) {
        return null; // reset before any answer
      }
      throw e;
    }
    return b.toString(StandardCharsets.ISO_8859_1);
  }

  private static String readLine(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int c;
    while ((c = in.read()) >= 0 && c != '\n') {
      if (c != '\r') {
        b.write(c);
      }
    }
    return c < 0 && b.size() == 0 ? null : b.toString(StandardCharsets.UTF_8);
  }

  // ---- what an answer must look like -------------------------------------------------------------------------------

  private static void check(HttpCase c, Response r) throws IOException {
    String label = r.status == -1 ? "closed without an answer" : r.status == -2 ? "client left before the answer" : r.status == -3 ? "client left mid-answer" : String.valueOf(r.status);
    label = (Set.of("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "PRI", "RAW").contains(c.method) ? c.method : "(odd method)") + " " + label;
    long[] count = counts.computeIfAbsent(label, k -> new long[2]);
    synchronized (count) {
      count[0]++;
      count[1] += r.millis;
    }
    Statistics.collect(label);
    if (r.status == -2 || r.status == -3) {
      return; // the client left; the server's cleanup is checked after the property
    }
    if (r.status == -1) {
      assertTrue(c.halfClose, "the connection closed without an answer to a whole request: " + c);
      return;
    }
    assertTrue(EXPECTED.contains(r.status), "status " + r.status + " for " + c + ": " + r);
    if (c.method.equals("HEAD")) {
      return;
    }
    String type = r.headers.getOrDefault("content-type", "");
    if (r.status != 200) {
      assertTrue(type.startsWith("application/json"), "an error is JSON: " + r);
      checkError(HttpFixture.JSON.readTree(r.body), r);
      return;
    }
    if (type.startsWith("text/event-stream")) {
      checkStream(r);
      return;
    }
    assertTrue(type.startsWith("application/json"), "JSON: " + r);
    JsonNode j = HttpFixture.JSON.readTree(r.body);
    switch (j.path("object").asText()) {
      case "text_completion" -> {
        assertTrue(j.get("choices").get(0).get("text").isTextual(), r.toString());
        assertTrue(j.get("usage").get("completion_tokens").asInt() >= 0, r.toString());
      }
      case "chat.completion" -> assertTrue(j.get("choices").get(0).get("message").get("content").isTextual(), r.toString());
      case "list" -> assertEquals("stories260K", j.get("data").get(0).get("id").asText());
      case "model" -> assertEquals("stories260K", j.get("id").asText());
      default -> assertEquals("ok", j.path("status").asText(), "a 200 is a completion, a model list, a model or health: " + r);
    }
  }

  /** OpenAI's error object: a message naming the problem, never a stack trace or Java class name. */
  private static void checkError(JsonNode j, Response r) {
    JsonNode e = j.get("error");
    assertNotNull(e, "an error object: " + r);
    String m = e.path("message").asText("");
    assertTrue(m.length() > 10, "the message names the problem: " + r);
    assertTrue(e.path("type").isTextual(), r.toString());
    String java = FuzzChecks.javaIn(m);
    assertTrue(java == null, () -> "the message gives away Java ('" + java + "'): " + m);
    assertFalse(r.status == 500 || "server_error".equals(e.path("type").asText()), "a bug answered as a server error: " + r);
  }

  /** Server-sent events: JSON chunks, then [DONE]; or an error event last. */
  private static void checkStream(Response r) throws JsonProcessingException {
    List<String> events = new ArrayList<>();
    for (String block : r.body.split("\n\n")) {
      if (!block.isEmpty()) {
        assertTrue(block.startsWith("data: "), "a server-sent event: " + block);
        events.add(block.substring(6));
      }
    }
    assertFalse(events.isEmpty(), r.toString());
    String last = events.getLast();
    if (!last.equals("[DONE]")) {
      checkError(HttpFixture.JSON.readTree(last), r); // an error after the stream started
    }
    for (String e : events.subList(0, events.size() - 1)) {
      JsonNode chunk = HttpFixture.JSON.readTree(e);
      assertTrue(chunk.has("choices"), "a chunk: " + e);
    }
  }

  // ---- requests: the bytes around a body -------------------------------------------------------------------------

  enum Framing { CONTENT_LENGTH, CHUNKED, NONE, LENGTH_SHORT, LENGTH_LONG, LENGTH_AND_CHUNKED, LENGTH_TWICE, LENGTH_GARBAGE, CHUNKED_BROKEN }

  record Request(String method, String target, String version, Map<String, String> headers, byte[] body, Framing framing) {
    HttpCase toCase(boolean halfClose, int leaveAfter) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      StringBuilder h = new StringBuilder(method).append(' ').append(target).append(version.isEmpty() ? "" : " " + version).append("\r\n");
      headers.forEach((k, v) -> h.append(k).append(v == null ? "" : ": " + v).append("\r\n"));
      byte[] b = body == null ? new byte[0] : body;
      boolean incomplete = false;
      switch (framing) {
        case CONTENT_LENGTH -> {
          if (body != null) {
            h.append("Content-Length: ").append(b.length).append("\r\n");
          }
        }
        case NONE -> {}
        case LENGTH_SHORT -> h.append("Content-Length: ").append(b.length / 2).append("\r\n");
        case LENGTH_LONG -> {
          h.append("Content-Length: ").append(b.length + 1 + b.length / 3).append("\r\n");
          incomplete = true;
        }
        case LENGTH_AND_CHUNKED -> h.append("Content-Length: ").append(b.length).append("\r\nTransfer-Encoding: chunked\r\n");
        case LENGTH_TWICE -> h.append("Content-Length: ").append(b.length).append("\r\nContent-Length: ").append(b.length + 7).append("\r\n");
        case LENGTH_GARBAGE -> h.append("Content-Length: ").append(List.of("-1", "abc", "99999999999999999999", "1e3", " ", "0x10").get(b.length % 6)).append("\r\n");
        case CHUNKED, CHUNKED_BROKEN -> h.append("Transfer-Encoding: chunked\r\n");
      }
      h.append("\r\n");
      out.writeBytes(h.toString().getBytes(StandardCharsets.ISO_8859_1));
      if (framing == Framing.CHUNKED || framing == Framing.LENGTH_AND_CHUNKED || framing == Framing.CHUNKED_BROKEN) {
        for (int at = 0; at < b.length; at += 1000) {
          int n = Math.min(1000, b.length - at);
          out.writeBytes((Integer.toHexString(framing == Framing.CHUNKED_BROKEN && at == 0 ? n + 5 : n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
          out.write(b, at, n);
          out.writeBytes("\r\n".getBytes(StandardCharsets.US_ASCII));
        }
        if (framing != Framing.CHUNKED_BROKEN) {
          out.writeBytes("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        }
        incomplete |= framing == Framing.CHUNKED_BROKEN;
      } else {
        out.write(b, 0, b.length);
      }
      String shown = (body == null ? "" : new String(b, 0, Math.min(b.length, 3000), StandardCharsets.UTF_8) + (b.length > 3000 ? "... (" + b.length + " bytes)" : ""));
      String desc = h.length() > 3000 ? h.substring(0, 1500) + "... (" + h.length() + " header bytes) ..." + h.substring(h.length() - 1000) : h.toString();
      return new HttpCase(method, out.toByteArray(), halfClose || incomplete, leaveAfter, framing + ": " + desc.replace("\r\n", "\\r\\n ") + shown);
    }
  }

  private static final Map<String, String> JSON_HEADERS = Map.of("Host", "localhost", "Content-Type", "application/json");

  @Provide
  Arbitrary<HttpCase> jsonRequests() {
    Arbitrary<Boolean> chat = Arbitraries.of(true, false);
    return chat.flatMap(isChat -> Combinators.combine(jsonBody(isChat), leave()).as((body, leave) ->
        new Request("POST", isChat ? "/v1/chat/completions" : "/v1/completions", "HTTP/1.1", JSON_HEADERS, body, Framing.CONTENT_LENGTH).toCase(false, leave)));
  }

  /** The client reads the whole answer, or leaves at once, or after some bytes of it. */
  private static Arbitrary<Integer> leave() {
    return Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.just(-1)), Tuple.of(1, Arbitraries.just(0)), Tuple.of(1, Arbitraries.integers().between(1, 600)));
  }

  @Provide
  Arbitrary<HttpCase> hostileRequests() {
    Arbitrary<String> methods = Arbitraries.frequencyOf(
        Tuple.of(10, Arbitraries.of("POST", "GET")),
        Tuple.of(3, Arbitraries.of("PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "post", "Get", "PRI")),
        Tuple.of(1, Arbitraries.strings().withCharRange('!', '~').ofMinLength(1).ofMaxLength(12).filter(m -> m.indexOf(' ') < 0)),
        Tuple.of(1, Arbitraries.of("G\u00c9T", "P\tOST", "", "GET GET", "X".repeat(10_000))));
    Arbitrary<String> paths = Arbitraries.frequencyOf(
        Tuple.of(10, Arbitraries.of("/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/models/stories260K", "/health")),
        Tuple.of(3, Arbitraries.of("/v1/models/", "/v1/models/x", "/v1/models/%2e%2e", "/v1/models/stories260K/extra", "//v1//models", "/v1/completions?x=1&y", "/v1/completions#frag",
            "/health?verbose", "/HEALTH", "/v1/chat/completions/", "/v2/completions", "/", "*", "http://localhost/v1/models", "/v1/models/%", "/v1/models/%zz", "/v1/models/%00",
            "/v1/models/%ff%fe", "/v1/models/\u00e9", "/../../etc/passwd", "/v1/models/" + "a".repeat(5000), "/metrics", "/v1/embeddings", "/%0d%0aX-Injected:%20yes")),
        Tuple.of(1, Arbitraries.strings().withCharRange('!', '~').ofMaxLength(40).map(s -> "/" + s)),
        Tuple.of(1, Arbitraries.integers().between(8_000, 20_000).map(n -> "/v1/models/" + "b".repeat(n))));
    Arbitrary<String> versions = Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.just("HTTP/1.1")), Tuple.of(3, Arbitraries.just("HTTP/1.0")),
        Tuple.of(1, Arbitraries.of("HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/9.9", "http/1.1", "HTTP/1.1 extra", "", "HTTPS/1.1", "HTTP/1")));
    Arbitrary<Map<String, String>> headers = header().list().ofMaxSize(4).map(hs -> {
      Map<String, String> m = new LinkedHashMap<>();
      m.put("Host", "localhost");
      m.put("Content-Type", "application/json");
      hs.forEach(kv -> m.put(kv.get1(), kv.get2()));
      return m;
    });
    Arbitrary<byte[]> bodies = Arbitraries.frequencyOf(
        Tuple.of(6, Arbitraries.of(
            "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 2, \"temperature\": 0}",
            "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2, \"stream\": true}",
            "{\"prompt\": [1, 403, 407], \"max_tokens\": 3, \"temperature\": 0}").map(s -> s.getBytes(StandardCharsets.UTF_8))),
        Tuple.of(1, Arbitraries.just((byte[]) null)),
        Tuple.of(1, Arbitraries.bytes().array(byte[].class).ofMaxSize(100)),
        Tuple.of(1, Arbitraries.integers().between(MAX_BODY - 10, MAX_BODY + 10).map(n -> {
          byte[] b = new byte[n]; // a prompt as long as the body limit allows, or a little longer
          byte[] open = "{\"prompt\": \"".getBytes(StandardCharsets.US_ASCII);
          Arrays.fill(b, (byte) 'a');
          System.arraycopy(open, 0, b, 0, open.length);
          b[n - 2] = '"';
          b[n - 1] = '}';
          return b;
        })));
    Arbitrary<Framing> framings = Arbitraries.frequencyOf(Tuple.of(12, Arbitraries.just(Framing.CONTENT_LENGTH)), Tuple.of(3, Arbitraries.just(Framing.CHUNKED)),
        Tuple.of(1, Arbitraries.of(Framing.NONE, Framing.LENGTH_SHORT, Framing.LENGTH_LONG, Framing.LENGTH_AND_CHUNKED, Framing.LENGTH_TWICE, Framing.LENGTH_GARBAGE, Framing.CHUNKED_BROKEN)));
    Arbitrary<HttpCase> http = Combinators.combine(methods, paths, versions, headers, bodies, framings, leave())
        // a Content-Length or Transfer-Encoding among the odd headers may promise a body that never comes: shut the output
        .as((m, p, v, h, b, fr, leave) -> new Request(m, p, v, h, b, fr).toCase(h.containsKey("Content-Length") || h.containsKey("Transfer-Encoding"), leave));
    return Arbitraries.frequencyOf(Tuple.of(12, http), Tuple.of(2, socketGarbage()));
  }

  /** A header: usual ones with odd values, API keys, huge ones, malformed lines. */
  private static Arbitrary<Tuple.Tuple2<String, String>> header() {
    return Arbitraries.frequencyOf(
        Tuple.of(4, Combinators.combine(Arbitraries.of("Authorization", "Content-Type", "Connection", "Accept", "Expect", "User-Agent", "Accept-Encoding", "Content-Encoding", "Upgrade",
                "X-Forwarded-For", "Host", "Cookie", "TE", "Trailer", "Keep-Alive", "OpenAI-Organization"),
            Arbitraries.of("Bearer sk-x", "Bearer ", "", "close", "keep-alive", "100-continue", "application/json; charset=utf-16", "text/plain", "gzip", "h2c", "chunked",
                "*/*", "\u00e9\u00e8", "a\u0000b", "identity, gzip;q=0", "1.2.3.4, ::1", "Upgrade, HTTP2-Settings")).as(Tuple::of)),
        Tuple.of(1, Combinators.combine(Arbitraries.strings().withCharRange('!', '~').ofMinLength(1).ofMaxLength(16).filter(k -> k.indexOf(':') < 0), Arbitraries.strings().withCharRange(' ', '~').ofMaxLength(30)).as(Tuple::of)),
        Tuple.of(1, Arbitraries.integers().between(5_000, 40_000).map(n -> Tuple.of("X-Big", "v".repeat(n)))), // 431 past 16 KiB
        Tuple.of(1, Arbitraries.of(Tuple.of("No-Colon-Header", (String) null), Tuple.of(" Leading-Space", "x"), Tuple.of("Trailing-Space ", "x"), Tuple.of("X-Fold", "a\r\n  folded"),
            Tuple.of("X-Bare-Lf", "a\nb"), Tuple.of("X-Cr", "a\rb"), Tuple.of("Content-Length", "5"), Tuple.of("Transfer-Encoding", "gzip, chunked"), Tuple.of("Transfer-Encoding", "identity"),
            Tuple.of("Expect", "200-ok"), Tuple.of("Host", ""), Tuple.of("X-Many", "a,".repeat(2_000)))));
  }

  /** Bytes that are hardly HTTP at all, or stop halfway; the client then shuts its side. */
  private static Arbitrary<HttpCase> socketGarbage() {
    Arbitrary<byte[]> bytes = Arbitraries.frequencyOf(
        Tuple.of(2, Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(200)),
        Tuple.of(2, Arbitraries.of("GET", "GET / HTTP/1.1", "GET /health HTTP/1.1\r\nHost: x\r\n", "POST /v1/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"pro", "\r\n\r\n\r\n",
            "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003", // a TLS ClientHello's start
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE", "\u0000\u0000\u0000\u0000",
            "GET /health HTTP/1.1\nHost: x\n\n", "GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").map(s -> s.getBytes(StandardCharsets.ISO_8859_1))));
    return bytes.map(b -> new HttpCase("RAW", b, true, -1, "raw " + new String(b, StandardCharsets.ISO_8859_1).replace("\r\n", "\\r\\n")));
  }

  // ---- JSON bodies: valid requests, mutated -----------------------------------------------------------------------

  private static ObjectNode base(boolean chat, int variant) {
    ObjectNode o = NODES.objectNode();
    if (variant % 3 == 0) {
      o.put("model", "stories260K");
    }
    if (chat) {
      ArrayNode ms = o.putArray("messages");
      if (variant % 2 == 0) {
        ms.addObject().put("role", "system").put("content", "You tell stories.");
      }
      ms.addObject().put("role", "user").put("content", "Tell me a story.");
      if (variant % 5 == 0) {
        ms.addObject().put("role", "assistant").putArray("content").addObject().put("type", "text").put("text", "Once");
        ms.addObject().put("role", "user").put("content", "Go on.");
      }
    } else if (variant % 2 == 0) {
      o.put("prompt", "Once upon a time");
    } else {
      o.putArray("prompt").add(1).add(403).add(407).add(261);
    }
    o.put(variant % 4 == 0 ? "max_completion_tokens" : "max_tokens", 1 + variant % 4);
    switch (variant % 7) {
      case 0 -> o.put("temperature", 0);
      case 1 -> o.put("temperature", 0.7).put("top_p", 0.9).put("seed", 42);
      case 2 -> o.put("stream", true).putObject("stream_options").put("include_usage", true);
      case 3 -> o.put("stream", true);
      case 4 -> o.put("top_k", 5).put("min_p", 0.1).put("repeat_penalty", 1.1).put("repeat_last_n", 16).put("frequency_penalty", 0.5).put("presence_penalty", 0.5);
      case 5 -> {
        if (chat) {
          o.put("logprobs", true).put("top_logprobs", 3);
        } else {
          o.put("logprobs", 2);
        }
      }
      default -> o.putArray("stop").add("Lily").add(".");
    }
    if (variant % 11 == 0) {
      o.put("ignore_eos", true).put("user", "fuzz").put("n", 1);
    }
    return o;
  }

  /** Every field name the API knows, and some it does not. */
  private static final List<String> FIELDS = List.of("model", "messages", "prompt", "max_tokens", "max_completion_tokens", "stop", "temperature", "top_p", "seed", "frequency_penalty",
      "presence_penalty", "top_k", "min_p", "repeat_penalty", "repeat_last_n", "ignore_eos", "logprobs", "top_logprobs", "stream", "stream_options", "n", "best_of", "echo", "suffix",
      "logit_bias", "tools", "functions", "response_format", "user", "tool_choice", "unknown_field", "", "\u0000", "role", "content");

  /** Values of every JSON type, edge numbers, huge strings and arrays, deep nesting. */
  private static Arbitrary<JsonNode> values() {
    return Arbitraries.frequencyOf(
        Tuple.of(6, Arbitraries.of(NODES.nullNode(), NODES.booleanNode(true), NODES.booleanNode(false), NODES.numberNode(0), NODES.numberNode(-1), NODES.numberNode(1),
            NODES.numberNode(2), NODES.numberNode(20), NODES.numberNode(21), NODES.numberNode(0.5), NODES.numberNode(-0.0), NODES.numberNode(1e-45), NODES.numberNode(1e308),
            NODES.numberNode(Integer.MAX_VALUE), NODES.numberNode(Integer.MIN_VALUE), NODES.numberNode(Integer.MAX_VALUE + 1L), NODES.numberNode(Long.MAX_VALUE), NODES.numberNode(Long.MIN_VALUE),
            NODES.numberNode(new BigInteger("123456789012345678901234567890")), NODES.numberNode(new java.math.BigDecimal("1e400")), NODES.numberNode(new java.math.BigDecimal("-1e-400")),
            NODES.numberNode(1.0000001), NODES.numberNode(512), NODES.numberNode(513), NODES.textNode(""), NODES.textNode("1"), NODES.textNode("true"), NODES.textNode("NaN"),
            NODES.textNode("stories260K"), NODES.textNode("user"), NODES.textNode("\uD800"), NODES.textNode("\u0000"), NODES.textNode("<s>"), NODES.arrayNode(), NODES.objectNode(),
            NODES.arrayNode().add("a").add(1), NODES.objectNode().put("role", "user").put("content", "x"), NODES.objectNode().put("type", "json_object"),
            NODES.objectNode().put("include_usage", true), NODES.arrayNode().add(NODES.objectNode().put("type", "text").put("text", "hi")), NODES.objectNode().put("50256", -100))),
        Tuple.of(2, Arbitraries.strings().ofMaxLength(30).map(NODES::textNode)),
        Tuple.of(2, Arbitraries.integers().map(NODES::numberNode)),
        Tuple.of(1, Arbitraries.doubles().map(NODES::numberNode)),
        Tuple.of(1, Arbitraries.integers().between(1_000, 300_000).map(n -> NODES.textNode("x".repeat(n)))),
        Tuple.of(1, Arbitraries.integers().between(100, 20_000).map(n -> {
          ArrayNode a = NODES.arrayNode();
          for (int i = 0; i < n; i++) {
            a.add(i % 600);
          }
          return a;
        })),
        Tuple.of(1, Arbitraries.integers().between(4_000, 6_000).map(n -> {
          ArrayNode a = NODES.arrayNode();
          for (int i = 0; i < n; i++) {
            a.addObject().put("role", i % 2 == 0 ? "user" : "assistant").put("content", "m");
          }
          return a;
        })),
        Tuple.of(1, Arbitraries.integers().between(2, 300).map(depth -> {
          JsonNode n = NODES.textNode("deep");
          for (int i = 0; i < depth; i++) {
            n = i % 2 == 0 ? NODES.arrayNode().add(n) : NODES.objectNode().set("a", n);
          }
          return n;
        })));
  }

  /** A change to the request's JSON tree or to its text. */
  sealed interface JsonMutation {}

  /** Sets a field (of the body, of stream_options, of a message, of a content part) to a value; null value removes it. */
  record SetField(int where, String field, JsonNode value) implements JsonMutation {
    @Override
    public String toString() {
      String v = value == null ? "removed" : value.toString();
      return "set " + where + "." + field + " = " + (v.length() > 100 ? v.substring(0, 100) + "... (" + v.length() + " chars)" : v);
    }
  }

  /** A key written twice (JSON allows it; which one wins is the parser's choice). */
  record DuplicateKey(String field, JsonNode value) implements JsonMutation {}

  /** Byte-level: truncate, insert, replace, wrap in nesting, prefix, append. */
  record TextEdit(int kind, double at, byte[] bytes) implements JsonMutation {
    @Override
    public String toString() {
      return "text edit " + kind + " at " + at + " " + Arrays.toString(bytes);
    }
  }

  private static Arbitrary<JsonMutation> jsonMutation() {
    Arbitrary<String> field = Arbitraries.oneOf(Arbitraries.of(FIELDS), Arbitraries.strings().ofMaxLength(8));
    Arbitrary<JsonNode> valueOrRemove = Arbitraries.frequencyOf(Tuple.of(8, values()), Tuple.of(1, Arbitraries.just((JsonNode) null)));
    return Arbitraries.frequencyOf(
        Tuple.of(10, Combinators.combine(Arbitraries.integers().between(0, 3), field, valueOrRemove).as((w, k, v) -> (JsonMutation) new SetField(w, k, v))),
        Tuple.of(1, Combinators.combine(Arbitraries.of(FIELDS), values()).as((k, v) -> (JsonMutation) new DuplicateKey(k, v))),
        Tuple.of(3, Combinators.combine(Arbitraries.integers().between(0, 9), Arbitraries.doubles().between(0, 1), Arbitraries.oneOf(Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(6),
            Arbitraries.of(new byte[] {(byte) 0xc3, 0x28}, new byte[] {(byte) 0xff, (byte) 0xfe}, new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80}, "\\ud800".getBytes(StandardCharsets.US_ASCII),
                "\\u0000".getBytes(StandardCharsets.US_ASCII), "//".getBytes(StandardCharsets.US_ASCII), "'".getBytes(StandardCharsets.US_ASCII), "NaN".getBytes(StandardCharsets.US_ASCII),
                "\"".getBytes(StandardCharsets.US_ASCII), "}".getBytes(StandardCharsets.US_ASCII), "1".repeat(5000).getBytes(StandardCharsets.US_ASCII))))
            .as((k, at, b) -> (JsonMutation) new TextEdit(k, at, b))));
  }

  private static Arbitrary<byte[]> jsonBody(boolean chat) {
    return Arbitraries.frequencyOf(
        Tuple.of(20, Combinators.combine(Arbitraries.integers().between(0, 1000), jsonMutation().list().ofMinSize(0).ofMaxSize(3)).as((variant, ms) -> apply(base(chat, variant), ms))),
        Tuple.of(1, Arbitraries.bytes().array(byte[].class).ofMaxSize(300)),
        Tuple.of(1, Arbitraries.strings().ofMaxLength(100).map(s -> s.getBytes(StandardCharsets.UTF_8))),
        Tuple.of(1, Arbitraries.of("", "null", "[]", "1", "\"x\"", "{}", "{", "[", "{\"a\":", "\uFEFF{\"prompt\": \"x\", \"max_tokens\": 1}", "{\"prompt\": \"x\"} {}", "{\"prompt\": \"x\"}garbage")
            .map(s -> s.getBytes(StandardCharsets.UTF_8))),
        Tuple.of(1, Arbitraries.integers().between(900, 200_000).map(n -> ("[".repeat(n) + "]".repeat(n)).getBytes(StandardCharsets.US_ASCII)))); // deep nesting
  }

  private static byte[] apply(ObjectNode body, List<JsonMutation> mutations) {
    List<TextEdit> edits = new ArrayList<>();
    List<DuplicateKey> duplicates = new ArrayList<>();
    for (JsonMutation m : mutations) {
      switch (m) {
        case SetField s -> {
          ObjectNode target = target(body, s.where);
          if (s.value == null) {
            target.remove(s.field);
          } else {
            target.set(s.field, s.value);
          }
        }
        case DuplicateKey d -> duplicates.add(d);
        case TextEdit e -> edits.add(e);
      }
    }
    byte[] b = HttpApiHandler.bytes(body);
    for (DuplicateKey d : duplicates) {
      byte[] entry = ("{\"" + d.field + "\": " + d.value + ", ").getBytes(StandardCharsets.UTF_8);
      byte[] out = Arrays.copyOf(entry, entry.length + b.length - 1);
      System.arraycopy(b, 1, out, entry.length, b.length - 1);
      b = out;
    }
    for (TextEdit e : edits) {
      b = edit(b, e);
    }
    return b;
  }

  /** Where a field is set: 0 the body, 1 stream_options, 2 the first message, 3 its first content part. */
  private static ObjectNode target(ObjectNode body, int where) {
    return switch (where) {
      case 1 -> body.get("stream_options") instanceof ObjectNode o ? o : body;
      case 2 -> body.get("messages") instanceof ArrayNode a && !a.isEmpty() && a.get(0) instanceof ObjectNode o ? o : body;
      case 3 -> {
        Iterator<JsonNode> ms = body.path("messages").elements();
        while (ms.hasNext()) {
          if (ms.next().get("content") instanceof ArrayNode parts && !parts.isEmpty() && parts.get(0) instanceof ObjectNode o) {
            yield o;
          }
        }
        yield body;
      }
      default -> body;
    };
  }

  private static byte[] edit(byte[] b, TextEdit e) {
    int p = (int) (e.at * b.length);
    return switch (e.kind) {
      case 0 -> Arrays.copyOf(b, p); // truncated
      case 1, 2 -> splice(b, p, 0, e.bytes); // inserted
      case 3 -> splice(b, p, Math.min(e.bytes.length, b.length - p), e.bytes); // overwritten
      case 4 -> splice(b, p, Math.min(3, b.length - p), new byte[0]); // deleted
      case 5 -> splice(b, 0, 0, e.bytes); // before it
      case 6 -> splice(b, b.length, 0, e.bytes); // after it
      case 7 -> { // a value nested deep
        int depth = 100 + (int) (e.at * 3000);
        yield splice(b, Math.max(0, b.length - 1), 0, (", \"nest\": " + "[".repeat(depth) + "]".repeat(depth)).getBytes(StandardCharsets.US_ASCII));
      }
      default -> { // a string holding raw bytes that may not be UTF-8
        byte[] s = new byte[e.bytes.length + 12];
        System.arraycopy(", \"x\": \"".getBytes(StandardCharsets.US_ASCII), 0, s, 0, 8);
        System.arraycopy(e.bytes, 0, s, 8, e.bytes.length);
        s[s.length - 4] = '"';
        s[s.length - 3] = ' ';
        s[s.length - 2] = ' ';
        s[s.length - 1] = ' ';
        yield splice(b, Math.max(0, b.length - 1), 0, s);
      }
    };
  }

  private static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
    byte[] out = new byte[b.length - remove + insert.length];
    System.arraycopy(b, 0, out, 0, at);
    System.arraycopy(insert, 0, out, at, insert.length);
    System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
    return out;
  }
}
