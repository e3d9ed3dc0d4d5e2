package dev.caravan.cli;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.nio.ByteOrder;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The machine a benchmark ran on, for the report next to every table: the CPU's name and its measured memory read
 * bandwidth (a STREAM-like read of a buffer far larger than the caches, with one thread and with the benchmark's
 * threads; the best of several passes). Decoding reads every weight once per token, so this bandwidth divided by the
 * model's size is the decode speed no engine can pass.
 *
 * @param cpu        "model name" of /proc/cpuinfo, or the JVM's architecture elsewhere
 * @param cores      available processors
 * @param readGbs1   GB/s (10^9 bytes) with one thread, 0 when not measured
 * @param readGbsN   GB/s with {@code threadsN} threads, 0 when not measured
 * @param threadsN   threads of the second measurement
 */
record MachineInfo(String cpu, int cores, double readGbs1, double readGbsN, int threadsN) {
  /** Bytes read per pass: past every cache (a multiple of 4 vectors per thread). */
  static final long BUFFER_BYTES = 512L << 20;
  private static final int PASSES = 5;

  /** The CPU's name, without measuring anything. */
  static MachineInfo describe() {
    return new MachineInfo(cpuName(), Runtime.getRuntime().availableProcessors(), 0, 0, 0);
  }

  /** The CPU's name and the read bandwidth with 1 and {@code threads} threads. */
  static MachineInfo measure(int threads) {
    try (Arena arena = Arena.ofShared()) {
      MemorySegment s = arena.allocate(BUFFER_BYTES, 4096);
      for (long i = 0; i < BUFFER_BYTES; i += 8) {
        s.set(ValueLayout.JAVA_LONG, i, i);
      }
      double one = readGbs(s, 1);
      double n = threads > 1 ? readGbs(s, threads) : one;
      return new MachineInfo(cpuName(), Runtime.getRuntime().availableProcessors(), one, n, threads);
    }
  }

  /** Best GB/s of {@link #PASSES} passes, each thread summing its contiguous slice as longs. */
  private static double readGbs(MemorySegment s, int threads) {
    double best = 0;
    long slice = BUFFER_BYTES / threads / 64 * 64;
    for (int p = 0; p < PASSES; p++) {
      long[] sums = new long[threads];
      Throwable[] failed = new Throwable[1];
      List<Thread> ts = new ArrayList<>();
      long t0 = System.nanoTime();
      for (int t = 0; t < threads; t++) {
        int id = t;
        Thread th = Thread.ofPlatform().uncaughtExceptionHandler((x, e) -> failed[0] = e).start(() -> sums[id] = sum(s, id * slice, slice));
        ts.add(th);
      }
      for (Thread th : ts) {
        try {
          th.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted", e);
        }
      }
      long ns = System.nanoTime() - t0;
      if (failed[0] != null) {
        throw new IllegalStateException("bandwidth measurement failed", failed[0]);
      }
      best = Math.max(best, slice * threads / (double) ns);
      if (sums[0] == 42) {
        System.out.print(""); // keep the sums alive
      }
    }
    return best;
  }

  /** Four independent vector sums over the slice, a full vector register (at most 512 bits) per load. */
  private static long sum(MemorySegment s, long from, long bytes) {
    VectorSpecies<Long> sp = LongVector.SPECIES_PREFERRED;
    int step = sp.vectorByteSize();
    LongVector a = LongVector.zero(sp);
    LongVector b = LongVector.zero(sp);
    LongVector c = LongVector.zero(sp);
    LongVector d = LongVector.zero(sp);
    long end = from + bytes - 4L * step;
    long i = from;
    for (; i <= end; i += 4L * step) {
      a = a.add(LongVector.fromMemorySegment(sp, s, i, ByteOrder.nativeOrder()));
      b = b.add(LongVector.fromMemorySegment(sp, s, i + step, ByteOrder.nativeOrder()));
      c = c.add(LongVector.fromMemorySegment(sp, s, i + 2L * step, ByteOrder.nativeOrder()));
      d = d.add(LongVector.fromMemorySegment(sp, s, i + 3L * step, ByteOrder.nativeOrder()));
    }
    return a.add(b).add(c.add(d)).reduceLanes(VectorOperators.ADD);
  }

  static String cpuName() {
    try {
      Optional<String> name = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).strip()).findFirst();
      if (name.isPresent()) {
        return name.get();
      }
    } catch (IOException | RuntimeException e) {
      // not Linux: fall through
    }
    return System.getProperty("os.arch");
  }

  /** "AMD EPYC, 2 cores, memory read 31.0 GB/s (1 thread) / 53.3 GB/s (2 threads)". */
  String describeLine() {
    String s = cpu + ", " + cores + " cores";
    if (readGbs1 > 0) {
      s += String.format(Locale.ROOT, ", memory read %.1f GB/s (1 thread)", readGbs1);
      if (threadsN > 1) {
        s += String.format(Locale.ROOT, " / %.1f GB/s (%d threads)", readGbsN, threadsN);
      }
    }
    return s;
  }
}
