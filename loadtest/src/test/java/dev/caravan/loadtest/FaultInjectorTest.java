package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** The injector against a target that only records what it is asked to do. */
class FaultInjectorTest {
  /** Workers 1 and 2 (pids 201, 202); worker 9 has no pid file; start and scale answer like ops/cluster. */
  static final class RecordingTarget implements FaultTarget {
    final List<String> calls = Collections.synchronizedList(new ArrayList<>());

    @Override
    public Worker worker(Integer number) throws FaultException {
      if (number != null && number == 9) {
        throw new FaultException("no run/worker-9.pid");
      }
      int n = number == null ? 2 : number;
      return new Worker(n, 200 + n);
    }

    @Override
    public void signal(Worker worker, Signal signal) {
      calls.add(signal + " " + worker.name());
    }

    @Override
    public String start() {
      calls.add("start");
      return "cluster: worker 3 started";
    }

    @Override
    public String scale(int workers) {
      calls.add("scale " + workers);
      return "cluster: serving with " + workers + " worker(s)";
    }

    void await(Predicate<List<String>> condition) throws InterruptedException {
      long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
      while (!condition.test(List.copyOf(calls))) {
        assertTrue(System.nanoTime() < deadline, "timed out; calls so far: " + calls);
        Thread.sleep(10);
      }
    }
  }

  private static FaultInjector injector(RecordingTarget target, String... specs) {
    return new FaultInjector(List.of(specs).stream().map(FaultSpec::parse).toList(), target, null, Duration.ofSeconds(20));
  }

  private static FaultEvent find(List<FaultEvent> events, String fault, String action) {
    return events.stream().filter(e -> e.fault().equals(fault) && e.action().equals(action)).findFirst().orElseThrow(() -> new AssertionError("no " + action + " of " + fault + " in " + events));
  }

  @Test
  void dueFaultsAreInjectedLaterOnesAreNotReachedAndStoppedWorkersAreContinuedAtTheEnd() throws Exception {
    RecordingTarget target = new RecordingTarget();
    FaultInjector faults = injector(target, "kill:worker-1@0s", "stop@0s", "kill:worker-9@0s", "start@0s", "scale:3@0s", "kill:worker-1@1h");
    faults.start(System.nanoTime());
    target.await(c -> c.size() == 4);
    List<FaultEvent> events = faults.finish(System.nanoTime());

    assertTrue(target.calls.containsAll(List.of("KILL worker-1", "STOP worker-2", "start", "scale 3")), target.calls.toString());
    assertEquals("CONT worker-2", target.calls.getLast(), "the worker left stopped is continued when the run ends");
    assertEquals(7, events.size(), events.toString());
    FaultEvent kill = find(events, "kill:worker-1@0ms", "kill");
    assertTrue(kill.ok());
    assertEquals("worker-1", kill.worker());
    assertEquals(201, kill.pid());
    assertEquals("kill worker-1 (pid 201)", kill.describe());
    assertTrue(kill.disrupts());
    FaultEvent stop = find(events, "stop@0ms", "stop");
    assertEquals("worker-2", stop.worker(), "without a worker, the newest live one");
    FaultEvent cont = find(events, "stop@0ms", "cont");
    assertTrue(cont.ok());
    assertFalse(cont.disrupts(), "a cont ends a fault");
    assertEquals("SIGCONT at the end of the run", cont.detail());
    FaultEvent missing = find(events, "kill:worker-9@0ms", "kill");
    assertFalse(missing.ok());
    assertEquals("no run/worker-9.pid", missing.detail());
    assertTrue(Double.isNaN(missing.seconds()));
    assertEquals("cluster: worker 3 started", find(events, "start@0ms", "start").detail().replaceAll(" \\(took .*\\)$", ""));
    assertEquals("scale to 3", find(events, "scale:3@0ms", "scale").describe());
    FaultEvent late = find(events, "kill:worker-1@60m", "kill");
    assertFalse(late.ok());
    assertTrue(late.detail().startsWith("not reached: the run ended at "), late.detail());
    assertEquals(3600, late.plannedSeconds());
    assertEquals(late, events.getLast(), "faults not reached come last");
  }

  @Test
  void aHeldStopIsContinuedAfterItsHoldAndOnlyOnce() throws Exception {
    RecordingTarget target = new RecordingTarget();
    FaultInjector faults = injector(target, "stop:worker-1@0s+50ms");
    faults.start(System.nanoTime());
    target.await(c -> c.contains("CONT worker-1"));
    List<FaultEvent> events = faults.finish(System.nanoTime());
    assertEquals(List.of("STOP worker-1", "CONT worker-1"), target.calls);
    assertEquals(2, events.size(), events.toString());
    assertEquals("stop", events.get(0).action());
    assertEquals("cont", events.get(1).action());
    assertEquals("SIGCONT after 50ms", events.get(1).detail());
    assertEquals(0.05, events.get(1).plannedSeconds(), 1e-9);
  }
}
