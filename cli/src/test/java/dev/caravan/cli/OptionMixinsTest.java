package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.coordinator.CoordinatorCommand;
import dev.caravan.engine.sampling.SamplingParams;
import dev.caravan.loadtest.LoadtestCommand;
import dev.caravan.worker.WorkerCommand;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** The shared option mixins keep each command's defaults, help and validation. */
class OptionMixinsTest {

  @Test
  void clusterOptionsTakeEachRolesDefaultsAndHelp() {
    CommandLine coordinator = new CommandLine(new CoordinatorCommand());
    coordinator.parseArgs("--model", "m.gguf");
    assertEquals(7070, (int) coordinator.getCommandSpec().findOption("--grpc-port").getValue());
    assertEquals(5701, (int) coordinator.getCommandSpec().findOption("--hazelcast-port").getValue());
    assertEquals(9400, (int) coordinator.getCommandSpec().findOption("--metrics-port").getValue());
    assertEquals("caravan", coordinator.getCommandSpec().findOption("--cluster-name").getValue());
    String help = coordinator.getUsageMessage(CommandLine.Help.Ansi.OFF).replaceAll("\\s+", " ");
    assertTrue(help.contains("Public gRPC port (default: 7070)."), help);
    assertTrue(help.contains("Hazelcast port workers join (default: 5701)."), help);
    assertTrue(help.contains("Cluster name; members join only their own (default: caravan)."), help);

    CommandLine worker = new CommandLine(new WorkerCommand());
    worker.parseArgs("--model", "m.gguf", "--join", "127.0.0.1:5701", "--hazelcast-port", "5800");
    assertEquals(0, (int) worker.getCommandSpec().findOption("--grpc-port").getValue());
    assertEquals(5800, (int) worker.getCommandSpec().findOption("--hazelcast-port").getValue());
    assertEquals(0, (int) worker.getCommandSpec().findOption("--metrics-port").getValue());
    help = worker.getUsageMessage(CommandLine.Help.Ansi.OFF).replaceAll("\\s+", " ");
    assertTrue(help.contains("gRPC port; 0 picks a free one (default: 0)."), help);
    assertTrue(help.contains("First Hazelcast port to try (default: 5702)."), help);
    assertTrue(help.contains("Cluster to join (default: caravan)."), help);
    // the worker still requires --join, or --join-dns in Kubernetes: refused before anything starts
    assertTrue(help.contains("--join-dns=NAME[:PORT]") && help.contains("(default: none; PORT: 5701)"), help);
    java.io.StringWriter err = new java.io.StringWriter();
    assertEquals(2, new CommandLine(new WorkerCommand()).setErr(new java.io.PrintWriter(err)).execute("--model", "m.gguf"));
    assertTrue(err.toString().contains("--join HOST:PORT") && err.toString().contains("--join-dns"), err.toString());
  }

  @Test
  void targetOptionKeepsItsDefaultAndLoadtestItsCheck() {
    for (Object command : new Object[] {new GenerateCommand(), new StatusCommand(), new LoadtestCommand()}) {
      CommandLine cl = new CommandLine(command);
      String help = cl.getUsageMessage(CommandLine.Help.Ansi.OFF).replaceAll("\\s+", " ");
      assertTrue(help.contains("Coordinator gRPC address (default: 127.0.0.1:7070)."), help);
    }
    CommandLine loadtest = LoadtestCommand.commandLine();
    loadtest.setErr(new java.io.PrintWriter(new java.io.StringWriter()));
    assertEquals(2, loadtest.execute("--target", "nohost"));
  }

  @Test
  void samplingOptionsHaveRunsDefaultsAndRefuseBadValues() {
    SamplingCommand c = new SamplingCommand();
    CommandLine cl = new CommandLine(c);
    cl.parseArgs("--seed", "5");
    SamplingParams p = c.sampling.params();
    assertEquals(new SamplingParams(0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0f, 0f, 5), p);
    String help = cl.getUsageMessage(CommandLine.Help.Ansi.OFF).replaceAll("\\s+", " ");
    assertTrue(help.contains("Top-p; 1 disables (default: 0.95)."), help);
    assertTrue(help.contains("Window of the repetition penalty (default: 64)."), help);

    SamplingCommand bad = new SamplingCommand();
    new CommandLine(bad).parseArgs("--top-p", "0");
    CommandLine.ParameterException e = assertThrows(CommandLine.ParameterException.class, bad.sampling::params);
    assertTrue(e.getMessage().contains("topP"), e.getMessage());
  }

  /** A command with nothing but the sampling flags. */
  @Command(name = "sampling")
  static final class SamplingCommand implements Callable<Integer> {
    @Mixin SamplingOptions sampling;

    @Override
    public Integer call() {
      return 0;
    }
  }
}
