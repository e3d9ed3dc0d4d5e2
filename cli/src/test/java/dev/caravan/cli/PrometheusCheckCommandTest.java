package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.caravan.engine.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the Prometheus check reads from the ops files (the check against a real Prometheus is PrometheusIT). */
class PrometheusCheckCommandTest {
  private static final Path ROOT = TestData.root();

  @Test
  void readsTheRecordingRuleNames() {
    String yaml = """
        groups:
          - name: g
            rules:
              - record: a:b:p90
                expr: histogram_quantile(0.9, x)
              - alert: NotARecord
                expr: up == 0
              -   record:   c:d
                expr: rate(y[1m])
        """;
    assertEquals(List.of("a:b:p90", "c:d"), PrometheusCheckCommand.recordingRules(yaml));
  }

  @Test
  void readsEveryPanelQueryIncludingRowsOnce() throws Exception {
    String json = """
        {"panels": [
          {"title": "a", "targets": [{"expr": "up"}, {"expr": "rate(x_total[1m])"}]},
          {"type": "row", "panels": [{"title": "b", "targets": [{"expr": "up"}, {"expr": " "}, {"refId": "C"}]}]}
        ]}""";
    assertEquals(List.of("up", "rate(x_total[1m])"), PrometheusCheckCommand.dashboardQueries(new ObjectMapper().readTree(json)));
  }

  @Test
  void theProjectsFilesHaveWhatTheCheckNeeds() throws Exception {
    List<String> rules = PrometheusCheckCommand.recordingRules(Files.readString(ROOT.resolve("ops/prometheus/caravan-rules.yml")));
    assertTrue(rules.contains("caravan:time_to_first_token_seconds:p90") && rules.size() >= 6, rules.toString());
    List<String> queries = PrometheusCheckCommand.dashboardQueries(new ObjectMapper().readTree(ROOT.resolve("ops/grafana/caravan-dashboard.json").toFile()));
    assertTrue(queries.contains("caravan_requests_running") && queries.contains("sum by (reason) (rate(caravan_request_migrations_total[5m]))"), queries.toString());
  }
}
