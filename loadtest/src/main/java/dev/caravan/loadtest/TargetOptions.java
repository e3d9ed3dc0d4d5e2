package dev.caravan.loadtest;

import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code --target}: the coordinator whose public {@code Inference} API a client command talks to, as a picocli
 * {@code @Mixin} for the clients that are no cluster members ({@code caravan loadtest}, {@code generate},
 * {@code status}). It lives here, not in the cluster module, so that a client needs neither Hazelcast nor the cluster
 * code: the cli depends on this module anyway.
 */
public final class TargetOptions {
  @Spec(Spec.Target.MIXEE) CommandSpec mixee;

  @Option(names = "--target", defaultValue = "127.0.0.1:7070", paramLabel = "HOST:PORT", description = "Coordinator gRPC address (default: ${DEFAULT-VALUE}).")
  String target;

  /** The environment variable that may hold the API key. */
  public static final String KEY_ENV = "CARAVAN_API_KEY";

  @Option(names = "--api-key", paramLabel = "KEY", description = "API key sent as 'authorization: Bearer KEY' (visible in ps: prefer --api-key-file or $" + KEY_ENV + ") (default: $" + KEY_ENV + ", else none).")
  String apiKey;

  @Option(names = "--api-key-file", paramLabel = "FILE", description = "File whose first line that is not blank or a # comment is the API key (default: none).")
  Path apiKeyFile;

  @Option(names = "--tls-ca", paramLabel = "FILE", description = "Connect with TLS, trusting this CA certificate (PEM) for the coordinator's public port (default: none, plaintext).")
  Path tlsCa;

  @Option(names = "--tls", description = "Connect with TLS, trusting the JVM's default CAs (default: ${DEFAULT-VALUE}).")
  boolean tls;

  private String resolvedKey;
  private java.util.function.Function<String, String> env = System::getenv;

  /** The address as given, {@code HOST:PORT}. */
  public String target() {
    return target;
  }

  /** A channel to the target ({@link ClientChannels}) with the API key and TLS asked for; close it with {@link ClientChannels#close}. */
  public ManagedChannel openChannel() {
    return ClientChannels.forAddress(target, apiKey(), tlsCa, tls);
  }

  /** The API key: {@code --api-key}, else {@code --api-key-file}, else {@code $CARAVAN_API_KEY}; null when none. */
  public String apiKey() {
    if (resolvedKey == null) {
      resolvedKey = readKey();
    }
    return resolvedKey.isEmpty() ? null : resolvedKey;
  }

  /** For tests: where {@code $CARAVAN_API_KEY} is read from. */
  void environment(java.util.function.Function<String, String> env) {
    this.env = env;
    this.resolvedKey = null;
  }

  private String readKey() {
    if (apiKey != null && apiKeyFile != null) {
      throw usage("--api-key and --api-key-file exclude each other");
    }
    if (apiKey != null) {
      return apiKey.strip();
    }
    if (apiKeyFile != null) {
      try {
        return Files.readAllLines(apiKeyFile).stream().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).findFirst()
            .orElseThrow(() -> usage("--api-key-file: " + apiKeyFile + " holds no key"));
      } catch (IOException e) {
        throw usage("--api-key-file: cannot read " + apiKeyFile + ": " + e.getMessage());
      }
    }
    String fromEnv = env.apply(KEY_ENV);
    return fromEnv == null ? "" : fromEnv.strip();
  }

  /**
   * Throws a {@link ParameterException} naming the problem unless the target is {@code HOST:PORT} with a port in
   * 1..65535, the key options make sense and a {@code --tls-ca} file exists.
   */
  public void check() {
    apiKey();
    if (tlsCa != null && !Files.isRegularFile(tlsCa)) {
      throw usage("--tls-ca: no such file: " + tlsCa);
    }
    int colon = target.lastIndexOf(':');
    if (colon <= 0 || colon == target.length() - 1) {
      throw usage("--target must be HOST:PORT, not '" + target + "'");
    }
    try {
      int port = Integer.parseInt(target.substring(colon + 1));
      if (port < 1 || port > 65535) {
        throw usage("--target port must be in 1..65535, not " + port);
      }
    } catch (NumberFormatException e) {
      throw usage("--target must be HOST:PORT with a numeric port, not '" + target + "'");
    }
  }

  private ParameterException usage(String message) {
    return new ParameterException(mixee.commandLine(), message);
  }
}
