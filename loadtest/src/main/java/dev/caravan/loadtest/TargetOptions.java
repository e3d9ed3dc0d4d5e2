package dev.caravan.loadtest;

import io.grpc.ManagedChannel;
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

  /** The address as given, {@code HOST:PORT}. */
  public String target() {
    return target;
  }

  /** A channel to the target ({@link ClientChannels}); close it with {@link ClientChannels#close}. */
  public ManagedChannel openChannel() {
    return ClientChannels.forAddress(target);
  }

  /** Throws a {@link ParameterException} naming the problem unless the target is {@code HOST:PORT} with a port in 1..65535. */
  public void check() {
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
