package dev.caravan.cluster;

import dev.caravan.cluster.security.ModelDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/** Validation shared by the process commands (coordinator, worker): each failure names the option and the problem. */
public final class ProcessChecks {
  private final CommandSpec spec;

  public ProcessChecks(CommandSpec spec) {
    this.spec = spec;
  }

  public ProcessChecks check(boolean ok, String message) {
    if (!ok) {
      throw new ParameterException(spec.commandLine(), message);
    }
    return this;
  }

  public ProcessChecks modelFile(Path model) {
    return check(Files.isRegularFile(model), "--model: no such file: " + model);
  }

  /**
   * The real path of {@code model}, which must lie inside {@code modelDir} (null: the model's own directory) after
   * symbolic links and {@code ..} are followed ({@link ModelDirectory}); refused with a message naming both otherwise.
   */
  public Path modelInside(Path modelDir, Path model) {
    try {
      return ModelDirectory.resolve(modelDir, model);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  public ProcessChecks ports(int... ports) {
    for (int p : ports) {
      check(p >= 0 && p <= 65535, "ports must be between 0 and 65535, not " + p);
    }
    return this;
  }

  public ProcessChecks join(List<String> members) {
    for (String j : members) {
      // a DNS join entry was made and checked from --join-dns (ClusterOptions.members)
      check(j.matches("[^:\\s]+:\\d{1,5}") || j.startsWith(ClusterMember.DnsJoin.PREFIX) && isDnsJoin(j), "--join: '" + j + "' is not HOST:PORT");
    }
    return this;
  }

  private static boolean isDnsJoin(String entry) {
    try {
      return ClusterMember.DnsJoin.of(List.of(entry)).isPresent();
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  public ProcessChecks positive(Duration d, String option) {
    return check(!d.isNegative() && !d.isZero(), option + " must be positive, not " + d);
  }

  public ProcessChecks notNegative(Duration d, String option) {
    return check(!d.isNegative(), option + " must not be negative, not " + d);
  }
}
