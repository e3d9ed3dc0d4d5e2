package dev.caravan.loadtest;

import dev.caravan.proto.v1.InferenceGrpc;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs one load point against the target and collects every request's result. Requests wait on virtual threads; the
 * gRPC calls themselves are asynchronous. A run always ends: it stops starting requests at its count or duration, and
 * every request has a deadline. Faults, when given, are injected on the run's own clock.
 */
final class LoadDriver {
  private final InferenceGrpc.InferenceStub stub;
  private final Workload workload;
  private final Duration requestTimeout;
  private final boolean recordStreams;

  LoadDriver(InferenceGrpc.InferenceStub stub, Workload workload, Duration requestTimeout) {
    this(stub, workload, requestTimeout, false);
  }

  /** @param recordStreams keep every stream's token ids and chunk arrival times (for recovery gaps and --verify) */
  LoadDriver(InferenceGrpc.InferenceStub stub, Workload workload, Duration requestTimeout, boolean recordStreams) {
    this.stub = stub;
    this.workload = workload;
    this.requestTimeout = requestTimeout;
    this.recordStreams = recordStreams;
  }

  /** Runs {@code traffic}, updating {@code live} as requests start and end. */
  RunOutcome run(Traffic traffic, LiveCounters live) throws InterruptedException {
    return run(traffic, live, null);
  }

  /** Runs {@code traffic} while {@code faults} (or null) are injected from its time zero. */
  RunOutcome run(Traffic traffic, LiveCounters live, FaultInjector faults) throws InterruptedException {
    Instant startedAt = Instant.now();
    long limit = traffic.requests() == null ? Long.MAX_VALUE : traffic.requests();
    long window = traffic.duration() == null ? Long.MAX_VALUE : traffic.duration().toNanos();
    long t0 = System.nanoTime();
    List<RequestResult> results;
    List<FaultEvent> events = List.of();
    if (faults != null) {
      faults.start(t0);
    }
    try {
      results = traffic.closedLoop() ? closedLoop(traffic.concurrency(), limit, window, t0, live) : openLoop(traffic, limit, window, t0, live);
    } finally {
      if (faults != null) {
        events = faults.finish(System.nanoTime());
      }
    }
    results.sort(Comparator.comparingLong(RequestResult::index));
    double end = 0;
    for (RequestResult r : results) {
      end = Math.max(end, r.endSeconds());
    }
    double duration = results.isEmpty() ? (System.nanoTime() - t0) / 1e9 : end;
    return new RunOutcome(traffic, List.copyOf(results), duration, live.peakInFlight(), startedAt, events);
  }

  /** {@code concurrency} clients, each sending its next request as soon as its last one ends. */
  private List<RequestResult> closedLoop(int concurrency, long limit, long window, long t0, LiveCounters live) throws InterruptedException {
    AtomicLong next = new AtomicLong();
    ConcurrentLinkedQueue<RequestResult> results = new ConcurrentLinkedQueue<>();
    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int c = 0; c < concurrency; c++) {
        clients.submit(() -> {
          while (true) {
            long now = System.nanoTime();
            if (now - t0 >= window) {
              return;
            }
            long i = next.getAndIncrement();
            if (i >= limit) {
              return;
            }
            results.add(GenerateCall.startNow(stub, i, workload.request(i), t0, now, requestTimeout, live, recordStreams).join());
          }
        });
      }
    }
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    return new ArrayList<>(results);
  }

  /**
   * Requests due at the schedule's times. Each counts from its due time, so time spent waiting for a
   * --max-concurrency slot, or behind a late dispatcher, is part of its latency.
   */
  private List<RequestResult> openLoop(Traffic traffic, long limit, long window, long t0, LiveCounters live) throws InterruptedException {
    ArrivalSchedule schedule = ArrivalSchedule.of(traffic.arrivals(), traffic.rate(), traffic.seed());
    Semaphore slots = traffic.maxConcurrency() == null ? null : new Semaphore(traffic.maxConcurrency(), true);
    List<CompletableFuture<RequestResult>> pending = new ArrayList<>();
    try (ExecutorService waiters = Executors.newVirtualThreadPerTaskExecutor()) {
      for (long i = 0; i < limit; i++) {
        long offset = schedule.nextOffsetNanos();
        if (offset >= window) {
          break;
        }
        long due = t0 + offset;
        long index = i;
        Workload.RequestSpec spec = workload.request(index);
        sleepUntil(due);
        if (slots == null) {
          pending.add(GenerateCall.start(stub, index, spec, t0, due, requestTimeout, live, recordStreams));
        } else {
          CompletableFuture<RequestResult> f = new CompletableFuture<>();
          pending.add(f);
          waiters.submit(() -> {
            slots.acquireUninterruptibly();
            try {
              f.complete(GenerateCall.start(stub, index, spec, t0, due, requestTimeout, live, recordStreams).join());
            } finally {
              slots.release();
            }
          });
        }
      }
      List<RequestResult> results = new ArrayList<>(pending.size());
      for (CompletableFuture<RequestResult> f : pending) {
        results.add(f.join());
      }
      return results;
    }
  }

  private static void sleepUntil(long due) throws InterruptedException {
    long wait;
    while ((wait = due - System.nanoTime()) > 0) {
      LockSupport.parkNanos(wait);
      if (Thread.interrupted()) {
        throw new InterruptedException();
      }
    }
  }
}
