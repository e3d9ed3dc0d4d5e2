package dev.caravan.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code caravan prometheus-check}: asks a running Prometheus whether it monitors the cluster as the ops files intend —
 * every scrape target up, every recording rule of the rules file loaded, evaluated without error and producing series,
 * and every query of the Grafana dashboard returning series. It retries until all hold or the timeout passes (rates
 * need two scrapes first), then prints one line per check and exits 0, or 1 naming what failed.
 */
@Command(name = "prometheus-check", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Check a Prometheus that scrapes a Caravan cluster: targets up, recording rules evaluated, every dashboard query returning series.")
public final class PrometheusCheckCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern RECORD = Pattern.compile("^\\s*-\\s*record:\\s*(\\S+)\\s*$", Pattern.MULTILINE);

  @Option(names = "--prometheus", defaultValue = "http://127.0.0.1:9090", description = "Prometheus base URL (default: ${DEFAULT-VALUE}).")
  URI prometheus;

  @Option(names = "--rules", defaultValue = "ops/prometheus/caravan-rules.yml", description = "Recording rules Prometheus should have loaded (default: ${DEFAULT-VALUE}).")
  Path rules;

  @Option(names = "--dashboard", defaultValue = "ops/grafana/caravan-dashboard.json", description = "Grafana dashboard whose panel queries must return series (default: ${DEFAULT-VALUE}).")
  Path dashboard;

  @Option(names = "--targets", defaultValue = "1", description = "Scrape targets that must be up, at least (default: ${DEFAULT-VALUE}).")
  int minTargets;

  @Option(names = "--timeout", defaultValue = "PT90S", description = "Keep checking this long before failing (default: ${DEFAULT-VALUE}).")
  Duration timeout;

  /** The outcome of one round: each check's line, and whether all passed. */
  public record Result(boolean ok, List<String> lines) {}

  @Override
  public Integer call() throws Exception {
    Result r = check(prometheus, rules, dashboard, minTargets, timeout);
    PrintStream out = r.ok() ? System.out : System.err;
    r.lines().forEach(out::println);
    return r.ok() ? 0 : 1;
  }

  /** Checks until every check passes or {@code timeout} has passed; the last round's result. */
  public static Result check(URI prometheus, Path rules, Path dashboard, int minTargets, Duration timeout) throws IOException, InterruptedException {
    List<String> expectedRules = recordingRules(Files.readString(rules));
    List<String> queries = dashboardQueries(JSON.readTree(dashboard.toFile()));
    if (expectedRules.isEmpty() || queries.isEmpty()) {
      throw new IllegalArgumentException("nothing to check: " + expectedRules.size() + " recording rules in " + rules + ", " + queries.size() + " queries in " + dashboard);
    }
    long end = System.nanoTime() + timeout.toNanos();
    try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
      Api api = new Api(http, prometheus);
      while (true) {
        Result r = round(api, expectedRules, queries, minTargets);
        if (r.ok() || System.nanoTime() > end) {
          return r;
        }
        Thread.sleep(2000);
      }
    }
  }

  private static Result round(Api api, List<String> expectedRules, List<String> queries, int minTargets) throws IOException, InterruptedException {
    List<String> lines = new ArrayList<>();
    boolean ok = true;

    JsonNode targets = api.get("/api/v1/targets?state=active").path("activeTargets");
    int up = 0;
    for (JsonNode t : targets) {
      boolean isUp = t.path("health").asText().equals("up");
      up += isUp ? 1 : 0;
      if (!isUp) {
        ok = false;
        lines.add("FAIL target " + t.path("scrapeUrl").asText() + " is " + t.path("health").asText() + ": " + t.path("lastError").asText());
      }
    }
    if (up < minTargets) {
      ok = false;
      lines.add("FAIL " + up + " targets up, expected at least " + minTargets);
    } else {
      lines.add("ok   " + up + " of " + targets.size() + " targets up");
    }

    Set<String> loaded = new LinkedHashSet<>();
    for (JsonNode group : api.get("/api/v1/rules?type=record").path("groups")) {
      for (JsonNode rule : group.path("rules")) {
        String name = rule.path("name").asText();
        loaded.add(name);
        if (!expectedRules.contains(name)) {
          continue;
        }
        boolean evaluated = !rule.path("lastEvaluation").asText("").startsWith("0001-");
        if (!rule.path("health").asText().equals("ok") || !evaluated) {
          ok = false;
          lines.add("FAIL rule " + name + ": health " + rule.path("health").asText() + (evaluated ? "" : ", never evaluated") + " " + rule.path("lastError").asText(""));
        } else if (api.series(name) == 0) {
          ok = false;
          lines.add("FAIL rule " + name + " evaluates to no series");
        } else {
          lines.add("ok   rule " + name);
        }
      }
    }
    for (String name : expectedRules) {
      if (!loaded.contains(name)) {
        ok = false;
        lines.add("FAIL rule " + name + " is not loaded");
      }
    }

    for (String q : queries) {
      int n = api.series(q);
      if (n == 0) {
        ok = false;
        lines.add("FAIL panel query returns no series: " + q);
      } else {
        lines.add("ok   " + n + " series: " + q);
      }
    }
    return new Result(ok, lines);
  }

  /** The names of the recording rules in a Prometheus rules file. */
  static List<String> recordingRules(String yaml) {
    List<String> names = new ArrayList<>();
    for (Matcher m = RECORD.matcher(yaml); m.find(); ) {
      names.add(m.group(1));
    }
    return names;
  }

  /** Every target expression of a Grafana dashboard's panels, rows' nested panels included, without repeats. */
  static List<String> dashboardQueries(JsonNode dashboardJson) {
    Set<String> out = new LinkedHashSet<>();
    collect(dashboardJson.path("panels"), out);
    return List.copyOf(out);
  }

  private static void collect(JsonNode panels, Set<String> out) {
    for (JsonNode p : panels) {
      for (JsonNode t : p.path("targets")) {
        String expr = t.path("expr").asText("");
        if (!expr.isBlank()) {
          out.add(expr);
        }
      }
      collect(p.path("panels"), out);
    }
  }

  /** Prometheus's HTTP API. */
  private record Api(HttpClient http, URI base) {
    JsonNode get(String pathAndQuery) throws IOException, InterruptedException {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve(pathAndQuery)).timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
      JsonNode body = JSON.readTree(r.body());
      if (r.statusCode() != 200 || !body.path("status").asText().equals("success")) {
        throw new IOException("Prometheus answered " + r.statusCode() + " to " + pathAndQuery + ": " + r.body());
      }
      return body.path("data");
    }

    /** How many series an instant query returns. */
    int series(String query) throws IOException, InterruptedException {
      return get("/api/v1/query?query=" + URLEncoder.encode(query, StandardCharsets.UTF_8)).path("result").size();
    }
  }
}
