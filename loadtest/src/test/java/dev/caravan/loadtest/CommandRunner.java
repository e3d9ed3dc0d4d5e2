package dev.caravan.loadtest;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs {@code loadtest} in this JVM with captured output. */
record CommandRunner(int exitCode, String out, String err) {
  static CommandRunner run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = LoadtestCommand.commandLine();
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    int code = cmd.execute(args);
    return new CommandRunner(code, out.toString(), err.toString());
  }
}
