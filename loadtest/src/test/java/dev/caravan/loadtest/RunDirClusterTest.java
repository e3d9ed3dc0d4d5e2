package dev.caravan.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The run-directory target against real processes: a stand-in worker ({@code sleep} whose argv[0] is {@code worker}, as
 * {@code caravan worker} has an argument {@code worker}) and a process that is not one; and a stand-in ops/cluster
 * script. Every process started here is reaped after each test.
 */
class RunDirClusterTest {
  @TempDir Path dir;
  private final List<Process> started = new ArrayList<>();

  @AfterEach
  void reap() throws InterruptedException {
    for (Process p : started) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private Process spawn(String... cmd) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    started.add(p);
    return p;
  }

  /** A process that passes for a Caravan worker, once bash has exec'd into it. */
  private Process fakeWorker() throws Exception {
    Process p = spawn("bash", "-c", "exec -a worker sleep 600");
    awaitTrue(() -> RunDirCluster.problem(p.pid()) == null, "the fake worker to exec");
    return p;
  }

  private void pidFile(int n, long pid) throws IOException {
    Files.writeString(dir.resolve("worker-" + n + ".pid"), pid + "\n");
  }

  private static String state(long pid) throws IOException {
    String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
    return stat.substring(stat.lastIndexOf(')') + 1).trim().substring(0, 1);
  }

  interface Check {
    boolean holds() throws Exception;
  }

  private static void awaitTrue(Check c, String what) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!c.holds()) {
      assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what);
      Thread.sleep(10);
    }
  }

  @Test
  void signalsOnlyLiveCaravanWorkers() throws Exception {
    Process worker = fakeWorker();
    Process other = spawn("sleep", "600");
    Process gone = spawn("true");
    gone.waitFor();
    pidFile(1, other.pid());
    pidFile(2, worker.pid());
    pidFile(3, gone.pid());
    RunDirCluster cluster = new RunDirCluster(dir, null, Duration.ofSeconds(5));
    assertEquals(List.of(1, 2, 3), cluster.numbers());

    FaultTarget.FaultException refused = assertThrows(FaultTarget.FaultException.class, () -> cluster.worker(1));
    assertTrue(refused.getMessage().contains("worker-1.pid: process " + other.pid() + " is not a Caravan worker (sleep 600); refusing to signal it"), refused.getMessage());
    assertTrue(assertThrows(FaultTarget.FaultException.class, () -> cluster.worker(3)).getMessage().contains("has exited"));
    assertTrue(assertThrows(FaultTarget.FaultException.class, () -> cluster.worker(4)).getMessage().contains("no " + dir.toAbsolutePath().resolve("worker-4.pid")));

    FaultTarget.Worker w = cluster.worker(null);
    assertEquals(new FaultTarget.Worker(2, worker.pid()), w, "the newest live worker: worker-3 is dead, worker-1 is no worker");
    cluster.signal(w, FaultTarget.Signal.STOP);
    awaitTrue(() -> state(worker.pid()).equals("T"), "SIGSTOP to take effect");
    assertNull(RunDirCluster.problem(worker.pid()), "a stopped worker is still a live worker");
    cluster.signal(w, FaultTarget.Signal.CONT);
    awaitTrue(() -> !state(worker.pid()).equals("T"), "SIGCONT to take effect");
    cluster.signal(w, FaultTarget.Signal.KILL);
    assertTrue(worker.waitFor(10, TimeUnit.SECONDS));
    assertEquals(137, worker.exitValue(), "128 + SIGKILL");
    assertTrue(other.isAlive(), "the process that is no worker was left alone");
    assertThrows(FaultTarget.FaultException.class, () -> cluster.signal(w, FaultTarget.Signal.KILL), "a dead worker is not signalled again");
  }

  @Test
  void startAndScaleRunTheScriptOnTheRunDirectory() throws Exception {
    Path script = dir.resolve("cluster");
    Files.writeString(script, """
        #!/usr/bin/env bash
        echo "$* run_dir=$CARAVAN_RUN_DIR no_build=$CARAVAN_NO_BUILD" >>"$CARAVAN_RUN_DIR/calls"
        case "$1" in
          start) echo "cluster: worker 3 started (pid 4242)" ;;
          scale) [ "$2" = 9 ] && { echo "cluster: no serving plan of 9 stage(s) after 120 s" >&2; exit 1; }; echo "cluster: serving with $2 worker(s)" ;;
        esac
        """);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    RunDirCluster cluster = new RunDirCluster(dir, script, Duration.ofSeconds(30));
    assertEquals("cluster: worker 3 started (pid 4242)", cluster.start());
    assertEquals("cluster: serving with 2 worker(s)", cluster.scale(2));
    FaultTarget.FaultException failed = assertThrows(FaultTarget.FaultException.class, () -> cluster.scale(9));
    assertTrue(failed.getMessage().endsWith("scale 9 failed (exit 1): cluster: no serving plan of 9 stage(s) after 120 s"), failed.getMessage());
    String run = dir.toAbsolutePath().toString();
    assertEquals(List.of("start run_dir=" + run + " no_build=1", "scale 2 run_dir=" + run + " no_build=1", "scale 9 run_dir=" + run + " no_build=1"),
        Files.readAllLines(dir.resolve("calls")));
    FaultTarget.FaultException none = assertThrows(FaultTarget.FaultException.class, () -> new RunDirCluster(dir, null, Duration.ofSeconds(1)).start());
    assertEquals("no ops/cluster script to run start with", none.getMessage());
  }
}
