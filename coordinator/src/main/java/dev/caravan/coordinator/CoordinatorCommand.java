package dev.caravan.coordinator;

import dev.caravan.cluster.ClusterOptions;
import dev.caravan.cluster.ProcessChecks;
import dev.caravan.cluster.security.ApiKeys;
import dev.caravan.cluster.security.PublicTls;
import dev.caravan.cluster.security.SecurityOptions;
import dev.caravan.coordinator.scheduler.SchedulerConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code caravan coordinator}: the cluster's front door. */
@Command(name = "coordinator", mixinStandardHelpOptions = true, sortOptions = false, resourceBundle = ClusterOptions.COORDINATOR,
    description = "Run the coordinator: public gRPC API and OpenAI-compatible HTTP API, tokenizer, sampling, layer plan and scheduler, as a Hazelcast member workers join.")
public final class CoordinatorCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "FILE", description = "GGUF model file (its metadata and tokenizer; workers hold the weights); relative to --model-dir when that is given.")
  Path model;

  @Option(names = "--model-dir", paramLabel = "DIR", description = "Directory model files are read from: a --model outside it (after following links and '..') is refused (default: the directory of --model).")
  Path modelDir;

  @Mixin ClusterOptions cluster;

  @Mixin SecurityOptions security;

  @Option(names = "--api-keys", paramLabel = "FILE", description = "API keys the public API requires, one per line (# comments), as 'authorization: Bearer <key>'; keep the file chmod 600 (default: none, the public API is open).")
  Path apiKeys;

  @Option(names = "--public-tls-cert", paramLabel = "FILE", description = "TLS certificate (PEM) for the public gRPC port; clients then pass --tls-ca (default: none, plaintext).")
  Path publicTlsCert;

  @Option(names = "--public-tls-key", paramLabel = "FILE", description = "Private key (PKCS#8 PEM) of --public-tls-cert (default: none).")
  Path publicTlsKey;

  @Option(names = "--internal-port", defaultValue = "0", description = "gRPC port where workers deliver results (PipelineSink); 0 picks a free one (default: ${DEFAULT-VALUE}).")
  int internalPort;

  @Option(names = "--join", split = ",", paramLabel = "HOST:PORT", description = "Other members to join (default: none; this coordinator starts the cluster).")
  List<String> join = List.of();

  @Option(names = "--max-running", defaultValue = "16", description = "Requests generating at once (default: ${DEFAULT-VALUE}).")
  int maxRunning;

  @Option(names = "--max-waiting", defaultValue = "256", description = "Requests queued beyond those; more are refused with RESOURCE_EXHAUSTED (default: ${DEFAULT-VALUE}).")
  int maxWaiting;

  @Option(names = "--max-batch-tokens", defaultValue = "256", description = "Tokens per pipeline batch (decode tokens first, then prompt chunks) (default: ${DEFAULT-VALUE}).")
  int maxBatchTokens;

  @Option(names = "--step-timeout", defaultValue = "PT30S", description = "A batch with no answer from the pipeline for this long has its stages health-checked: it fails as UNAVAILABLE if one does not answer, else it is waited for again, at most 20 times in all (default: ${DEFAULT-VALUE}).")
  Duration stepTimeout;

  @Option(names = "--session-idle", defaultValue = "PT10M", description = "Free a session's KV cache after this long unused (default: ${DEFAULT-VALUE}).")
  Duration sessionIdle;

  @Option(names = "--no-plan-wait", defaultValue = "PT10S", description = "How long a request waits for workers before failing with UNAVAILABLE (default: ${DEFAULT-VALUE}).")
  Duration noPlanWait;

  @Option(names = "--frames-in-flight", defaultValue = "4", description = "Frames sent to a stage 0 (and taken into the result sink) before an acknowledgement must come back (default: ${DEFAULT-VALUE}).")
  int framesInFlight;

  @Option(names = "--kv-report-interval", defaultValue = "PT0.1S", description = "Publish KV-cache placement at most this often while requests run; at once when one ends (default: ${DEFAULT-VALUE}).")
  Duration kvReportInterval;

  @Option(names = "--max-failovers", defaultValue = "3", description = "Times a request may lose a worker and start over on the next plan before it fails with UNAVAILABLE (default: ${DEFAULT-VALUE}).")
  int maxFailovers;

  @Option(names = "--spares", defaultValue = "0", paramLabel = "N", description = "Workers to hold back as spares: each keeps the layers it would take over loaded and warm, and takes a lost stage's place with every other stage unchanged (default: ${DEFAULT-VALUE}: every worker serves).")
  int spares;

  @Option(names = "--max-request-bytes", defaultValue = "16777216", description = "Largest message the public API takes; larger ones are refused with RESOURCE_EXHAUSTED (HTTP: 413) (default: ${DEFAULT-VALUE}, room for a prompt of 4 Mi characters).")
  int maxRequestBytes;

  @Option(names = "--http-port", defaultValue = "8080", description = "Port of the OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health); 0 picks a free one (default: ${DEFAULT-VALUE}).")
  int httpPort;

  @Option(names = "--http-request-timeout", defaultValue = "PT10M", description = "An HTTP generation request still running after this long ends with 504 (default: ${DEFAULT-VALUE}).")
  Duration httpRequestTimeout;

  @Option(names = "--http-idle-timeout", defaultValue = "PT60S", description = "Close an HTTP keep-alive connection idle for this long (default: ${DEFAULT-VALUE}).")
  Duration httpIdleTimeout;

  @Option(names = "--http-max-buffered-bytes", defaultValue = "268435456", paramLabel = "BYTES", description = "Request bodies the HTTP API holds at once over all connections (being read, or waiting to be tokenized); a connection that would go past it is answered 429 and closed. At least --max-request-bytes (default: ${DEFAULT-VALUE}, 256 MiB).")
  long httpMaxBufferedBytes;

  @Option(names = "--drain-timeout", defaultValue = "PT30S", description = "On SIGTERM, let running requests finish for this long (default: ${DEFAULT-VALUE}).")
  Duration drainTimeout;

  @Option(names = "--exit-with-parent", hidden = true, description = "Exit when stdin closes (the parent process died).")
  boolean exitWithParent;

  @Override
  public Integer call() throws Exception {
    join = cluster.members(join, false); // --join or --join-dns (Kubernetes), not both
    if (exitWithParent) {
      dev.caravan.cluster.ParentWatch.exitWhenStdinCloses();
    }
    ProcessChecks checks = new ProcessChecks(spec);
    Path modelFile = checks.modelInside(modelDir, model);
    checks
        .ports(cluster.grpcPort(), internalPort, cluster.metricsPort(), cluster.hazelcastPort(), httpPort)
        .check(maxRunning >= 1 && maxWaiting >= 0 && maxBatchTokens >= 1, "--max-running and --max-batch-tokens must be positive, --max-waiting not negative")
        .positive(stepTimeout, "--step-timeout")
        .positive(sessionIdle, "--session-idle")
        .positive(noPlanWait, "--no-plan-wait")
        .check(framesInFlight >= 1 && framesInFlight <= 1024, "--frames-in-flight must be between 1 and 1024, not " + framesInFlight)
        .positive(kvReportInterval, "--kv-report-interval")
        .check(maxFailovers >= 0 && maxFailovers <= 100, "--max-failovers must be between 0 and 100, not " + maxFailovers)
        .check(spares >= 0 && spares <= 64, "--spares must be between 0 and 64, not " + spares)
        .check(maxRequestBytes >= 1024, "--max-request-bytes must be at least 1024, not " + maxRequestBytes)
        .positive(httpRequestTimeout, "--http-request-timeout")
        .positive(httpIdleTimeout, "--http-idle-timeout")
        .check(httpMaxBufferedBytes >= maxRequestBytes, "--http-max-buffered-bytes must be at least --max-request-bytes (" + maxRequestBytes + "), not " + httpMaxBufferedBytes)
        .notNegative(drainTimeout, "--drain-timeout")
        .join(join)
        .check((publicTlsCert == null) == (publicTlsKey == null), "--public-tls-cert and --public-tls-key go together");
    SecurityOptions.Resolved secured = security.resolve();
    ApiKeys keys;
    PublicTls publicTls;
    try {
      keys = apiKeys == null ? null : ApiKeys.load(apiKeys);
      publicTls = publicTlsCert == null ? null : PublicTls.load(publicTlsCert, publicTlsKey);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    Coordinator c = new Coordinator(new Coordinator.Config(modelFile, cluster.clusterName(), cluster.host(), cluster.grpcPort(), internalPort, cluster.hazelcastPort(), join, cluster.metricsPort(), new SchedulerConfig(maxRunning, maxWaiting, maxBatchTokens, 1), stepTimeout, sessionIdle, noPlanWait, drainTimeout, framesInFlight, kvReportInterval, maxFailovers, maxRequestBytes, spares, httpPort, httpRequestTimeout, httpIdleTimeout, httpMaxBufferedBytes), new Coordinator.Security(secured.tls(), secured.secret(), keys, publicTls));
    Runtime.getRuntime().addShutdownHook(new Thread(c::drain, "caravan-drain"));
    c.start();
    c.awaitTermination();
    return 0;
  }

  /** Runs this command alone (tests start processes this way; bin/caravan goes through the launcher). */
  public static void main(String[] args) {
    System.exit(new CommandLine(new CoordinatorCommand()).execute(args));
  }

}
