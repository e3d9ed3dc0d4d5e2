package dev.caravan.worker;

import dev.caravan.cluster.ClusterOptions;
import dev.caravan.cluster.ProcessChecks;
import dev.caravan.cluster.security.SecurityOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code caravan worker}: a shard worker process. */
@Command(name = "worker", mixinStandardHelpOptions = true, sortOptions = false, resourceBundle = ClusterOptions.WORKER,
    description = "Run a shard worker: join the cluster, take a layer range from the plan, serve it over gRPC.")
public final class WorkerCommand implements Callable<Integer> {
  private static final Logger LOG = LoggerFactory.getLogger(WorkerCommand.class);

  @Spec CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "FILE", description = "GGUF model file (the same model as the coordinator's); relative to --model-dir when that is given.")
  Path model;

  @Option(names = "--model-dir", paramLabel = "DIR", description = "Directory model files are read from: a --model outside it (after following links and '..') is refused (default: the directory of --model).")
  Path modelDir;

  @Option(names = "--join", split = ",", paramLabel = "HOST:PORT", description = "Hazelcast address(es) of cluster members to join, e.g. the coordinator's 127.0.0.1:5701 (this or --join-dns is required).")
  List<String> join;

  @Mixin ClusterOptions cluster;

  @Mixin SecurityOptions security;

  @Option(names = "--threads", description = "Compute threads (default: available cores, ${DEFAULT-VALUE}).")
  int threads = Runtime.getRuntime().availableProcessors();

  @Option(names = "--frames-in-flight", defaultValue = "4", paramLabel = "N", description = "Frames each hop may have unacknowledged: what this worker takes from the previous hop and sends to the next before waiting for acks (default: ${DEFAULT-VALUE}).")
  int framesInFlight;

  @Option(names = "--memory-limit", defaultValue = "0", paramLabel = "BYTES", description = "Memory to offer the plan for weights; 0 offers what is free (default: ${DEFAULT-VALUE}).")
  long memoryLimit;

  @Option(names = "--kv-budget", defaultValue = "0", paramLabel = "BYTES", description = "Most bytes of KV cache this worker holds; the coordinator admits and preempts requests to stay within it. 0: no limit but memory (default: ${DEFAULT-VALUE}).")
  long kvBudget;

  @Option(names = "--idle-timeout", defaultValue = "PT10M", description = "Free a session's KV cache after this long unused, ISO-8601 (default: ${DEFAULT-VALUE}).")
  Duration idleTimeout;

  @Option(names = "--drain-timeout", defaultValue = "PT30S", description = "On SIGTERM, wait this long for sessions to finish before leaving (default: ${DEFAULT-VALUE}).")
  Duration drainTimeout;

  @Option(names = "--spare-warm-up", defaultValue = "PT2S", description = "As a spare, run the layers it may take over for this long after each plan change (split over the plan's stages, at least one pass each), so the JIT has compiled them when a failover comes; ISO-8601 (default: ${DEFAULT-VALUE}).")
  Duration spareWarmUp;

  @Option(names = "--exit-with-parent", hidden = true, description = "Exit when stdin closes (the parent process died).")
  boolean exitWithParent;

  @Override
  public Integer call() throws Exception {
    join = cluster.members(join, true); // --join or --join-dns (Kubernetes): exactly one
    if (exitWithParent) {
      dev.caravan.cluster.ParentWatch.exitWhenStdinCloses();
    }
    ProcessChecks checks = new ProcessChecks(spec);
    Path modelFile = checks.modelInside(modelDir, model);
    checks
        .check(threads >= 1 && threads <= 1024, "--threads must be between 1 and 1024")
        .check(kvBudget >= 0, "--kv-budget must not be negative, not " + kvBudget)
        .check(framesInFlight >= 1 && framesInFlight <= 1024, "--frames-in-flight must be between 1 and 1024, not " + framesInFlight)
        .ports(cluster.grpcPort(), cluster.metricsPort(), cluster.hazelcastPort())
        .positive(idleTimeout, "--idle-timeout")
        .notNegative(drainTimeout, "--drain-timeout")
        .notNegative(spareWarmUp, "--spare-warm-up")
        .check(spareWarmUp.compareTo(Duration.ofMinutes(5)) <= 0, "--spare-warm-up must be at most PT5M, not " + spareWarmUp)
        .join(join);
    SecurityOptions.Resolved secured = security.resolve();
    ShardWorker worker = new ShardWorker(new ShardWorker.Config(modelFile, join, cluster.clusterName(), cluster.host(), cluster.grpcPort(), cluster.hazelcastPort(), cluster.metricsPort(), threads, framesInFlight, memoryLimit, kvBudget, idleTimeout, drainTimeout, spareWarmUp), secured.tls(), secured.secret());
    Runtime.getRuntime().addShutdownHook(new Thread(worker::drain, "caravan-drain"));
    worker.start();
    worker.awaitTermination();
    LOG.info("worker stopped");
    return 0;
  }

  /** Runs this command alone (tests start processes this way; bin/caravan goes through the launcher). */
  public static void main(String[] args) {
    System.exit(new CommandLine(new WorkerCommand()).execute(args));
  }

}
