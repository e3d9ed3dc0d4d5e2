package dev.caravan.loadtest;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A live status line on stderr while a run goes: completed, failed and in-flight requests, request and output token
 * throughput, elapsed time. On a terminal it rewrites one line; otherwise (when forced with --progress) it prints a
 * line every few seconds so logs stay readable.
 */
final class ProgressLine implements AutoCloseable {
  private final PrintWriter out;
  private final boolean terminal;
  private final String label;
  private final LiveCounters live;
  private final long startNanos = System.nanoTime();
  private final ScheduledExecutorService timer;
  private int lastLength;

  private ProgressLine(PrintWriter out, boolean terminal, String label, LiveCounters live) {
    this.out = out;
    this.terminal = terminal;
    this.label = label;
    this.live = live;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "loadtest-progress");
      t.setDaemon(true);
      return t;
    });
    long period = terminal ? 500 : 5000;
    timer.scheduleAtFixedRate(this::print, period, period, TimeUnit.MILLISECONDS);
  }

  /** Starts printing, or returns null when {@code enabled} is false. */
  static ProgressLine start(boolean enabled, boolean terminal, PrintWriter out, String label, LiveCounters live) {
    return enabled ? new ProgressLine(out, terminal, label, live) : null;
  }

  /** Whether stdin and stdout are a terminal (Java cannot ask about stderr alone). */
  static boolean onTerminal() {
    var console = System.console();
    return console != null && console.isTerminal();
  }

  String line() {
    double elapsed = (System.nanoTime() - startNanos) / 1e9;
    long done = live.completed();
    return String.format(Locale.ROOT, "[%s] %6.1fs  completed %d  failed %d  in flight %d  %.2f req/s  %.1f tok/s", label, elapsed, done, live.failed(), live.inFlight(),
        elapsed > 0 ? done / elapsed : 0, elapsed > 0 ? live.outputTokens() / elapsed : 0);
  }

  private synchronized void print() {
    String line = line();
    if (terminal) {
      out.print("\r" + line + " ".repeat(Math.max(0, lastLength - line.length())));
      lastLength = line.length();
    } else {
      out.println(line);
    }
    out.flush();
  }

  @Override
  public synchronized void close() {
    timer.shutdownNow();
    if (terminal) {
      out.print("\r" + " ".repeat(lastLength) + "\r");
    } else {
      out.println(line());
    }
    out.flush();
  }
}
