package dev.caravan.loadtest;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code --fault}: what to do to the cluster and when, {@code ACTION[:ARG]@TIME[+HOLD]}, the time counted from the
 * start of the timed run.
 *
 * <pre>
 *   kill:worker-1@5s     SIGKILL worker 1 (kill:1@5s is the same; kill@5s picks the newest live worker)
 *   stop:worker-2@3s+2s  SIGSTOP worker 2 at 3 s, SIGCONT it 2 s later (without +HOLD: at a cont fault or the run's end)
 *   cont:worker-2@9s     SIGCONT worker 2
 *   start@8s             start one more worker (ops/cluster start)
 *   scale:3@10s          add or drain workers until there are 3 (ops/cluster scale 3)
 * </pre>
 *
 * @param action what to do
 * @param worker the worker's number for kill, stop and cont; null for the newest live worker (and for start, scale)
 * @param workers the worker count of scale, else 0
 * @param at when, from the start of the timed run
 * @param hold how long a stopped worker stays stopped, or null (stop only)
 */
record FaultSpec(Action action, Integer worker, int workers, Duration at, Duration hold) {
  private static final Pattern SPEC = Pattern.compile("([a-z]+)(?::([^@]*))?@([^+]*)(?:\\+(.*))?");
  private static final Pattern WORKER = Pattern.compile("(?:worker-)?(\\d{1,9})");
  static final String FORM = "ACTION[:WORKER]@TIME[+HOLD], e.g. kill:worker-1@5s, stop:worker-2@3s+2s, cont:worker-2@9s, start@8s, scale:3@10s";

  /** What a fault does. */
  enum Action {
    KILL("kill"), STOP("stop"), CONT("cont"), START("start"), SCALE("scale");

    final String word;

    Action(String word) {
      this.word = word;
    }

    /** Whether it names a worker (kill, stop, cont). */
    boolean signals() {
      return this == KILL || this == STOP || this == CONT;
    }
  }

  FaultSpec {
    if (at.isNegative()) {
      throw new IllegalArgumentException("a fault's time cannot be negative");
    }
    if (hold != null && action != Action.STOP) {
      throw new IllegalArgumentException("only stop takes +HOLD");
    }
  }

  /**
   * Parses a spec as typed.
   *
   * @throws IllegalArgumentException with a message naming the problem and the accepted form
   */
  static FaultSpec parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    Matcher m = SPEC.matcher(t);
    if (!m.matches()) {
      if (!t.contains("@")) {
        throw new IllegalArgumentException("'" + text + "' has no time; write " + FORM);
      }
      throw new IllegalArgumentException("'" + text + "' is not a fault; write " + FORM);
    }
    Action action = null;
    for (Action a : Action.values()) {
      if (a.word.equals(m.group(1))) {
        action = a;
      }
    }
    if (action == null) {
      throw new IllegalArgumentException("'" + m.group(1) + "' in '" + text + "' is not a fault action; use kill, stop, cont, start or scale");
    }
    String arg = m.group(2);
    Duration at = duration(m.group(3), "time", text);
    Duration hold = null;
    if (m.group(4) != null) {
      if (action != Action.STOP) {
        throw new IllegalArgumentException("'" + text + "': only stop takes +HOLD (how long the worker stays stopped), not " + action.word);
      }
      hold = duration(m.group(4), "hold", text);
      if (hold.isZero()) {
        throw new IllegalArgumentException("'" + text + "': +HOLD must be longer than 0");
      }
    }
    Integer worker = null;
    int workers = 0;
    switch (action) {
      case KILL, STOP, CONT -> {
        if (arg != null) {
          Matcher w = WORKER.matcher(arg);
          if (!w.matches() || Integer.parseInt(w.group(1)) < 1) {
            throw new IllegalArgumentException("'" + arg + "' in '" + text + "' is not a worker; use worker-N or N (N >= 1, as in run/worker-N.pid)");
          }
          worker = Integer.parseInt(w.group(1));
        }
      }
      case START -> {
        if (arg != null) {
          throw new IllegalArgumentException("'" + text + "': start takes no argument (it starts one new worker); to reach a count, use scale:N@TIME");
        }
      }
      case SCALE -> {
        if (arg == null || !arg.matches("\\d{1,4}")) {
          throw new IllegalArgumentException("'" + text + "': scale needs the number of workers, e.g. scale:3@10s");
        }
        workers = Integer.parseInt(arg);
        if (workers < 1) {
          throw new IllegalArgumentException("'" + text + "': scale needs at least 1 worker");
        }
      }
    }
    return new FaultSpec(action, worker, workers, at, hold);
  }

  private static Duration duration(String s, String what, String text) {
    if (s.isBlank()) {
      throw new IllegalArgumentException("'" + text + "' has no " + what + "; write " + FORM);
    }
    try {
      return Durations.parse(s, "s");
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("'" + text + "': bad " + what + ": " + e.getMessage());
    }
  }

  /** The worker's name as its pid file has it ({@code worker-3}), or "the newest worker". */
  String workerName() {
    return worker == null ? "the newest worker" : "worker-" + worker;
  }

  /** The spec in its canonical spelling, e.g. {@code stop:worker-2@3s+2s}. */
  @Override
  public String toString() {
    String arg = switch (action) {
      case KILL, STOP, CONT -> worker == null ? "" : ":worker-" + worker;
      case START -> "";
      case SCALE -> ":" + workers;
    };
    return action.word + arg + "@" + Durations.format(at) + (hold == null ? "" : "+" + Durations.format(hold));
  }
}
