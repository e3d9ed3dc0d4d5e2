package dev.caravan.coordinator.core;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs an {@link EngineCore} on a thread of its own: step, then sleep until the mailbox has work (or a timer tick, for
 * deadlines and expiry). The coordinator's way to run the core; {@code caravan run} steps it on its own thread instead.
 */
public final class EngineLoop implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(EngineLoop.class);
  /** Longest idle wait: bounds how late a deadline or an expiry is noticed. */
  private static final Duration TICK = Duration.ofMillis(20);

  private final EngineCore core;
  private final java.util.function.Consumer<Throwable> onFatal;
  private final Thread thread;
  private volatile boolean running = true;

  /** @param onFatal told of an Error the core could not pin on one request; the loop stops after it */
  public EngineLoop(EngineCore core, java.util.function.Consumer<Throwable> onFatal) {
    this.core = core;
    this.onFatal = onFatal;
    this.thread = new Thread(this::run, "caravan-engine-core");
    this.thread.setDaemon(true);
  }

  /** A loop whose fatal errors are logged only (tests). */
  public EngineLoop(EngineCore core) {
    this(core, t -> LOG.error("engine core failed", t));
  }

  public EngineLoop start() {
    thread.start();
    return this;
  }

  public EngineCore core() {
    return core;
  }

  private void run() {
    while (running) {
      try {
        core.step();
        core.awaitWork(TICK);
      } catch (InterruptedException e) {
        break;
      } catch (RuntimeException e) {
        // a bug in one request's handling must not stop the others: log it and go on
        LOG.error("engine core step failed", e);
      } catch (Throwable t) {
        running = false;
        onFatal.accept(t);
        return;
      }
    }
    core.shutdown(GenerationError.of(GenerationError.Kind.UNAVAILABLE, "the coordinator is shutting down"));
  }

  /** Stops taking requests and waits up to {@code grace} for running and waiting ones to end. */
  public void drain(Duration grace) {
    core.stopAccepting();
    long deadline = System.nanoTime() + grace.toNanos();
    try {
      while (System.nanoTime() < deadline) {
        EngineCore.Load load = core.load().get(5, TimeUnit.SECONDS);
        if (load.running() + load.waiting() == 0) {
          return;
        }
        Thread.sleep(50);
      }
    } catch (Exception e) {
      LOG.warn("drain cut short: {}", e.toString());
    }
  }

  @Override
  public void close() {
    running = false;
    thread.interrupt();
    try {
      thread.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
