package dev.caravan.coordinator;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/** Reads one value from a process's Prometheus endpoint. */
final class Metrics {
  private Metrics() {}

  static String scrape(int port) throws IOException, InterruptedException {
    HttpClient http = HttpClient.newHttpClient();
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
  }

  /** The value of the sample whose line starts with {@code series} (name plus labels), or 0 when absent. */
  static double value(int port, String series) throws IOException, InterruptedException {
    for (String line : scrape(port).split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1).trim().split(" ")[0]);
      }
    }
    return 0;
  }
}
