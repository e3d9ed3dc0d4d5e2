package dev.caravan.cluster.security;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * How a cluster process (coordinator, worker) secures its internal connections and its membership, as a picocli
 * {@code @Mixin}: {@code --tls-cert/--tls-key/--tls-ca} (mutual TLS with the cluster's CA) and
 * {@code --cluster-secret-file} (or {@code $CARAVAN_CLUSTER_SECRET}), or {@code --insecure} for plaintext. A process
 * given neither is refused at start-up with a message saying what to pass.
 */
public final class SecurityOptions {
  private static final Logger LOG = LoggerFactory.getLogger(SecurityOptions.class);

  @Spec(Spec.Target.MIXEE) CommandSpec mixee;

  @Option(names = "--tls-cert", paramLabel = "FILE", description = "This process's certificate (PEM) from the cluster's CA, naming its role (OU=coordinator or OU=worker); 'caravan certs issue' makes one (default: none).")
  Path tlsCert;

  @Option(names = "--tls-key", paramLabel = "FILE", description = "The certificate's private key (PKCS#8 PEM, readable by its owner only) (default: none).")
  Path tlsKey;

  @Option(names = "--tls-ca", paramLabel = "FILE", description = "The cluster's CA certificate (PEM): internal connections accept only peers it issued (default: none).")
  Path tlsCa;

  @Option(names = "--cluster-secret-file", paramLabel = "FILE", description = "File holding the cluster's join secret (at least 16 bytes; or set $" + JoinSecret.ENV + "): members with another secret are kept out (default: none).")
  Path clusterSecretFile;

  @Option(names = "--insecure", description = "Run without TLS and join secret: internal connections in plaintext, every caller allowed. Only on a trusted machine or network (default: ${DEFAULT-VALUE}).")
  boolean insecure;

  /** The internal identity and the join secret. */
  public record Resolved(ClusterTls tls, JoinSecret secret) {}

  /** Checks the options and loads the files; the environment is read from {@code env}. */
  public Resolved resolve(Function<String, String> env) {
    List<String> tlsGiven = new ArrayList<>();
    List<String> tlsMissing = new ArrayList<>();
    (tlsCert != null ? tlsGiven : tlsMissing).add("--tls-cert");
    (tlsKey != null ? tlsGiven : tlsMissing).add("--tls-key");
    (tlsCa != null ? tlsGiven : tlsMissing).add("--tls-ca");
    String envSecret = env.apply(JoinSecret.ENV);
    boolean secretGiven = clusterSecretFile != null || envSecret != null && !envSecret.isBlank();
    if (insecure && !tlsGiven.isEmpty()) {
      throw usage("--insecure runs without TLS: leave out " + String.join(", ", tlsGiven) + ", or --insecure");
    }
    if (!insecure && tlsGiven.isEmpty()) {
      throw usage("internal connections need mutual TLS: pass --tls-cert FILE --tls-key FILE --tls-ca FILE and --cluster-secret-file FILE"
          + " ('ops/cluster up' and 'caravan certs' make them), or --insecure to run in plaintext on a trusted machine");
    }
    if (!insecure && !tlsMissing.isEmpty()) {
      throw usage("--tls-cert, --tls-key and --tls-ca go together: missing " + String.join(", ", tlsMissing));
    }
    if (!insecure && !secretGiven) {
      throw usage("the cluster needs a join secret: pass --cluster-secret-file FILE or set $" + JoinSecret.ENV + " (the same on every member; e.g. 'openssl rand -hex 32'), or --insecure");
    }
    try {
      JoinSecret secret = clusterSecretFile != null ? JoinSecret.load(clusterSecretFile) : secretGiven ? JoinSecret.of(envSecret, "$" + JoinSecret.ENV) : JoinSecret.none();
      ClusterTls tls = insecure ? ClusterTls.insecure() : ClusterTls.load(tlsCert, tlsKey, tlsCa);
      if (insecure) {
        LOG.warn("--insecure: internal gRPC connections are PLAINTEXT and unauthenticated{}; anyone who reaches this process's ports can drive it. Use only on a trusted machine or network.",
            secret.present() ? "" : ", and there is no cluster join secret");
      }
      return new Resolved(tls, secret);
    } catch (IllegalArgumentException e) {
      throw usage(e.getMessage());
    }
  }

  /** As {@link #resolve(Function)} with the process's environment. */
  public Resolved resolve() {
    return resolve(System::getenv);
  }

  private ParameterException usage(String message) {
    return new ParameterException(mixee.commandLine(), message);
  }
}
