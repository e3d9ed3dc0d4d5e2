package dev.caravan.cli;

import dev.caravan.coordinator.CoordinatorCommand;
import dev.caravan.loadtest.LoadtestCommand;
import dev.caravan.worker.WorkerCommand;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code bin/caravan} launcher: one command, a subcommand per job. */
@Command(
    name = "caravan",
    mixinStandardHelpOptions = true,
    version = "caravan 0.1.0",
    description = "Distributed inference for LLaMA-family models.")
public final class Caravan implements Runnable {

  /** The subcommands, in the order {@code --help} lists them. */
  static final List<Class<?>> SUBCOMMANDS = List.of(RunCommand.class, ModelCommand.class, CoordinatorCommand.class, WorkerCommand.class, GenerateCommand.class, StatusCommand.class, LoadtestCommand.class, BenchCommand.class, CertsCommand.class, PrometheusCheckCommand.class, CommandLine.HelpCommand.class);

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(commandLine(args).execute(args));
  }

  /** The whole command tree with Caravan's error handling: a one-line message naming the problem, no stack trace. */
  static CommandLine commandLine() {
    return commandLine(new String[0]);
  }

  /**
   * The command tree for {@code args}: when the first argument names a subcommand, only that one is registered. picocli
   * reflects over every option of every subcommand it is given, and for the whole tree that took ~0.3 s of a cold start
   * (launch to first token); {@code caravan}, {@code caravan --help}, {@code caravan help ...} and an unknown name get
   * every subcommand.
   */
  static CommandLine commandLine(String[] argv) {
    CommandLine root = new CommandLine(new Caravan());
    Class<?> only = argv.length == 0 ? null : SUBCOMMANDS.stream()
        .filter(c -> c != CommandLine.HelpCommand.class && c.getAnnotation(Command.class).name().equals(argv[0]))
        .findFirst().orElse(null);
    for (Class<?> c : only != null ? List.of(only) : SUBCOMMANDS) {
      root.addSubcommand(c);
    }
    return root
        .setCaseInsensitiveEnumValuesAllowed(true)
        .setParameterExceptionHandler((ex, args) -> {
          CommandLine cmd = ex.getCommandLine();
          boolean top = cmd.getParent() == null;
          cmd.getErr().println((top ? "caravan" : "caravan " + cmd.getCommandName()) + ": " + ex.getMessage());
          cmd.getErr().println(top ? "Try 'caravan --help'." : "Try 'caravan " + qualifiedName(cmd) + " --help'.");
          return 2;
        })
        .setExecutionExceptionHandler((ex, cmd, parseResult) -> {
          Throwable t = ex instanceof CommandLine.ExecutionException && ex.getCause() != null ? ex.getCause() : ex;
          String message = ex instanceof CommandLine.ExecutionException ? ex.getMessage() : t instanceof java.io.IOException || t instanceof IllegalArgumentException ? t.getMessage() : t.toString();
          cmd.getErr().println("caravan " + cmd.getCommandName() + ": " + message);
          if (Boolean.getBoolean("caravan.debug")) {
            t.printStackTrace(cmd.getErr());
          }
          return 1;
        });
  }

  private static String qualifiedName(CommandLine cmd) {
    String name = cmd.getCommandName();
    for (CommandLine p = cmd.getParent(); p != null && p.getParent() != null; p = p.getParent()) {
      name = p.getCommandName() + " " + name;
    }
    return name;
  }
}
