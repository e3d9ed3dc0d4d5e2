package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class CaravanTest {
  private static final List<String> ALL = List.of("run", "model", "coordinator", "worker", "generate", "status", "loadtest", "bench", "certs", "prometheus-check", "help");

  private static List<String> names(CommandLine cl) {
    return List.copyOf(cl.getSubcommands().keySet());
  }

  @Test
  void aNamedSubcommandIsTheOnlyOneBuilt() {
    assertEquals(List.of("run"), names(Caravan.commandLine(new String[] {"run", "--model", "x"})));
    assertEquals(List.of("prometheus-check"), names(Caravan.commandLine(new String[] {"prometheus-check"})));
    assertEquals(List.of("worker"), names(Caravan.commandLine(new String[] {"worker", "--help"})));
  }

  @Test
  void helpNoArgumentsAndUnknownNamesGetTheWholeTree() {
    assertEquals(ALL, names(Caravan.commandLine()));
    assertEquals(ALL, names(Caravan.commandLine(new String[0])));
    assertEquals(ALL, names(Caravan.commandLine(new String[] {"--help"})));
    assertEquals(ALL, names(Caravan.commandLine(new String[] {"help", "run"})));
    assertEquals(ALL, names(Caravan.commandLine(new String[] {"nope"})));
  }

  @Test
  void errorsNameTheCommandOnce() {
    StringWriter err = new StringWriter();
    String[] args = {"nope"};
    int code = Caravan.commandLine(args).setErr(new PrintWriter(err, true)).execute(args);
    assertEquals(2, code);
    assertTrue(err.toString().startsWith("caravan: Unmatched argument at index 0: 'nope'"), err.toString());
    assertTrue(err.toString().contains("Try 'caravan --help'."), err.toString());

    StringWriter err2 = new StringWriter();
    String[] args2 = {"run", "--model", "m.gguf"};
    code = Caravan.commandLine(args2).setErr(new PrintWriter(err2, true)).execute(args2);
    assertEquals(2, code);
    assertTrue(err2.toString().startsWith("caravan run: Missing required option: '--prompt=<prompt>'"), err2.toString());
    assertTrue(err2.toString().contains("Try 'caravan run --help'."), err2.toString());
  }
}
