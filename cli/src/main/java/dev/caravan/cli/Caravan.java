package dev.caravan.cli;

import dev.caravan.coordinator.CoordinatorCommand;
import dev.caravan.worker.WorkerCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code bin/caravan} launcher: one command, a subcommand per job. */
@Command(
    name = "caravan",
    mixinStandardHelpOptions = true,
    version = "caravan 0.1.0",
    description = "Distributed inference for LLaMA-family models.",
    subcommands = {RunCommand.class, ModelCommand.class, CoordinatorCommand.class, WorkerCommand.class, GenerateCommand.class, StatusCommand.class, CommandLine.HelpCommand.class})
public final class Caravan implements Runnable {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  public static void main(String[] args) {
    int code = new CommandLine(new Caravan()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
    System.exit(code);
  }
}
