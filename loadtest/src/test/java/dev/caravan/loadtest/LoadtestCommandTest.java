package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Option validation: every mistake is refused with exit status 2 and a message naming it, before any request. */
class LoadtestCommandTest {
  private static void refused(String expected, String... args) {
    CommandRunner r = CommandRunner.run(args);
    assertEquals(2, r.exitCode(), r.err());
    assertTrue(r.err().contains(expected), "expected '" + expected + "' in:\n" + r.err());
    assertEquals("", r.out(), "nothing ran");
  }

  @Test
  void helpShowsEveryOptionWithItsDefault() {
    CommandRunner r = CommandRunner.run("--help");
    assertEquals(0, r.exitCode());
    for (String s : new String[] {"--target", "(default: 127.0.0.1:7070)", "--concurrency", "--rate", "--arrivals", "(default: poisson)", "--max-concurrency", "--requests",
        "--duration", "--input-len", "--output-len", "--range-ratio", "--dataset", "--seed", "--request-timeout", "(default: 300s)", "--slo", "--sweep", "--output-json",
        "--output-html", "--[no-]progress", "--percentiles", "90,99)"}) {
      assertTrue(r.out().contains(s), "help lacks " + s + ":\n" + r.out());
    }
  }

  @Test
  void unknownOptionsAreRejected() {
    refused("Unknown option: '--bogus'", "--bogus");
  }

  @Test
  void loadShapeConflicts() {
    refused("--concurrency (closed loop) and --rate (open loop) exclude each other", "--concurrency", "2", "--rate", "1");
    refused("--max-concurrency caps an open loop", "--max-concurrency", "4");
    refused("--arrivals applies to an open loop", "--arrivals", "constant");
    refused("--sweep concurrency=... sets the concurrency", "--sweep", "concurrency=1,2", "--concurrency", "2");
    refused("--sweep rate=... sets the rate", "--sweep", "rate=1,2", "--rate", "3");
    refused("'sometimes' is not an arrival process", "--rate", "1", "--arrivals", "sometimes");
  }

  @Test
  void numbersOutOfRange() {
    refused("--concurrency must be at least 1", "--concurrency", "0");
    refused("--rate must be a positive number", "--rate", "0");
    refused("--requests must be at least 1", "--requests", "0");
    refused("--range-ratio must be in [0, 1)", "--range-ratio", "1");
    refused("--input-len must be at least 1", "--input-len", "0");
    refused("--output-len must be at least 1", "--output-len", "-3");
    refused("--percentiles must be in (0, 100]", "--percentiles", "50,101");
    refused("--temperature must be a number >= 0", "--temperature", "-1");
    refused("--duration must be positive", "--duration", "0s");
    refused("Invalid value for option '--duration'", "--duration", "forever");
    refused("Invalid value for option '--slo'", "--slo", "ttft=abc");
    refused("Invalid value for option '--sweep'", "--sweep", "qps=1");
    refused("Invalid value for option '--requests'", "--requests", "many");
  }

  @Test
  void targetMustBeHostAndPort() {
    refused("--target must be HOST:PORT", "--target", "localhost");
    refused("--target port must be in 1..65535", "--target", "localhost:70000");
    refused("numeric port", "--target", "localhost:http");
  }

  @Test
  void datasetProblemsAreReportedWithTheirLine(@TempDir Path dir) throws Exception {
    refused("dataset file not found: " + dir.resolve("missing.jsonl"), "--dataset", dir.resolve("missing.jsonl").toString());
    Path bad = dir.resolve("bad.jsonl");
    Files.writeString(bad, "{\"prompt\": \"fine\"}\n{\"prompt\": \"fine\"}\n{\"prompt\": oops}\n");
    refused("bad.jsonl:3: not valid JSON", "--dataset", bad.toString());
    Path good = dir.resolve("good.jsonl");
    Files.writeString(good, "{\"prompt\": \"fine\"}\n");
    refused("--input-len and --range-ratio shape random prompts", "--dataset", good.toString(), "--input-len", "8");
    refused("--ignore-eos is for --dataset prompts", "--ignore-eos");
  }

  @Test
  void outputFilesNeedAnExistingDirectory(@TempDir Path dir) {
    refused("--output-json: directory " + dir.resolve("nope"), "--output-json", dir.resolve("nope/r.json").toString());
    refused("is a directory", "--output-html", dir.toString());
  }

  @Test
  void faultsAreCheckedAtTheEdge(@TempDir Path dir) throws Exception {
    refused("Invalid value for option '--fault' (ACTION[:WORKER]@TIME[+HOLD]): 'boom' in 'boom@5s' is not a fault action; use kill, stop, cont, start or scale", "--fault", "boom@5s");
    refused("Invalid value for option '--fault' (ACTION[:WORKER]@TIME[+HOLD]): 'kill:worker-1' has no time; write ACTION[:WORKER]@TIME[+HOLD], e.g. kill:worker-1@5s", "--fault", "kill:worker-1");
    refused("only stop takes +HOLD", "--fault", "kill:1@5s+2s");
    String run = dir.toString();
    refused("--run-dir " + dir.resolve("nope") + " is not a directory; start a cluster with 'ops/cluster up'", "--run-dir", dir.resolve("nope").toString(), "--fault", "kill@1s");
    Files.writeString(dir.resolve("worker-1.pid"), "12345\n");
    Files.writeString(dir.resolve("worker-2.pid"), "12346\n");
    refused("--fault kill:worker-3@5s: there is no " + dir.toAbsolutePath().resolve("worker-3.pid") + " (workers there: worker-1, worker-2)", "--run-dir", run, "--fault", "kill:3@5s");
    refused("--fault applies to one run; drop --sweep", "--run-dir", run, "--fault", "kill@5s", "--sweep", "concurrency=1,2");
    refused("start and scale faults run ops/cluster, but " + dir.resolve("missing") + " is not an executable file", "--run-dir", run, "--fault", "start@1s", "--ops-cluster",
        dir.resolve("missing").toString());
  }

  @Test
  void verifyNeedsARequestCountAndGreedySampling() {
    refused("--verify replays the same requests in a reference run first; give --requests N", "--verify", "--duration", "10s");
    refused("--verify compares greedy tokens; drop --temperature or set it to 0", "--verify", "--requests", "4", "--temperature", "0.8");
    refused("--verify checks one run against its reference; drop --sweep", "--verify", "--requests", "4", "--sweep", "concurrency=1,2");
  }
}
