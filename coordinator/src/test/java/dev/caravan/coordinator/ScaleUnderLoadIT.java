package dev.caravan.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.cluster.testing.LocalCluster;
import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.tokenizer.Tokenizer;
import dev.caravan.proto.v1.ClusterStatusResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Planned changes never drop a request: under a closed-loop load of four clients, the cluster scales 2 → 3 → 2 (a worker
 * joins, then one drains away on SIGTERM); every request completes with the tokens of the single-process engine, and
 * once the drain began no plan includes the draining worker again.
 */
class ScaleUnderLoadIT {
  private static final Path MODEL = TestData.stories260K();
  private static final String PROMPT = "Lily and Ben went to the park.";
  private static final int TOKENS = 60;

  @Test
  void scaleUpAndDownUnderLoadWithoutAFailedRequest() throws Exception {
    int[] prompt;
    try (GgufFile f = GgufFile.open(MODEL)) {
      prompt = Tokenizer.fromGguf(f.metadata()).encode(PROMPT, true, false);
    }
    int[] expected = TwoWorkerClusterIT.engineGreedy(prompt, TOKENS);
    try (LocalCluster cluster = LocalCluster.start(MODEL, "scale-under-load")) {
      List<LocalCluster.Node> workers = new ArrayList<>(List.of(cluster.addWorker(), cluster.addWorker()));
      cluster.awaitServing(2, Duration.ofSeconds(90));

      AtomicBoolean stop = new AtomicBoolean();
      AtomicInteger completed = new AtomicInteger();
      ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
      ExecutorService clients = Executors.newFixedThreadPool(4);
      for (int c = 0; c < 4; c++) {
        clients.execute(() -> {
          while (!stop.get()) {
            try {
              GenerationClient.Result r = GenerationClient.generate(cluster.channel(), GenerationClient.greedy(PROMPT, TOKENS).build(), 60);
              if (!java.util.Arrays.equals(expected, r.idArray())) {
                failures.add("wrong tokens: " + r.ids());
              }
              completed.incrementAndGet();
            } catch (RuntimeException e) {
              failures.add(e.toString());
            }
          }
        });
      }
      try {
        cluster.await("requests completing on two stages", s -> completed.get() >= 8, Duration.ofSeconds(60));
        LocalCluster.Node third = cluster.addWorker();
        workers.add(third);
        cluster.awaitServing(3, Duration.ofSeconds(90));
        int before = completed.get();
        cluster.await("requests completing on three stages", s -> completed.get() >= before + 8, Duration.ofSeconds(60));

        // drain the worker that joined last; watch every plan from now on
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("worker ([0-9a-f-]{36}) serving").matcher(third.logText());
        assertTrue(m.find(), "the third worker logs its member id");
        String thirdUuid = m.group(1);
        assertTrue(cluster.status().getPlan().getStagesList().stream().anyMatch(st -> st.getWorkerUuid().equals(thirdUuid)), "it serves a stage");
        third.terminate();
        boolean excluded = false;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (third.alive() && System.nanoTime() < deadline) {
          ClusterStatusResponse s = cluster.status();
          boolean includes = s.getPlan().getStagesList().stream().anyMatch(st -> st.getWorkerUuid().equals(thirdUuid));
          if (!includes && s.getPlan().getStagesCount() > 0) {
            excluded = true;
          } else if (excluded && includes) {
            throw new AssertionError("plan #" + s.getPlan().getEpoch() + " re-included the draining worker: " + s.getPlan());
          }
          Thread.sleep(50);
        }
        assertTrue(third.awaitExit(Duration.ofSeconds(30)), "the drained worker exits");
        assertTrue(third.logText().contains("drained"), "it drained rather than timed out");
        cluster.awaitServing(2, Duration.ofSeconds(60));
        int after = completed.get();
        cluster.await("requests completing on two stages again", s -> completed.get() >= after + 8, Duration.ofSeconds(60));
      } finally {
        stop.set(true);
        clients.shutdown();
        assertTrue(clients.awaitTermination(90, TimeUnit.SECONDS));
      }
      assertEquals(List.of(), List.copyOf(failures), "no request failed or changed its tokens across the changes");
      assertTrue(completed.get() >= 24);
    }
  }
}
