package dev.caravan.loadtest;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The cluster of an {@code ops/cluster} run directory: workers are its {@code worker-N.pid} files, signals go to those
 * pids, and start and scale run {@code ops/cluster start} and {@code ops/cluster scale N} on the same directory. A pid
 * is signalled only while {@code /proc/PID} shows a live Caravan worker (a command-line argument {@code worker}, as
 * {@code caravan worker} has, or a main class {@code ...WorkerCommand}): a stale pid file whose number now belongs to
 * another process is refused. Linux only (it reads {@code /proc}).
 */
final class RunDirCluster implements FaultTarget {
  private static final Pattern PID_FILE = Pattern.compile("worker-(\\d+)\\.pid");
  private static final Duration KILL_WAIT = Duration.ofSeconds(10);
  private final Path runDir;
  private final Path script;
  private final Duration scriptTimeout;

  /**
   * @param runDir the run directory (pid files)
   * @param script the {@code ops/cluster} script for start and scale, or null when none is needed
   * @param scriptTimeout how long one start or scale may take before it is abandoned
   */
  RunDirCluster(Path runDir, Path script, Duration scriptTimeout) {
    this.runDir = runDir.toAbsolutePath();
    this.script = script;
    this.scriptTimeout = scriptTimeout;
  }

  Path runDir() {
    return runDir;
  }

  Path pidFile(int number) {
    return runDir.resolve("worker-" + number + ".pid");
  }

  /** Worker numbers with a pid file, in ascending order. */
  List<Integer> numbers() {
    List<Integer> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(runDir)) {
      files.forEach(f -> {
        Matcher m = PID_FILE.matcher(f.getFileName().toString());
        if (m.matches()) {
          out.add(Integer.parseInt(m.group(1)));
        }
      });
    } catch (IOException e) {
      return List.of();
    }
    out.sort(null);
    return out;
  }

  @Override
  public Worker worker(Integer number) throws FaultException {
    if (number != null) {
      Path f = pidFile(number);
      long pid = readPid(f);
      String problem = problem(pid);
      if (problem != null) {
        throw new FaultException(f + ": " + problem);
      }
      return new Worker(number, pid);
    }
    List<Integer> numbers = numbers();
    List<String> seen = new ArrayList<>();
    for (int i = numbers.size() - 1; i >= 0; i--) {
      int n = numbers.get(i);
      try {
        long pid = readPid(pidFile(n));
        String problem = problem(pid);
        if (problem == null) {
          return new Worker(n, pid);
        }
        seen.add("worker-" + n + ": " + problem);
      } catch (FaultException e) {
        seen.add(e.getMessage());
      }
    }
    throw new FaultException("no live worker in " + runDir + (seen.isEmpty() ? " (no worker-N.pid files)" : " (" + String.join("; ", seen) + ")"));
  }

  private static long readPid(Path f) throws FaultException {
    try {
      String s = Files.readString(f).trim();
      long pid = Long.parseLong(s);
      if (pid < 2) {
        throw new NumberFormatException();
      }
      return pid;
    } catch (NoSuchFileException e) {
      throw new FaultException("no " + f);
    } catch (IOException e) {
      throw new FaultException("cannot read " + f + ": " + e.getMessage());
    } catch (NumberFormatException e) {
      throw new FaultException(f + " does not hold a process id");
    }
  }

  /** Null when {@code pid} is a live (possibly stopped) Caravan worker, else why not. */
  static String problem(long pid) {
    Path proc = Path.of("/proc", Long.toString(pid));
    try {
      String stat = Files.readString(proc.resolve("stat"));
      // pid (comm) state ...; comm may hold spaces and parentheses, so the state follows the last ')'
      String state = stat.substring(stat.lastIndexOf(')') + 1).trim();
      if (state.startsWith("Z") || state.startsWith("X")) {
        return "process " + pid + " has exited";
      }
      byte[] raw = Files.readAllBytes(proc.resolve("cmdline"));
      String[] args = new String(raw, StandardCharsets.UTF_8).split("\0");
      for (String a : args) {
        if (a.equals("worker") || a.endsWith(".WorkerCommand")) {
          return null;
        }
      }
      String line = String.join(" ", args);
      return "process " + pid + " is not a Caravan worker (" + (line.length() > 160 ? line.substring(0, 160) + "..." : line) + "); refusing to signal it";
    } catch (NoSuchFileException e) {
      return Files.isDirectory(Path.of("/proc/self")) ? "process " + pid + " has exited" : "cannot check process " + pid + " (no /proc; faults need Linux)";
    } catch (IOException e) {
      return "cannot check process " + pid + ": " + e.getMessage();
    }
  }

  @Override
  public void signal(Worker worker, Signal signal) throws FaultException {
    String problem = problem(worker.pid());
    if (problem != null) {
      throw new FaultException(worker.name() + ": " + problem);
    }
    if (signal == Signal.KILL) {
      Optional<ProcessHandle> h = ProcessHandle.of(worker.pid());
      if (h.isEmpty() || !h.get().destroyForcibly()) {
        throw new FaultException("could not SIGKILL " + worker.name() + " (pid " + worker.pid() + ")");
      }
      long deadline = System.nanoTime() + KILL_WAIT.toNanos();
      while (problem(worker.pid()) == null) {
        if (System.nanoTime() > deadline) {
          throw new FaultException(worker.name() + " (pid " + worker.pid() + ") still runs " + Durations.format(KILL_WAIT) + " after SIGKILL");
        }
        sleep(20);
      }
      return;
    }
    Script r = exec(List.of("kill", "-s", signal.name(), Long.toString(worker.pid())), Duration.ofSeconds(10));
    if (r.exitCode() != 0) {
      throw new FaultException("kill -s " + signal.name() + " " + worker.pid() + " failed: " + r.lastLine());
    }
  }

  @Override
  public String start() throws FaultException {
    return runScript("start");
  }

  @Override
  public String scale(int workers) throws FaultException {
    return runScript("scale", Integer.toString(workers));
  }

  private String runScript(String... args) throws FaultException {
    if (script == null) {
      throw new FaultException("no ops/cluster script to run " + args[0] + " with");
    }
    List<String> cmd = new ArrayList<>();
    cmd.add(script.toString());
    cmd.addAll(List.of(args));
    Script r = exec(cmd, scriptTimeout);
    if (r.exitCode() != 0) {
      throw new FaultException(String.join(" ", cmd) + (r.exitCode() == -1 ? " did not finish in " + Durations.format(scriptTimeout) : " failed (exit " + r.exitCode() + ")") + ": " + r.lastLine());
    }
    return r.lastLine();
  }

  /**
   * What a command said.
   *
   * @param exitCode its exit status, -1 when it timed out (and was ended)
   * @param output its merged stdout and stderr
   */
  record Script(int exitCode, String output) {
    String lastLine() {
      List<String> lines = output.strip().lines().toList();
      return lines.isEmpty() ? "(no output)" : lines.getLast();
    }
  }

  /** Runs a command with the run directory in its environment; never leaves it running. */
  private Script exec(List<String> cmd, Duration timeout) throws FaultException {
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().put("CARAVAN_RUN_DIR", runDir.toString());
    // a fault must not rebuild the jar in the middle of a run
    pb.environment().put("CARAVAN_NO_BUILD", "1");
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new FaultException("cannot run " + cmd.getFirst() + ": " + e.getMessage());
    }
    try {
      p.getOutputStream().close();
    } catch (IOException e) {
      // nothing to read from stdin either way
    }
    CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> read(p.getInputStream()), r -> Thread.ofVirtual().start(r));
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        // the script only; the workers it started are the cluster's and stay
        p.destroy();
        if (!p.waitFor(5, TimeUnit.SECONDS)) {
          p.destroyForcibly();
          p.waitFor();
        }
        return new Script(-1, output.getNow(""));
      }
      return new Script(p.exitValue(), output.get(5, TimeUnit.SECONDS));
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new FaultException("interrupted while running " + cmd.getFirst());
    } catch (Exception e) {
      return new Script(p.exitValue(), "");
    }
  }

  private static String read(InputStream in) {
    try (in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    }
  }

  private static void sleep(long millis) throws FaultException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new FaultException("interrupted");
    }
  }
}
