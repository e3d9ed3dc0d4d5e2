package dev.caravan.loadtest;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Injects a run's {@code --fault}s at their times, each on a (daemon, platform) thread of its own, so a slow scale does
 * not delay a kill due after it, and a busy virtual-thread scheduler does not delay a fault. Times count from the run's time zero, given to {@link #start}. {@link #finish} ends it: faults
 * not yet due are recorded as not reached, those in progress are waited for, and every worker still stopped is
 * continued (also on Ctrl-C, by a shutdown hook), so a run never leaves a stopped process behind.
 */
final class FaultInjector {
  private static final int WAITING = 0;
  private static final int ACTING = 1;
  private static final int CANCELLED = 2;
  private static final int DONE = 3;

  private final List<FaultSpec> specs;
  private final FaultTarget target;
  private final PrintWriter log;
  private final Duration actionTimeout;
  private final List<FaultEvent> events = new ArrayList<>();
  private final Map<FaultTarget.Worker, String> stopped = new ConcurrentHashMap<>();
  private final List<Thread> threads = new ArrayList<>();
  private final List<AtomicInteger> states = new ArrayList<>();
  private final Thread resumeOnExit = new Thread(this::resumeAll, "loadtest-resume-stopped-workers");
  private volatile long t0;
  private volatile double endSeconds = Double.NaN;
  private volatile boolean ended;

  /**
   * @param log where each fault is reported as it happens, or null
   * @param actionTimeout how long {@link #finish} waits for a fault still in progress (a start or scale)
   */
  FaultInjector(List<FaultSpec> specs, FaultTarget target, PrintWriter log, Duration actionTimeout) {
    this.specs = List.copyOf(specs);
    this.target = target;
    this.log = log;
    this.actionTimeout = actionTimeout;
  }

  /** Schedules every fault relative to {@code t0Nanos} ({@link System#nanoTime()} scale). Call once. */
  synchronized void start(long t0Nanos) {
    if (!threads.isEmpty()) {
      throw new IllegalStateException("already started");
    }
    this.t0 = t0Nanos;
    Runtime.getRuntime().addShutdownHook(resumeOnExit);
    for (FaultSpec spec : specs) {
      AtomicInteger state = new AtomicInteger(WAITING);
      states.add(state);
      threads.add(Thread.ofPlatform().daemon().name("fault " + spec).start(() -> run(spec, state)));
    }
  }

  /**
   * Ends the faults of a run that ended at {@code endNanos}; returns every fault action, in the order injected (those
   * not reached last).
   */
  List<FaultEvent> finish(long endNanos) throws InterruptedException {
    endSeconds = seconds(endNanos);
    ended = true;
    synchronized (this) {
      for (int i = 0; i < threads.size(); i++) {
        states.get(i).compareAndSet(WAITING, CANCELLED);
        LockSupport.unpark(threads.get(i));
      }
    }
    long deadline = System.nanoTime() + actionTimeout.toNanos();
    for (Thread t : threads) {
      long left = deadline - System.nanoTime();
      if (left > 0) {
        t.join(Duration.ofNanos(left));
      }
    }
    resumeAll();
    try {
      Runtime.getRuntime().removeShutdownHook(resumeOnExit);
    } catch (IllegalStateException e) {
      // shutting down: the hook runs anyway
    }
    synchronized (events) {
      List<FaultEvent> out = new ArrayList<>(events);
      out.sort(Comparator.comparing((FaultEvent e) -> Double.isNaN(e.seconds())).thenComparingDouble(e -> Double.isNaN(e.seconds()) ? e.plannedSeconds() : e.seconds()));
      return List.copyOf(out);
    }
  }

  private void run(FaultSpec spec, AtomicInteger state) {
    double planned = spec.at().toNanos() / 1e9;
    if (!await(t0 + spec.at().toNanos(), state)) {
      notReached(spec, spec.action().word, planned);
      return;
    }
    FaultTarget.Worker stoppedWorker = act(spec, planned);
    if (stoppedWorker != null && spec.hold() != null) {
      state.set(WAITING);
      long due = t0 + spec.at().toNanos() + spec.hold().toNanos();
      if (await(due, state)) {
        cont(stoppedWorker, spec.toString(), (due - t0) / 1e9, "after " + Durations.format(spec.hold()));
      }
      // else finish() continues it
    }
    state.set(DONE);
  }

  /** Parks until {@code due}; true (and acting) unless the run ended first. */
  private boolean await(long due, AtomicInteger state) {
    long wait;
    while ((wait = due - System.nanoTime()) > 0 && !ended) {
      LockSupport.parkNanos(wait);
    }
    return !ended && state.compareAndSet(WAITING, ACTING);
  }

  /** Does the fault; returns the worker it stopped, if it was a successful stop. */
  private FaultTarget.Worker act(FaultSpec spec, double planned) {
    String name = spec.toString();
    String action = spec.action().word;
    FaultTarget.Worker w = null;
    double at = Double.NaN;
    try {
      switch (spec.action()) {
        case KILL, STOP, CONT -> {
          w = target.worker(spec.worker());
          FaultTarget.Signal signal = FaultTarget.Signal.valueOf(spec.action().name());
          at = now();
          target.signal(w, signal);
          if (signal == FaultTarget.Signal.STOP) {
            stopped.put(w, name);
          } else {
            stopped.remove(w);
          }
          record(new FaultEvent(name, action, w.name(), w.pid(), planned, at, true, "SIG" + signal.name() + (signal == FaultTarget.Signal.KILL ? "; the process is gone" : "")));
          return signal == FaultTarget.Signal.STOP ? w : null;
        }
        case START -> {
          at = now();
          String said = target.start();
          record(new FaultEvent(name, action, "", 0, planned, at, true, said + " (took " + took(at) + ")"));
        }
        case SCALE -> {
          at = now();
          String said = target.scale(spec.workers());
          record(new FaultEvent(name, action, "", 0, planned, at, true, said + " (took " + took(at) + ")"));
        }
      }
    } catch (FaultTarget.FaultException e) {
      record(new FaultEvent(name, action, w == null ? "" : w.name(), w == null ? 0 : w.pid(), planned, Double.NaN, false, e.getMessage()));
    }
    return null;
  }

  private void cont(FaultTarget.Worker w, String fault, double planned, String why) {
    double at = now();
    try {
      target.signal(w, FaultTarget.Signal.CONT);
      stopped.remove(w);
      record(new FaultEvent(fault, "cont", w.name(), w.pid(), planned, at, true, "SIGCONT " + why));
    } catch (FaultTarget.FaultException e) {
      stopped.remove(w);
      record(new FaultEvent(fault, "cont", w.name(), w.pid(), planned, Double.NaN, false, e.getMessage()));
    }
  }

  /** Continues every worker still stopped. */
  private void resumeAll() {
    for (Map.Entry<FaultTarget.Worker, String> e : Map.copyOf(stopped).entrySet()) {
      cont(e.getKey(), e.getValue(), Double.isNaN(endSeconds) ? now() : endSeconds, "at the end of the run");
    }
  }

  private void notReached(FaultSpec spec, String action, double planned) {
    record(new FaultEvent(spec.toString(), action, "", 0, planned, Double.NaN, false,
        String.format(Locale.ROOT, "not reached: the run ended at %.2f s", endSeconds)));
  }

  private void record(FaultEvent e) {
    synchronized (events) {
      events.add(e);
    }
    if (log != null) {
      synchronized (log) {
        log.println(Double.isNaN(e.seconds())
            ? String.format(Locale.ROOT, "loadtest: fault %s: %s", e.fault(), e.detail())
            : String.format(Locale.ROOT, "loadtest: fault at %.2f s: %s: %s", e.seconds(), e.describe(), e.detail()));
        log.flush();
      }
    }
  }

  private double now() {
    return seconds(System.nanoTime());
  }

  private double seconds(long nanos) {
    return (nanos - t0) / 1e9;
  }

  private String took(double since) {
    return String.format(Locale.ROOT, "%.1f s", now() - since);
  }
}
