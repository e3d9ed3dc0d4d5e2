package dev.caravan.cli;

import dev.caravan.cluster.security.Certificates;
import dev.caravan.cluster.security.Role;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code caravan certs}: the cluster's CA and per-node certificates for mutual TLS. */
@Command(name = "certs", mixinStandardHelpOptions = true, description = "Make the cluster's certificates: a CA, then one certificate per node naming its role.",
    subcommands = {CertsCommand.Ca.class, CertsCommand.Issue.class})
public final class CertsCommand implements Runnable {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  /** {@code caravan certs ca}. */
  @Command(name = "ca", mixinStandardHelpOptions = true, description = "Create the cluster's CA: DIR/ca.pem (give it to every node as --tls-ca) and DIR/ca.key (keep it private).")
  static final class Ca implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--dir", required = true, paramLabel = "DIR", description = "Where to write ca.pem and ca.key.")
    Path dir;

    @Option(names = "--days", defaultValue = "3650", description = "Validity in days (default: ${DEFAULT-VALUE}).")
    int days;

    @Option(names = "--name", defaultValue = "Caravan cluster CA", description = "The CA's common name (default: ${DEFAULT-VALUE}).")
    String name;

    @Option(names = "--force", description = "Overwrite an existing CA (every certificate it issued stops being trusted).")
    boolean force;

    @Override
    public Integer call() throws Exception {
      if (days < 1) {
        throw new ParameterException(spec.commandLine(), "--days must be positive, not " + days);
      }
      if (Files.exists(dir.resolve("ca.key")) && !force) {
        throw new ParameterException(spec.commandLine(), dir.resolve("ca.key") + " exists; pass --force to replace the CA");
      }
      Path cert = Certificates.authority(name, Duration.ofDays(days)).write(dir, "ca");
      System.out.println(cert);
      return 0;
    }
  }

  /** {@code caravan certs issue}. */
  @Command(name = "issue", mixinStandardHelpOptions = true, description = "Issue a node certificate from DIR/ca.pem and DIR/ca.key: DIR/NAME.pem and DIR/NAME.key, for --tls-cert and --tls-key.")
  static final class Issue implements Callable<Integer> {
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--dir", required = true, paramLabel = "DIR", description = "Directory holding the CA; the certificate is written there.")
    Path dir;

    @Option(names = "--name", required = true, description = "The node's name: the certificate's common name and file names (letters, digits, '.', '-', '_').")
    String name;

    @Option(names = "--role", required = true, description = "coordinator or worker: what the certificate may call (only a coordinator controls workers).")
    String role;

    @Option(names = "--san", paramLabel = "HOST|IP", description = "Subject alternative name (repeatable; clients of a public port check it) (default: localhost and 127.0.0.1).")
    List<String> sans = new ArrayList<>();

    @Option(names = "--days", defaultValue = "365", description = "Validity in days (default: ${DEFAULT-VALUE}).")
    int days;

    @Override
    public Integer call() throws Exception {
      if (!name.matches("[A-Za-z0-9._-]{1,64}") || name.equals("ca")) {
        throw new ParameterException(spec.commandLine(), "--name must be 1 to 64 letters, digits, '.', '-' or '_' (and not 'ca'), not '" + name + "'");
      }
      if (days < 1) {
        throw new ParameterException(spec.commandLine(), "--days must be positive, not " + days);
      }
      Role r;
      try {
        r = Role.parse(role);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), "--role: " + e.getMessage());
      }
      if (!Files.isRegularFile(dir.resolve("ca.pem")) || !Files.isRegularFile(dir.resolve("ca.key"))) {
        throw new ParameterException(spec.commandLine(), "no CA in " + dir + " (ca.pem and ca.key); make one with 'caravan certs ca --dir " + dir + "'");
      }
      Certificates.Issued ca = Certificates.loadAuthority(dir.resolve("ca.pem"), dir.resolve("ca.key"));
      List<String> names = sans.isEmpty() ? List.of("localhost", "127.0.0.1") : sans;
      Path cert = Certificates.issue(ca, name, r, names, Duration.ofDays(days)).write(dir, name);
      System.out.println(cert);
      return 0;
    }
  }
}
