package dev.caravan.cli;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.MemoryLayout.paddingLayout;
import static java.lang.foreign.MemoryLayout.structLayout;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Locale;

/**
 * llama.cpp's C API, called through the FFM API on the native library bundled in {@code de.kherud:llama} 4.1.0
 * (llama.cpp build b4916, commit c6af2161, CPU backend compiled for AVX2). Only what a benchmark needs: load a model,
 * make a context, decode batches, clear the KV cache.
 *
 * <p>The library is copied out of the jar into a private temporary directory, opened with dlopen and the copy deleted
 * at once (the mapping stays). The bindings' JNI side is never started, so their habit of deleting {@code llama*} files
 * in {@code java.io.tmpdir} and their non-daemon thread do not apply.
 *
 * <h2>Struct layouts (b4916)</h2>
 *
 * The structs passed by value are declared below field by field, as in b4916's {@code include/llama.h}
 * ({@code llama_context_params} without the {@code seed} field removed in late 2024 and with {@code no_perf};
 * {@code llama_model_params} with {@code devices} first and no {@code rpc_servers}; {@code llama_batch} without the
 * {@code all_pos_*} helpers). They were checked against the machine code of this very library:
 * {@code llama_context_default_params} writes a 0x78-byte struct (n_ctx 512 at 0x00, n_batch 2048 at 0x04, n_ubatch
 * 512 at 0x08, n_seq_max 1 at 0x0c, n_threads and n_threads_batch 4 at 0x10/0x14, yarn_beta_fast 32.0 at 0x34,
 * defrag_thold -1.0 at 0x40, type_k/type_v F16 at 0x58/0x5c, offload_kqv true at 0x62, no_perf true at 0x64, the
 * abort callback at 0x68); {@code llama_model_default_params} a 0x40-byte one (split_mode 1 at 0x0c, use_mmap true at
 * 0x39); {@code llama_batch_init} fills a 0x38-byte one (seven fields). At run time {@link Library#load} refuses a
 * library whose {@code LLAMA_BUILD_NUMBER} is not 4916 or whose default parameters read back differently, and every
 * new context is checked to hold the n_ctx, n_batch, n_ubatch and thread counts that were set.
 */
final class LlamaCpp {
  static final int BUILD_NUMBER = 4916;
  private static final String RESOURCE = "de/kherud/llama/Linux/x86_64/libjllama.so";

  /** {@code struct llama_model_params}, b4916: 64 bytes. */
  static final StructLayout MODEL_PARAMS = structLayout(
      ADDRESS.withName("devices"),
      JAVA_INT.withName("n_gpu_layers"),
      JAVA_INT.withName("split_mode"),
      JAVA_INT.withName("main_gpu"),
      paddingLayout(4),
      ADDRESS.withName("tensor_split"),
      ADDRESS.withName("progress_callback"),
      ADDRESS.withName("progress_callback_user_data"),
      ADDRESS.withName("kv_overrides"),
      JAVA_BOOLEAN.withName("vocab_only"),
      JAVA_BOOLEAN.withName("use_mmap"),
      JAVA_BOOLEAN.withName("use_mlock"),
      JAVA_BOOLEAN.withName("check_tensors"),
      paddingLayout(4));

  /** {@code struct llama_context_params}, b4916: 120 bytes. */
  static final StructLayout CONTEXT_PARAMS = structLayout(
      JAVA_INT.withName("n_ctx"),
      JAVA_INT.withName("n_batch"),
      JAVA_INT.withName("n_ubatch"),
      JAVA_INT.withName("n_seq_max"),
      JAVA_INT.withName("n_threads"),
      JAVA_INT.withName("n_threads_batch"),
      JAVA_INT.withName("rope_scaling_type"),
      JAVA_INT.withName("pooling_type"),
      JAVA_INT.withName("attention_type"),
      JAVA_FLOAT.withName("rope_freq_base"),
      JAVA_FLOAT.withName("rope_freq_scale"),
      JAVA_FLOAT.withName("yarn_ext_factor"),
      JAVA_FLOAT.withName("yarn_attn_factor"),
      JAVA_FLOAT.withName("yarn_beta_fast"),
      JAVA_FLOAT.withName("yarn_beta_slow"),
      JAVA_INT.withName("yarn_orig_ctx"),
      JAVA_FLOAT.withName("defrag_thold"),
      paddingLayout(4),
      ADDRESS.withName("cb_eval"),
      ADDRESS.withName("cb_eval_user_data"),
      JAVA_INT.withName("type_k"),
      JAVA_INT.withName("type_v"),
      JAVA_BOOLEAN.withName("logits_all"),
      JAVA_BOOLEAN.withName("embeddings"),
      JAVA_BOOLEAN.withName("offload_kqv"),
      JAVA_BOOLEAN.withName("flash_attn"),
      JAVA_BOOLEAN.withName("no_perf"),
      paddingLayout(3),
      ADDRESS.withName("abort_callback"),
      ADDRESS.withName("abort_callback_data"));

  /** {@code struct llama_batch}, b4916: 56 bytes; the arrays are allocated by {@code llama_batch_init}. */
  static final StructLayout BATCH = structLayout(
      JAVA_INT.withName("n_tokens"),
      paddingLayout(4),
      ADDRESS.withName("token"),
      ADDRESS.withName("embd"),
      ADDRESS.withName("pos"),
      ADDRESS.withName("n_seq_id"),
      ADDRESS.withName("seq_id"),
      ADDRESS.withName("logits"));

  private static final long BATCH_N_TOKENS = offset(BATCH, "n_tokens");
  private static final int GGML_TYPE_F16 = 1;
  private static final int GGML_LOG_LEVEL_ERROR = 4;
  private static final int LOG_LINES = 40;

  private LlamaCpp() {}

  static long offset(StructLayout layout, String field) {
    return layout.byteOffset(groupElement(field));
  }

  /** The opened native library and its functions: one per JVM, never unloaded. */
  static final class Library {
    private static Library instance;
    /** The last lines llama.cpp logged (it logs through {@link #log}); shown when something fails. */
    private static final ArrayDeque<String> LOG = new ArrayDeque<>();

    final int buildNumber;
    final String commit;
    final String systemInfo;

    final MethodHandle modelDefaultParams;
    final MethodHandle contextDefaultParams;
    final MethodHandle modelLoadFromFile;
    final MethodHandle modelFree;
    final MethodHandle modelGetVocab;
    final MethodHandle vocabNTokens;
    final MethodHandle modelDesc;
    final MethodHandle modelSize;
    final MethodHandle modelNParams;
    final MethodHandle initFromModel;
    final MethodHandle free;
    final MethodHandle nCtx;
    final MethodHandle nBatch;
    final MethodHandle nUbatch;
    final MethodHandle nThreads;
    final MethodHandle nThreadsBatch;
    final MethodHandle batchInit;
    final MethodHandle batchFree;
    final MethodHandle decode;
    final MethodHandle synchronize;
    final MethodHandle kvSelfClear;
    final MethodHandle getLogitsIth;

    private Library(SymbolLookup lib) throws Throwable {
      Linker linker = Linker.nativeLinker();
      buildNumber = lib.findOrThrow("LLAMA_BUILD_NUMBER").reinterpret(4).get(JAVA_INT, 0);
      commit = lib.findOrThrow("LLAMA_COMMIT").reinterpret(ADDRESS.byteSize()).get(ADDRESS, 0).reinterpret(64).getString(0);
      if (buildNumber != BUILD_NUMBER) {
        throw new IllegalStateException("the bundled llama.cpp is build b" + buildNumber + "; this benchmark's struct layouts are those of b" + BUILD_NUMBER);
      }
      // llama.cpp logs through this callback from now on: keep the tail, print errors
      MethodHandle logTarget = MethodHandles.lookup().findStatic(Library.class, "log", MethodType.methodType(void.class, int.class, MemorySegment.class, MemorySegment.class));
      MemorySegment logStub = linker.upcallStub(logTarget, FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS), Arena.global());
      linker.downcallHandle(lib.findOrThrow("llama_log_set"), FunctionDescriptor.ofVoid(ADDRESS, ADDRESS)).invokeExact(logStub, MemorySegment.NULL);
      linker.downcallHandle(lib.findOrThrow("llama_backend_init"), FunctionDescriptor.ofVoid()).invokeExact();
      MemorySegment info = (MemorySegment) linker.downcallHandle(lib.findOrThrow("llama_print_system_info"), FunctionDescriptor.of(ADDRESS)).invokeExact();
      systemInfo = info.reinterpret(4096).getString(0).trim();

      modelDefaultParams = linker.downcallHandle(lib.findOrThrow("llama_model_default_params"), FunctionDescriptor.of(MODEL_PARAMS));
      contextDefaultParams = linker.downcallHandle(lib.findOrThrow("llama_context_default_params"), FunctionDescriptor.of(CONTEXT_PARAMS));
      modelLoadFromFile = linker.downcallHandle(lib.findOrThrow("llama_model_load_from_file"), FunctionDescriptor.of(ADDRESS, ADDRESS, MODEL_PARAMS));
      modelFree = linker.downcallHandle(lib.findOrThrow("llama_model_free"), FunctionDescriptor.ofVoid(ADDRESS));
      modelGetVocab = linker.downcallHandle(lib.findOrThrow("llama_model_get_vocab"), FunctionDescriptor.of(ADDRESS, ADDRESS));
      vocabNTokens = linker.downcallHandle(lib.findOrThrow("llama_vocab_n_tokens"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
      modelDesc = linker.downcallHandle(lib.findOrThrow("llama_model_desc"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
      modelSize = linker.downcallHandle(lib.findOrThrow("llama_model_size"), FunctionDescriptor.of(JAVA_LONG, ADDRESS));
      modelNParams = linker.downcallHandle(lib.findOrThrow("llama_model_n_params"), FunctionDescriptor.of(JAVA_LONG, ADDRESS));
      initFromModel = linker.downcallHandle(lib.findOrThrow("llama_init_from_model"), FunctionDescriptor.of(ADDRESS, ADDRESS, CONTEXT_PARAMS));
      free = linker.downcallHandle(lib.findOrThrow("llama_free"), FunctionDescriptor.ofVoid(ADDRESS));
      nCtx = linker.downcallHandle(lib.findOrThrow("llama_n_ctx"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
      nBatch = linker.downcallHandle(lib.findOrThrow("llama_n_batch"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
      nUbatch = linker.downcallHandle(lib.findOrThrow("llama_n_ubatch"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
      nThreads = linker.downcallHandle(lib.findOrThrow("llama_n_threads"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
      nThreadsBatch = linker.downcallHandle(lib.findOrThrow("llama_n_threads_batch"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
      batchInit = linker.downcallHandle(lib.findOrThrow("llama_batch_init"), FunctionDescriptor.of(BATCH, JAVA_INT, JAVA_INT, JAVA_INT));
      batchFree = linker.downcallHandle(lib.findOrThrow("llama_batch_free"), FunctionDescriptor.ofVoid(BATCH));
      decode = linker.downcallHandle(lib.findOrThrow("llama_decode"), FunctionDescriptor.of(JAVA_INT, ADDRESS, BATCH));
      synchronize = linker.downcallHandle(lib.findOrThrow("llama_synchronize"), FunctionDescriptor.ofVoid(ADDRESS));
      // b4916 renamed llama_kv_cache_clear to llama_kv_self_clear (the old name is a deprecated alias)
      kvSelfClear = linker.downcallHandle(lib.findOrThrow("llama_kv_self_clear"), FunctionDescriptor.ofVoid(ADDRESS));
      getLogitsIth = linker.downcallHandle(lib.findOrThrow("llama_get_logits_ith"), FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
      checkDefaults();
    }

    /** The library, opened on first use; an {@link IOException} names why it cannot be. */
    static synchronized Library load() throws IOException {
      if (instance != null) {
        return instance;
      }
      String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
      String arch = System.getProperty("os.arch");
      if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
        throw new IOException("the bundled llama.cpp library is used on Linux x86-64 only (this is " + os + " " + arch + "); use --no-llamacpp");
      }
      Path dir = Files.createTempDirectory("caravan-bench-");
      Path copy = dir.resolve("libllamacpp-b" + BUILD_NUMBER + ".so");
      try {
        try (InputStream in = LlamaCpp.class.getClassLoader().getResourceAsStream(RESOURCE)) {
          if (in == null) {
            throw new IOException("the llama.cpp library " + RESOURCE + " is not on the class path (de.kherud:llama missing?)");
          }
          Files.copy(in, copy);
        }
        SymbolLookup lookup;
        try {
          lookup = SymbolLookup.libraryLookup(copy, Arena.global());
        } catch (IllegalArgumentException e) {
          throw new IOException("cannot load the bundled llama.cpp library (" + e.getMessage() + "); it needs libgomp.so.1 and libstdc++.so.6", e);
        }
        instance = new Library(lookup);
        return instance;
      } catch (IOException | RuntimeException e) {
        throw e;
      } catch (Throwable t) {
        throw new IOException("cannot start the bundled llama.cpp library: " + t, t);
      } finally {
        // once mapped, the file is not needed; nothing of it is left behind
        Files.deleteIfExists(copy);
        Files.deleteIfExists(dir);
      }
    }

    /** The defaults of this library must read back as b4916 writes them: evidence the layouts above are right. */
    private void checkDefaults() throws Throwable {
      try (Arena a = Arena.ofConfined()) {
        MemorySegment c = (MemorySegment) contextDefaultParams.invokeExact((SegmentAllocator) a);
        MemorySegment m = (MemorySegment) modelDefaultParams.invokeExact((SegmentAllocator) a);
        boolean ok = c.get(JAVA_INT, offset(CONTEXT_PARAMS, "n_ctx")) == 512
            && c.get(JAVA_INT, offset(CONTEXT_PARAMS, "n_batch")) == 2048
            && c.get(JAVA_INT, offset(CONTEXT_PARAMS, "n_ubatch")) == 512
            && c.get(JAVA_INT, offset(CONTEXT_PARAMS, "n_seq_max")) == 1
            && c.get(JAVA_FLOAT, offset(CONTEXT_PARAMS, "yarn_beta_fast")) == 32f
            && c.get(JAVA_FLOAT, offset(CONTEXT_PARAMS, "defrag_thold")) == -1f
            && c.get(JAVA_INT, offset(CONTEXT_PARAMS, "type_k")) == GGML_TYPE_F16
            && c.get(JAVA_INT, offset(CONTEXT_PARAMS, "type_v")) == GGML_TYPE_F16
            && c.get(JAVA_BOOLEAN, offset(CONTEXT_PARAMS, "offload_kqv"))
            && !c.get(JAVA_BOOLEAN, offset(CONTEXT_PARAMS, "flash_attn"))
            && c.get(JAVA_BOOLEAN, offset(CONTEXT_PARAMS, "no_perf"))
            && c.get(ADDRESS, offset(CONTEXT_PARAMS, "abort_callback")).equals(MemorySegment.NULL)
            && m.get(JAVA_INT, offset(MODEL_PARAMS, "split_mode")) == 1
            && m.get(JAVA_BOOLEAN, offset(MODEL_PARAMS, "use_mmap"))
            && !m.get(JAVA_BOOLEAN, offset(MODEL_PARAMS, "vocab_only"));
        if (!ok) {
          throw new IllegalStateException("llama.cpp's default parameters do not read back as b" + BUILD_NUMBER + "'s: the struct layouts do not match this library");
        }
      }
    }

    /** {@code ggml_log_callback}: must never throw (an exception in an upcall ends the JVM). */
    private static void log(int level, MemorySegment text, MemorySegment user) {
      try {
        String s = text.reinterpret(1 << 16).getString(0);
        synchronized (LOG) {
          LOG.addLast(s);
          while (LOG.size() > LOG_LINES) {
            LOG.removeFirst();
          }
        }
        if (level == GGML_LOG_LEVEL_ERROR) {
          System.err.print("llama.cpp: " + s);
        }
      } catch (Throwable ignored) {
        // nothing sensible to do inside a native callback
      }
    }

    /** The last lines llama.cpp logged, for error messages. */
    static String recentLog() {
      synchronized (LOG) {
        return String.join("", LOG).strip();
      }
    }
  }

  /** A model loaded by llama.cpp (memory-mapped, CPU backend, default model parameters). */
  static final class Model implements AutoCloseable {
    final Library lib;
    final MemorySegment handle;
    final int vocabSize;
    final String description;
    final long sizeBytes;
    final long params;

    private Model(Library lib, MemorySegment handle) throws Throwable {
      this.lib = lib;
      this.handle = handle;
      this.vocabSize = (int) lib.vocabNTokens.invokeExact((MemorySegment) lib.modelGetVocab.invokeExact(handle));
      try (Arena a = Arena.ofConfined()) {
        MemorySegment buf = a.allocate(256);
        int n = (int) lib.modelDesc.invokeExact(handle, buf, buf.byteSize());
        this.description = n > 0 ? buf.getString(0) : "?";
      }
      this.sizeBytes = (long) lib.modelSize.invokeExact(handle);
      this.params = (long) lib.modelNParams.invokeExact(handle);
    }

    static Model load(Path path) throws IOException {
      Library lib = Library.load();
      try (Arena a = Arena.ofConfined()) {
        MemorySegment params = (MemorySegment) lib.modelDefaultParams.invokeExact((SegmentAllocator) a);
        MemorySegment handle = (MemorySegment) lib.modelLoadFromFile.invokeExact(a.allocateFrom(path.toAbsolutePath().toString()), params);
        if (handle.equals(MemorySegment.NULL)) {
          throw new IOException("llama.cpp could not load " + path + ": " + Library.recentLog());
        }
        try {
          return new Model(lib, handle);
        } catch (Throwable t) {
          lib.modelFree.invokeExact(handle);
          throw t;
        }
      } catch (IOException | RuntimeException e) {
        throw e;
      } catch (Throwable t) {
        throw new IOException("llama.cpp failed loading " + path + ": " + t, t);
      }
    }

    @Override
    public void close() {
      try {
        lib.modelFree.invokeExact(handle);
      } catch (Throwable t) {
        throw new IllegalStateException(t);
      }
    }
  }

  /**
   * A context on a model with one sequence: {@code nCtx} positions of F16 KV cache (the default type), batches of up to
   * {@code nBatch} tokens decoded as one micro-batch, {@code threads} threads for both single tokens and batches,
   * flash attention at its default (off).
   */
  static final class Context implements AutoCloseable {
    private final Library lib;
    private final MemorySegment handle;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment batch; // struct llama_batch by value, arrays owned by llama.cpp
    private final MemorySegment tokens; // (nBatch) int32
    private final MemorySegment positions; // (nBatch) int32
    private final MemorySegment nSeqId; // (nBatch) int32
    private final MemorySegment seqIds; // (nBatch) pointers to one int32 each
    private final MemorySegment logits; // (nBatch) int8
    private final int capacity;

    Context(Model model, int nCtx, int nBatch, int threads) throws IOException {
      this.lib = model.lib;
      this.capacity = nBatch;
      try {
        MemorySegment p = (MemorySegment) lib.contextDefaultParams.invokeExact((SegmentAllocator) arena);
        p.set(JAVA_INT, offset(CONTEXT_PARAMS, "n_ctx"), nCtx);
        p.set(JAVA_INT, offset(CONTEXT_PARAMS, "n_batch"), nBatch);
        p.set(JAVA_INT, offset(CONTEXT_PARAMS, "n_ubatch"), nBatch);
        p.set(JAVA_INT, offset(CONTEXT_PARAMS, "n_threads"), threads);
        p.set(JAVA_INT, offset(CONTEXT_PARAMS, "n_threads_batch"), threads);
        handle = (MemorySegment) lib.initFromModel.invokeExact(model.handle, p);
        if (handle.equals(MemorySegment.NULL)) {
          arena.close();
          throw new IOException("llama.cpp could not create a context (n_ctx " + nCtx + ", n_batch " + nBatch + "): " + Library.recentLog());
        }
        // what the context really uses must be what was asked (llama.cpp rounds n_ctx up to its KV padding and n_batch
        // up to GGML_KQ_MASK_PAD, 64): another check of the layout
        int gotCtx = (int) lib.nCtx.invokeExact(handle);
        int gotBatch = (int) lib.nBatch.invokeExact(handle);
        int gotUbatch = (int) lib.nUbatch.invokeExact(handle);
        int gotThreads = (int) lib.nThreads.invokeExact(handle);
        int gotThreadsBatch = (int) lib.nThreadsBatch.invokeExact(handle);
        if (gotCtx < nCtx || gotBatch < nBatch || gotUbatch != nBatch || gotThreads != threads || gotThreadsBatch != threads) {
          lib.free.invokeExact(handle);
          arena.close();
          throw new IllegalStateException(String.format("llama.cpp's context does not hold the parameters set (n_ctx %d/%d, n_batch %d/%d, n_ubatch %d/%d, threads %d/%d, batch threads %d/%d)",
              gotCtx, nCtx, gotBatch, nBatch, gotUbatch, nBatch, gotThreads, threads, gotThreadsBatch, threads));
        }
        batch = (MemorySegment) lib.batchInit.invokeExact((SegmentAllocator) arena, nBatch, 0, 1);
        tokens = batch.get(ADDRESS, offset(BATCH, "token")).reinterpret(4L * nBatch);
        positions = batch.get(ADDRESS, offset(BATCH, "pos")).reinterpret(4L * nBatch);
        nSeqId = batch.get(ADDRESS, offset(BATCH, "n_seq_id")).reinterpret(4L * nBatch);
        seqIds = batch.get(ADDRESS, offset(BATCH, "seq_id")).reinterpret(ADDRESS.byteSize() * nBatch);
        logits = batch.get(ADDRESS, offset(BATCH, "logits")).reinterpret(nBatch);
        for (int i = 0; i < nBatch; i++) {
          nSeqId.setAtIndex(JAVA_INT, i, 1);
          seqIds.getAtIndex(ADDRESS, i).reinterpret(4).set(JAVA_INT, 0, 0);
        }
      } catch (IOException | RuntimeException e) {
        throw e;
      } catch (Throwable t) {
        throw new IOException("llama.cpp failed creating a context: " + t, t);
      }
    }

    /** Decodes {@code ids[from, from + count)} at positions {@code startPos...} of sequence 0 as one batch; logits for the last only. */
    void decode(int[] ids, int from, int count, int startPos) {
      if (count < 1 || count > capacity) {
        throw new IllegalArgumentException("a batch of " + count + " tokens does not fit this context's " + capacity);
      }
      for (int i = 0; i < count; i++) {
        tokens.setAtIndex(JAVA_INT, i, ids[from + i]);
        positions.setAtIndex(JAVA_INT, i, startPos + i);
        logits.set(JAVA_BYTE, i, (byte) (i == count - 1 ? 1 : 0));
      }
      batch.set(JAVA_INT, BATCH_N_TOKENS, count);
      int rc;
      try {
        rc = (int) lib.decode.invokeExact(handle, batch);
        lib.synchronize.invokeExact(handle);
      } catch (Throwable t) {
        throw new IllegalStateException(t);
      }
      if (rc != 0) {
        throw new IllegalStateException("llama_decode returned " + rc + ": " + Library.recentLog());
      }
    }

    /** The logits of the last token of the last batch ({@code vocab} floats). */
    float[] lastLogits(int vocab) {
      try {
        MemorySegment p = (MemorySegment) lib.getLogitsIth.invokeExact(handle, -1);
        if (p.equals(MemorySegment.NULL)) {
          throw new IllegalStateException("llama.cpp has no logits: " + Library.recentLog());
        }
        return p.reinterpret(4L * vocab).toArray(JAVA_FLOAT);
      } catch (RuntimeException e) {
        throw e;
      } catch (Throwable t) {
        throw new IllegalStateException(t);
      }
    }

    /** Empties the KV cache. */
    void clear() {
      try {
        lib.kvSelfClear.invokeExact(handle);
      } catch (Throwable t) {
        throw new IllegalStateException(t);
      }
    }

    @Override
    public void close() {
      try {
        lib.batchFree.invokeExact(batch);
        lib.free.invokeExact(handle);
      } catch (Throwable t) {
        throw new IllegalStateException(t);
      } finally {
        arena.close();
      }
    }
  }
}
