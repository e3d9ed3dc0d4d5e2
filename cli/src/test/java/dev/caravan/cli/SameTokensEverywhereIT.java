package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.proto.v1.GenerateRequest;
import dev.caravan.proto.v1.GenerateResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import dev.caravan.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * One generation path: {@code caravan run}, a 1-worker cluster and a 3-worker cluster give identical tokens for the
 * same prompt and sampling parameters — greedy, and seeded sampling with temperature, top-k, top-p, min-p and a
 * repetition penalty (whose window starts with the prompt on every path).
 */
class SameTokensEverywhereIT {
  private static final Path MODEL = TestData.stories260K();
  private static final String PROMPT = "Lily and Ben went to the park. They saw a big";
  private static final int MAX_TOKENS = 48;

  /** A parameter set, as `run` flags and as the proto the cluster takes. */
  private record Params(String name, float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
    List<String> flags() {
      return List.of("--temperature", Float.toString(temperature), "--top-k", Integer.toString(topK), "--top-p", Float.toString(topP), "--min-p", Float.toString(minP),
          "--repeat-penalty", Float.toString(repeatPenalty), "--repeat-last-n", Integer.toString(repeatLastN), "--seed", Long.toString(seed));
    }

    SamplingParams proto() {
      return SamplingParams.newBuilder().setTemperature(temperature).setTopK(topK).setTopP(topP).setMinP(minP).setRepeatPenalty(repeatPenalty).setRepeatLastN(repeatLastN).setSeed(seed).build();
    }
  }

  private static final List<Params> PARAMS = List.of(
      new Params("greedy", 0f, 0, 1f, 0f, 1f, 0, 0),
      new Params("greedy with a repetition penalty", 0f, 0, 1f, 0f, 1.5f, 64, 0),
      new Params("seeded sampling", 0.9f, 40, 0.9f, 0.05f, 1.3f, 64, 4242));

  @Test
  void runAndClustersOfOneAndThreeWorkersAgreeTokenForToken() throws Exception {
    List<List<Integer>> viaRun = new ArrayList<>();
    for (Params p : PARAMS) {
      viaRun.add(run(p));
    }
    assertTrue(!viaRun.get(0).equals(viaRun.get(1)), "the repetition penalty must change greedy output, or the test proves nothing about it");
    assertTrue(!viaRun.get(0).equals(viaRun.get(2)), "seeded sampling must differ from greedy, or the test proves nothing about it");

    try (LocalCluster cluster = LocalCluster.start(MODEL, "same-tokens")) {
      cluster.addWorker();
      assertEquals(1, cluster.awaitServing(1, Duration.ofSeconds(90)).getPlan().getStagesCount());
      for (int i = 0; i < PARAMS.size(); i++) {
        assertEquals(viaRun.get(i), generate(cluster.channel(), PARAMS.get(i)), PARAMS.get(i).name() + ": run vs a 1-worker cluster");
      }
      cluster.addWorker();
      cluster.addWorker();
      assertEquals(3, cluster.awaitServing(3, Duration.ofSeconds(90)).getPlan().getStagesCount());
      for (int i = 0; i < PARAMS.size(); i++) {
        assertEquals(viaRun.get(i), generate(cluster.channel(), PARAMS.get(i)), PARAMS.get(i).name() + ": run vs a 3-worker cluster");
      }
    }
  }

  /** `caravan run` in this JVM; its --token-ids line on stderr says which tokens it generated. */
  private static List<Integer> run(Params p) {
    List<String> args = new ArrayList<>(List.of("--model", MODEL.toString(), "--prompt", PROMPT, "--max-tokens", Integer.toString(MAX_TOKENS), "--ignore-eos", "--token-ids", "--no-progress", "--threads", "2"));
    args.addAll(p.flags());
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream oldErr = System.err;
    PrintStream oldOut = System.out;
    int code;
    try {
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
      code = new CommandLine(new RunCommand()).execute(args.toArray(String[]::new));
    } finally {
      System.setErr(oldErr);
      System.setOut(oldOut);
    }
    String log = err.toString(StandardCharsets.UTF_8);
    assertEquals(0, code, log);
    Matcher m = Pattern.compile("token ids: \\[([0-9, ]*)\\]").matcher(log);
    assertTrue(m.find(), log);
    List<Integer> ids = Arrays.stream(m.group(1).split(", ")).map(Integer::valueOf).toList();
    assertEquals(MAX_TOKENS, ids.size(), log);
    return ids;
  }

  private static List<Integer> generate(ManagedChannel channel, Params p) {
    GenerateRequest request = GenerateRequest.newBuilder().setPrompt(PROMPT).setMaxTokens(MAX_TOKENS).setIgnoreEos(true).setSampling(p.proto()).build();
    Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS).generate(request);
    List<Integer> ids = new ArrayList<>();
    while (it.hasNext()) {
      GenerateResponse r = it.next();
      if (r.hasDelta()) {
        ids.addAll(r.getDelta().getTokenIdsList());
      }
    }
    return ids;
  }
}
