package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator.ExecutionStatus;
import ch.qos.logback.core.ConsoleAppender;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** The processes' logging, set up in code: stderr, one line per event, the noisy libraries at WARN. */
class LogSetupTest {

  @Test
  void setsUpStderrWithTheLevelAskedFor() {
    LoggerContext context = new LoggerContext();
    assertEquals(ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY, LogSetup.configure(context, false, "DEBUG"));
    Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    assertEquals(Level.DEBUG, root.getLevel());
    ConsoleAppender<?> stderr = assertInstanceOf(ConsoleAppender.class, root.getAppender("STDERR"));
    assertEquals("System.err", stderr.getTarget());
    assertEquals("%d{HH:mm:ss.SSS} %-5level [%thread] %logger{20} - %msg%n", ((PatternLayoutEncoder) stderr.getEncoder()).getPattern());
    for (String name : new String[] {"com.hazelcast", "io.grpc", "io.netty"}) {
      assertEquals(Level.WARN, context.getLogger(name).getLevel(), name);
    }
    // an unknown level falls back to INFO rather than failing start-up
    LoggerContext other = new LoggerContext();
    LogSetup.configure(other, false, "LOUD");
    assertEquals(Level.INFO, other.getLogger(Logger.ROOT_LOGGER_NAME).getLevel());
  }

  @Test
  void aGivenConfigurationFileWins() {
    LoggerContext context = new LoggerContext();
    assertEquals(ExecutionStatus.NEUTRAL, LogSetup.configure(context, true, "INFO"));
    assertNull(context.getLogger(Logger.ROOT_LOGGER_NAME).getAppender("STDERR"));
  }

  @Test
  void logbackFindsItAsAService() {
    boolean found = false;
    for (ch.qos.logback.classic.spi.Configurator c : ServiceLoader.load(ch.qos.logback.classic.spi.Configurator.class)) {
      found |= c instanceof LogSetup;
    }
    assertEquals(true, found, "META-INF/services/ch.qos.logback.classic.spi.Configurator names LogSetup");
  }
}
