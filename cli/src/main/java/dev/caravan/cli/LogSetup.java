package dev.caravan.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ConfiguratorRank;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * The processes' logging, set up in code: one line per event on stderr ({@code HH:mm:ss.SSS LEVEL [thread] logger -
 * message}), Hazelcast, gRPC and Netty at WARN, everything else at {@code -Dcaravan.log.level} (default INFO). Logback
 * finds this class as a service; set up this way instead of from a {@code logback.xml}, start-up skips the XML parser
 * (about 0.3 s of class loading on a 2-core machine, before the first token). {@code -Dlogback.configurationFile=FILE}
 * still configures logback from a file instead, and a {@code logback-test.xml} on the class path (tests) wins too.
 */
@ConfiguratorRank(ConfiguratorRank.CUSTOM_NORMAL_PRIORITY)
public final class LogSetup extends ContextAwareBase implements Configurator {
  static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level [%thread] %logger{20} - %msg%n";

  @Override
  public ExecutionStatus configure(LoggerContext context) {
    boolean fileGiven = System.getProperty("logback.configurationFile") != null || LogSetup.class.getClassLoader().getResource("logback-test.xml") != null;
    return configure(context, fileGiven, System.getProperty("caravan.log.level", "INFO"));
  }

  /** Sets up {@code context} unless a configuration file was given (then logback's own configurator reads it). */
  static ExecutionStatus configure(LoggerContext context, boolean fileGiven, String level) {
    if (fileGiven) {
      return ExecutionStatus.NEUTRAL;
    }
    PatternLayoutEncoder encoder = new PatternLayoutEncoder();
    encoder.setContext(context);
    encoder.setPattern(PATTERN);
    encoder.start();
    ConsoleAppender<ILoggingEvent> stderr = new ConsoleAppender<>();
    stderr.setContext(context);
    stderr.setName("STDERR");
    stderr.setTarget("System.err");
    stderr.setEncoder(encoder);
    stderr.start();
    Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.setLevel(Level.toLevel(level, Level.INFO));
    root.addAppender(stderr);
    for (String quiet : new String[] {"com.hazelcast", "io.grpc", "io.netty"}) {
      context.getLogger(quiet).setLevel(Level.WARN);
    }
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }
}
