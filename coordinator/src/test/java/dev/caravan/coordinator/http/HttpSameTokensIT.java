package dev.caravan.coordinator.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One serving core behind two APIs: the same request through the OpenAI-compatible HTTP API and through gRPC gives the
 * same tokens on a real 2-worker cluster — greedy, greedy with a repetition penalty, seeded sampling with temperature,
 * top-k, top-p, min-p and a repetition penalty, and a seed alone (both APIs then apply the same llama.cpp defaults) —
 * for text prompts, token-id prompts and chat.
 */
class HttpSameTokensIT {
  private static final Path MODEL = TestData.stories260K();
  private static final String PROMPT = "Lily and Ben went to the park. They saw a big";
  private static final int MAX_TOKENS = 48;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static LocalCluster cluster;
  private static Tokenizer tokenizer;
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  /** Sampling fields as both APIs take them; null: not sent. */
  private record Params(String name, Float temperature, Integer topK, Float topP, Float minP, Float repeatPenalty, Integer repeatLastN, Long seed) {
    SamplingParams proto() {
      SamplingParams.Builder b = SamplingParams.newBuilder();
      if (temperature != null) b.setTemperature(temperature);
      if (topK != null) b.setTopK(topK);
      if (topP != null) b.setTopP(topP);
      if (minP != null) b.setMinP(minP);
      if (repeatPenalty != null) b.setRepeatPenalty(repeatPenalty);
      if (repeatLastN != null) b.setRepeatLastN(repeatLastN);
      if (seed != null) b.setSeed(seed);
      return b.build();
    }

    void json(ObjectNode o) {
      if (temperature != null) o.put("temperature", temperature);
      if (topK != null) o.put("top_k", topK);
      if (topP != null) o.put("top_p", topP);
      if (minP != null) o.put("min_p", minP);
      if (repeatPenalty != null) o.put("repeat_penalty", repeatPenalty);
      if (repeatLastN != null) o.put("repeat_last_n", repeatLastN);
      if (seed != null) o.put("seed", seed);
    }
  }

  private static final List<Params> PARAMS = List.of(
      new Params("greedy", 0f, null, null, null, null, null, null),
      new Params("greedy with a repetition penalty", 0f, null, null, null, 1.5f, 64, null),
      new Params("seeded sampling", 0.9f, 40, 0.9f, 0.05f, 1.3f, 64, 4242L),
      new Params("the defaults with a seed", null, null, null, null, null, null, 99L));

  @BeforeAll
  static void startCluster() throws Exception {
    try (GgufFile f = GgufFile.open(MODEL)) {
      tokenizer = Tokenizer.fromGguf(f.metadata());
    }
    cluster = LocalCluster.start(MODEL, "http-same-tokens");
    cluster.addWorker();
    cluster.addWorker();
    cluster.awaitServing(2, Duration.ofSeconds(90));
  }

  @AfterAll
  static void stopCluster() {
    if (cluster != null) {
      cluster.close();
    }
  }

  /** What gRPC streams: the tokens as the text each stands for, and the text. */
  private record Tokens(List<String> pieces, String text) {}

  private static Tokens grpc(GenerateRequest request) {
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(cluster.channel()).withDeadlineAfter(60, TimeUnit.SECONDS).generate(request);
    List<String> pieces = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasDelta()) {
        r.getDelta().getTokenIdsList().forEach(id -> pieces.add(new String(tokenizer.tokenBytes(id, true), StandardCharsets.UTF_8)));
        text.append(r.getDelta().getText());
      }
    }
    return new Tokens(pieces, text.toString());
  }

  private static JsonNode http(String path, ObjectNode body) throws Exception {
    HttpRequest r = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort() + path)).timeout(Duration.ofSeconds(60))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
    HttpResponse<String> resp = HTTP.send(r, HttpResponse.BodyHandlers.ofString());
    assertEquals(200, resp.statusCode(), resp.body());
    return JSON.readTree(resp.body());
  }

  /** A completion's tokens, from its log-probabilities (the API's per-token view), and its text. */
  private static Tokens completion(ObjectNode body) throws Exception {
    body.put("logprobs", 0);
    JsonNode choice = http("/v1/completions", body).get("choices").get(0);
    List<String> pieces = new ArrayList<>();
    choice.get("logprobs").get("tokens").forEach(t -> pieces.add(t.asText()));
    return new Tokens(pieces, choice.get("text").asText());
  }

  private static Tokens chat(ObjectNode body) throws Exception {
    body.put("logprobs", true);
    JsonNode choice = http("/v1/chat/completions", body).get("choices").get(0);
    List<String> pieces = new ArrayList<>();
    choice.get("logprobs").get("content").forEach(t -> pieces.add(t.get("token").asText()));
    return new Tokens(pieces, choice.get("message").get("content").asText());
  }

  private static ObjectNode body(Params p) {
    ObjectNode o = JSON.createObjectNode().put("model", "stories260K").put("max_tokens", MAX_TOKENS).put("ignore_eos", true);
    p.json(o);
    return o;
  }

  @Test
  void textPromptsGiveTheSameTokensThroughHttpAndGrpc() throws Exception {
    List<Tokens> viaGrpc = new ArrayList<>();
    for (Params p : PARAMS) {
      Tokens g = grpc(GenerateRequest.newBuilder().setPrompt(PROMPT).setMaxTokens(MAX_TOKENS).setIgnoreEos(true).setSampling(p.proto()).build());
      assertEquals(MAX_TOKENS, g.pieces().size());
      viaGrpc.add(g);
      assertEquals(g, completion(body(p).put("prompt", PROMPT)), p.name() + ": HTTP /v1/completions vs gRPC");
    }
    assertNotEquals(viaGrpc.get(0), viaGrpc.get(1), "the repetition penalty must change greedy output, or the test proves nothing about it");
    assertNotEquals(viaGrpc.get(0), viaGrpc.get(2), "seeded sampling must differ from greedy, or the test proves nothing about it");
    assertNotEquals(viaGrpc.get(0), viaGrpc.get(3), "the defaults sample (temperature 0.8), or the test proves nothing about them");
  }

  @Test
  void tokenIdPromptsAndChatGiveTheSameTokensThroughHttpAndGrpc() throws Exception {
    int[] ids = tokenizer.encode(PROMPT, true, false);
    for (Params p : List.of(PARAMS.get(0), PARAMS.get(2))) {
      GenerateRequest.Builder g = GenerateRequest.newBuilder().setMaxTokens(MAX_TOKENS).setIgnoreEos(true).setSampling(p.proto());
      for (int id : ids) {
        g.getPromptIdsBuilder().addIds(id);
      }
      ObjectNode b = body(p);
      for (int id : ids) {
        b.withArray("prompt").add(id);
      }
      assertEquals(grpc(g.build()), completion(b), p.name() + ": token ids");

      Tokens viaGrpc = grpc(GenerateRequest.newBuilder().setPrompt(PROMPT).setChat(true).setMaxTokens(MAX_TOKENS).setIgnoreEos(true).setSampling(p.proto()).build());
      ObjectNode c = body(p);
      c.putArray("messages").addObject().put("role", "user").put("content", PROMPT);
      assertEquals(viaGrpc, chat(c), p.name() + ": chat through the model's template");
    }
  }
}
