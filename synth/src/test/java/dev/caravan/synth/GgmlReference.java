package dev.caravan.synth;

import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * ggml's own reference quantizers, called through the FFM API: the test dependency {@code de.kherud:llama} bundles a
 * llama.cpp build (b4916) whose native library exports {@code quantize_row_*_ref} and {@code ggml_fp32_to_bf16_row_ref}.
 * The library is copied out of the jar into {@code target/ggml-ref/} (never into the temp directory, where that
 * project deletes files named {@code llama*}) and opened with dlopen only: its JNI side is never started.
 */
final class GgmlReference {
  private static final String RESOURCE = "de/kherud/llama/Linux/x86_64/libjllama.so";
  private static GgmlReference instance;

  private final MethodHandle q80;
  private final MethodHandle q40;
  private final MethodHandle q4k;
  private final MethodHandle q6k;
  private final MethodHandle bf16;

  private GgmlReference(SymbolLookup lib) {
    Linker linker = Linker.nativeLinker();
    // GGML_FP16_TO_FP32 in this build reads a lookup table that ggml fills on initialisation; left empty, every fp16
    // scale reads back as 0 and the K-quant "requantize with the stored scales" step is silently skipped
    MemorySegment table = lib.findOrThrow("ggml_table_f32_f16").reinterpret(4L << 16);
    try {
      linker.downcallHandle(lib.findOrThrow("ggml_cpu_init"), FunctionDescriptor.ofVoid()).invokeExact();
    } catch (Throwable t) {
      throw new IllegalStateException("ggml_cpu_init failed", t);
    }
    if (table.getAtIndex(ValueLayout.JAVA_FLOAT, 0x3C00) != 1.0f) {
      throw new IllegalStateException("ggml's fp16 table is still empty after ggml_cpu_init");
    }
    FunctionDescriptor row = FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
    q80 = linker.downcallHandle(lib.findOrThrow("quantize_row_q8_0_ref"), row);
    q40 = linker.downcallHandle(lib.findOrThrow("quantize_row_q4_0_ref"), row);
    q4k = linker.downcallHandle(lib.findOrThrow("quantize_row_q4_K_ref"), row);
    q6k = linker.downcallHandle(lib.findOrThrow("quantize_row_q6_K_ref"), row);
    bf16 = linker.downcallHandle(lib.findOrThrow("ggml_fp32_to_bf16_row_ref"), row);
  }

  /** Whether this platform has the bundled library (Linux x86-64). */
  static boolean available() {
    String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch");
    return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64")) && GgmlReference.class.getClassLoader().getResource(RESOURCE) != null;
  }

  static synchronized GgmlReference get() throws IOException {
    if (instance == null) {
      Path dir = Path.of("target", "ggml-ref");
      Files.createDirectories(dir);
      Path lib = dir.resolve("libggml-reference.so");
      try (InputStream in = GgmlReference.class.getClassLoader().getResourceAsStream(RESOURCE)) {
        if (in == null) {
          throw new IOException("missing resource " + RESOURCE);
        }
        Path tmp = Files.createTempFile(dir, "lib", ".so.part");
        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, lib, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
      instance = new GgmlReference(SymbolLookup.libraryLookup(lib.toAbsolutePath(), Arena.global()));
    }
    return instance;
  }

  /** ggml's bytes for {@code x} as {@code type} (one of Q8_0, Q4_0, Q4_K, Q6_K, BF16). */
  byte[] quantize(GgmlType type, float[] x) {
    MethodHandle h = switch (type) {
      case Q8_0 -> q80;
      case Q4_0 -> q40;
      case Q4_K -> q4k;
      case Q6_K -> q6k;
      case BF16 -> bf16;
      default -> throw new IllegalArgumentException("no ggml reference wired for " + type);
    };
    try (Arena a = Arena.ofConfined()) {
      MemorySegment src = a.allocate(4L * x.length, 64);
      MemorySegment.copy(x, 0, src, ValueLayout.JAVA_FLOAT, 0, x.length);
      long size = type.byteSize(x.length);
      MemorySegment dst = a.allocate(size, 64);
      h.invokeExact(src, dst, (long) x.length);
      return dst.toArray(ValueLayout.JAVA_BYTE);
    } catch (RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }
}
