package dev.caravan.cli;

import dev.caravan.coordinator.CoordinatorCommand;
import dev.caravan.loadtest.LoadtestCommand;
import dev.caravan.worker.WorkerCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code bin/caravan} launcher: one command, a subcommand per job. */
@Command(
    name = "caravan",
    mixinStandardHelpOptions = true,
    version = "caravan 0.1.0",
    description = "Distributed inference for LLaMA-family models.",
    subcommands = {RunCommand.class, ModelCommand.class, CoordinatorCommand.class, WorkerCommand.class, GenerateCommand.class, StatusCommand.class, LoadtestCommand.class, BenchCommand.class, CertsCommand.class, PrometheusCheckCommand.class, CommandLine.HelpCommand.class})
public final class Caravan implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The command tree with Caravan's error handling: a one-line message naming the problem, no stack trace. */
  static CommandLine commandLine() {
    return new CommandLine(new Caravan())
        .setCaseInsensitiveEnumValuesAllowed(true)
        .setParameterExceptionHandler((ex, args) -> {
          CommandLine cmd = ex.getCommandLine();
          cmd.getErr().println("caravan " + cmd.getCommandName() + ": " + ex.getMessage());
          cmd.getErr().println("Try 'caravan " + qualifiedName(cmd) + " --help'.");
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
