package dev.caravan.engine.gguf;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LayerRange;
import dev.caravan.engine.model.LlamaConfig;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.model.LlamaWeights;
import dev.caravan.engine.model.UnsupportedModelException;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.engine.tokenizer.ChatPrompt;
import dev.caravan.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.ShrinkingMode;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Fuzzes GGUF loading: model files mutated where a hostile or corrupt file would differ — header fields, metadata
 * counts, string lengths and type tags, metadata values, tensor names, ranks, dimensions, types and offsets, inserted,
 * deleted and duplicated bytes, truncation — opened as the coordinator and the workers open them: {@link GgufFile#open},
 * {@link LlamaConfig#from}, {@link Tokenizer#fromGguf} (and a chat prompt through the template), the weights of a
 * layer range through {@link LlamaModel#open} and one token through those layers.
 *
 * <p>Every case must end in a {@link GgufFormatException} or {@link UnsupportedModelException} whose message names
 * the file, or load; never another exception, never an {@link OutOfMemoryError}, never a hang (each case runs on its
 * own thread with a time bound). The files are the header as mutated followed by a sparse, all-zero data section of
 * the size the tensors need (zero weights load like any other), so a case writes a few KiB, not the model.
 *
 * <p>Tries: {@code -Dcaravan.fuzz.tries=N} (the build's default is a short run); the seed of a failing run is in the
 * report.
 */
class GgufFuzzTest {
  private static final int CASE_SECONDS = 30;
  private static final AtomicLong cases = new AtomicLong();
  /** What the case's chat prompt did (set on the case's thread, collected on jqwik's). */
  private static final java.util.concurrent.atomic.AtomicReference<String> chatOutcome = new java.util.concurrent.atomic.AtomicReference<>();
  private static final java.util.Map<String, long[]> timeBySeed = new java.util.concurrent.ConcurrentHashMap<>();
  private static Parallel parallel;
  private static ExecutorService runner;
  private static Path dir;
  private static List<Seed> seeds;

  @BeforeContainer
  static void setUp() throws IOException {
    parallel = new Parallel(1);
    runner = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "gguf-fuzz-case");
      t.setDaemon(true);
      return t;
    });
    dir = Files.createTempDirectory(Path.of(System.getProperty("java.io.tmpdir")), "gguf-fuzz");
    Seed withTemplate = Seed.read(TestData.stories260K()).withString("tokenizer.chat_template", Files.readString(TestData.oracle("templates/meta-llama-Llama-3.1-8B-Instruct.jinja")));
    seeds = List.of(
        withTemplate, // twice as often: its template is code the coordinator runs for every chat request
        Seed.read(TestData.stories260K()), // SentencePiece, F32, a real trained model
        withTemplate,
        Seed.read(TestData.oracle("models/tiny256-Q4_K.gguf")), // K-quants
        Seed.read(TestData.oracle("models/tiny256-Q8_0.gguf")),
        Seed.read(TestData.oracle("models/stories15m-shape-Q8_0.gguf")), // tied output
        Seed.read(TestData.oracle("tokenizer/ggml-vocab-gpt-2.gguf"))); // byte-level BPE, vocabulary only
  }

  @AfterContainer
  static void tearDown() throws IOException {
    System.out.println("GGUF fuzz: " + cases.get() + " cases");
    timeBySeed.forEach((seed, t) -> System.out.printf("  %s: %d cases, %.1f ms each%n", seed, t[0], t[1] / 1e6 / t[0]));
    runner.shutdownNow();
    parallel.close();
    try (var files = Files.list(dir)) {
      for (Path p : files.toList()) {
        Files.deleteIfExists(p);
      }
    }
    Files.deleteIfExists(dir);
  }

  @Property(shrinking = ShrinkingMode.BOUNDED)
  void mutatedModelFilesLoadOrFailWithAFormatError(@ForAll("mutatedFiles") Case c) throws Exception {
    cases.incrementAndGet();
    Path file = dir.resolve("case.gguf");
    c.write(file);
    long t0 = System.nanoTime();
    chatOutcome.set("no tokenizer");
    Future<String> outcome = runner.submit(() -> load(file));
    try {
      Statistics.collect(outcome.get(CASE_SECONDS, TimeUnit.SECONDS));
      if (c.seed().stringAt("tokenizer.chat_template") >= 0) {
        Statistics.label("chat template of the seed with one").collect(chatOutcome.get());
      }
      long[] t = timeBySeed.computeIfAbsent(c.seed().name(), k -> new long[2]);
      t[0]++;
      t[1] += System.nanoTime() - t0;
    } catch (TimeoutException e) {
      outcome.cancel(true);
      throw new AssertionError("loading did not end within " + CASE_SECONDS + " s: " + c, e);
    } catch (ExecutionException e) {
      throw new AssertionError("loading threw " + e.getCause() + " (only GgufFormatException or UnsupportedModelException may): " + c, e.getCause());
    } finally {
      Files.deleteIfExists(file);
    }
  }

  /**
   * Opens {@code file} the ways Caravan does; returns which step refused it (for the statistics), throws anything but
   * a format error.
   */
  private static String load(Path file) throws IOException {
    String step = "open";
    try (GgufFile f = GgufFile.open(file)) {
      for (GgufTensorInfo t : f.tensors()) {
        f.tensorData(t); // every tensor's slice is inside the file
      }
      f.metadata().asMap().values().forEach(GgufValue::describe); // what `caravan model info` prints
      String refused = null;
      step = "tokenizer";
      try {
        Tokenizer tok = Tokenizer.fromGguf(f.metadata());
        step = "tokenize";
        int[] ids = tok.encode("Once upon a time, <s> \u00e9\u4e16 \uD83D\uDE00", true, true);
        tok.decode(ids, false, true);
        for (int id = 0; id < tok.vocabSize(); id += Math.max(1, tok.vocabSize() / 64)) {
          tok.tokenBytes(id, true);
        }
        step = "chat";
        chatOutcome.set(chat(tok));
      } catch (GgufFormatException e) {
        refused = refusedBy(step, e);
      }
      step = "config";
      LlamaConfig config = LlamaConfig.from(f);
      step = "weights";
      LayerRange all = LayerRange.all(config.layers());
      LlamaWeights.bytesOf(f, config, all);
      int start = Math.floorMod(f.tensors().size(), config.layers());
      for (LayerRange range : List.of(new LayerRange(0, Math.min(2, config.layers())), new LayerRange(start, config.layers()))) {
        try (LlamaModel m = LlamaModel.open(file, range, parallel, range.isFirst() ? bytes -> {} : null)) { // a worker pre-faults its pages
          step = "forward";
          oneToken(m);
          step = "weights";
        }
      }
      return refused != null ? refused : "loads";
    } catch (GgufFormatException | UnsupportedModelException e) {
      return refusedBy(step, e);
    }
  }

  /** The coordinator renders chat prompts through the model's template; a template that fails is the request's error. */
  private static String chat(Tokenizer tok) {
    try {
      new ChatPrompt(tok).encodeUser("Tell me a story.");
      return "renders";
    } catch (RuntimeException e) {
      // RequestValidator.encodeChat turns any template failure into FAILED_PRECONDITION naming it: a message is all it needs
      assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "a chat template failure says why: " + e);
      return e.getClass().getSimpleName();
    }
  }

  private static String refusedBy(String step, IOException e) {
    String m = e.getMessage();
    assertTrue(m != null && m.length() > 20 && !m.contains("Exception") && !m.contains("java."), "the error names the problem: " + m);
    return step + ": " + e.getClass().getSimpleName();
  }

  /** One token through the loaded layers, as a worker's probe does. */
  private static void oneToken(LlamaModel m) {
    KvCache cache = m.layers().newCache(8);
    Batch b = new Batch(1);
    b.add(m.layers().isFirst() ? m.config().vocabSize() - 1 : 0, 0, cache, true);
    float[] out = new float[m.layers().outputSize(b)];
    m.layers().forward(b, m.layers().isFirst() ? null : new float[m.config().dim()], out);
  }

  // ---- the cases -------------------------------------------------------------------------------------------------

  @Provide
  Arbitrary<Case> mutatedFiles() {
    return Arbitraries.integers().between(0, seeds.size() - 1).flatMap(s -> {
      Seed seed = seeds.get(s);
      return mutation(seed).list().ofMinSize(1).ofMaxSize(4).map(ms -> new Case(seed, ms));
    });
  }

  /** A field of the header aimed at, or bytes moved about, or the file cut. */
  private static Arbitrary<Mutation> mutation(Seed seed) {
    // any field, or one that holds a value or a tensor's shape (the file still parses: LlamaConfig, the tokenizer
    // and the weights see the change)
    Arbitrary<Integer> field = Arbitraries.oneOf(Arbitraries.integers().between(0, seed.fields.size() - 1), Arbitraries.of(seed.indexesOf(Seed.SEMANTIC)));
    Arbitrary<Integer> string = Arbitraries.integers().between(0, seed.strings.size() - 1);
    Arbitrary<Integer> anywhere = Arbitraries.integers().between(0, seed.header.length - 1);
    Arbitrary<Integer> early = Arbitraries.integers().between(0, Math.min(seed.header.length - 1, 4096));
    Arbitrary<byte[]> junk = Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(24);
    int template = seed.stringAt("tokenizer.chat_template");
    Arbitrary<Mutation> templates = template < 0 ? Arbitraries.of(new FlipByte(0, (byte) 0))
        : Arbitraries.oneOf(hostileTemplate().map(t -> new ReplaceString(template, t.getBytes(StandardCharsets.UTF_8))),
            Combinators.combine(Arbitraries.doubles().between(0, 1), Arbitraries.integers().between(0, 16), Arbitraries.strings().withChars("{}%#-+()[]'\"|~ .,:abcdefimnorst0123456789").ofMaxLength(12))
                .as((at, delete, insert) -> new EditString(template, at, delete, insert.getBytes(StandardCharsets.UTF_8))));
    return Arbitraries.frequencyOf(
        Tuple.of(template < 0 ? 0 : 8, templates),
        Tuple.of(2, Combinators.combine(string, Arbitraries.doubles().between(0, 1), Arbitraries.integers().between(0, 8), Arbitraries.bytes().array(byte[].class).ofMaxSize(8))
            .as((i, at, delete, insert) -> (Mutation) new EditString(i, at, delete, insert))),
        Tuple.of(6, Combinators.combine(field, edgeValue()).as((f, v) -> (Mutation) new SetField(f, v, false))),
        Tuple.of(3, Combinators.combine(field, Arbitraries.longs().between(-40, 40)).as((f, v) -> (Mutation) new SetField(f, v, true))),
        Tuple.of(3, Combinators.combine(string, replacement()).as((i, r) -> (Mutation) new ReplaceString(i, r))),
        Tuple.of(2, Combinators.combine(Arbitraries.oneOf(anywhere, early), Arbitraries.integers().between(1, 255)).as((p, x) -> (Mutation) new FlipByte(p, (byte) (int) x))),
        Tuple.of(1, Combinators.combine(anywhere, junk).as((p, b) -> (Mutation) new Insert(p, b))),
        Tuple.of(1, Combinators.combine(anywhere, Arbitraries.integers().between(1, 64)).as((p, n) -> (Mutation) new Delete(p, n))),
        Tuple.of(1, Combinators.combine(anywhere, anywhere, Arbitraries.integers().between(1, 64)).as((from, to, n) -> (Mutation) new Duplicate(from, to, n))),
        Tuple.of(1, Arbitraries.doubles().between(0, 1).map(Truncate::new)));
  }

  /** Values that break assumptions: zero, one, the signed and unsigned limits, powers of two, float specials. */
  private static Arbitrary<Long> edgeValue() {
    return Arbitraries.frequencyOf(
        Tuple.of(4, Arbitraries.of(0L, 1L, 2L, 3L, 4L, 7L, 8L, 31L, 32L, 33L, 64L, 255L, 256L, 4095L, 65535L, 65536L, 1L << 20, 1L << 24, (1L << 24) + 1,
            (long) Integer.MAX_VALUE, Integer.MAX_VALUE - 15L, Integer.MAX_VALUE + 1L, 0xffff_ffffL, 1L << 32, 1L << 40, Long.MAX_VALUE, Long.MIN_VALUE, -1L, -2L,
            (long) Float.floatToIntBits(Float.NaN), (long) Float.floatToIntBits(Float.POSITIVE_INFINITY), (long) Float.floatToIntBits(-1f),
            (long) Float.floatToIntBits(1e-30f), Double.doubleToLongBits(Double.NaN), Double.doubleToLongBits(-0.0))),
        Tuple.of(1, Arbitraries.longs()));
  }

  /**
   * Chat templates that fail, raise, recurse or blow up: the coordinator renders the model's template for every chat
   * request, so each must end with an error naming the problem (or render). Templates that run until the rendering's
   * time limit are ChatTemplateLimitsTest's (each would cost this fuzzer its 10 s).
   */
  private static Arbitrary<String> hostileTemplate() {
    return Arbitraries.of(
        "", "{{", "{% if %}", "{% for %}", "{% endfor %}", "{{ messages[99]['content'] }}", "{{ messages[0]['content'] | foo }}", "{{ raise_exception('refused') }}",
        "{{ bos_token + messages }}", "{{ 1 / 0 }}", "{{ none.x.y }}", "{{ messages['x'] }}", "{% set ns = namespace(a=1) %}{{ ns.b.c }}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "{% for i in range(100000000) %}x{% endfor %}", "{% for i in range(2147483647) %}{% endfor %}",
        "{{ 'a' * 100000000 }}", "{{ ('a' * 10000) * 10000 }}", "{{ 'a'|center(2000000000) }}", "{{ 'a'|indent(2000000000) }}",
        "{% set s = 'a' %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s|length }}",
        "{% set s = ['a'] %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}{{ s|length }}",
        "{{ messages|tojson }}{{ messages|tojson|tojson|tojson }}", "{{ '%s' % messages }}", "{{ ''.__class__ }}", "{{ self }}", "{{ range }}",
        "{% include 'x' %}", "{% import 'x' as y %}", "{% extends 'base' %}", "{% raw %}{{ {% endraw %}", "{{ strftime_now('%Y') }}", "{{ strftime_now(5) }}",
        "{% for m in messages %}{{ m.content[::-1] }}{{ m.content[1000000:] }}{% endfor %}", "{{ messages[0].content.split('')|join('-') }}",
        "{{ '\\u0000' }}{{ '\\ud800' }}", "{%- for m in messages -%}{{- m['role'] | upper -}}{%- endfor -%}{{ eos_token * -1 }}", "{{ 2 ** 100000000 }}",
        "{{ range(10)|batch(0) }}", "{{ [1,2]|slice(0) }}", "{{ 'x' ~ (range(1000000)|join(',')) }}", "{{ tools|tojson(indent=-5) }}", "{{ messages|tojson(indent='x') }}");
  }

  /** What a string (a key, a value, a tensor name) becomes. */
  private static Arbitrary<byte[]> replacement() {
    return Arbitraries.oneOf(
        Arbitraries.of("", "llama", "gpt2", "mistral", "qwen2", "none", "linear", "llama3", "yarn", "default", "llama-bpe", "tekken", "general.alignment",
                "general.architecture", "llama.context_length", "llama.block_count", "tokenizer.ggml.tokens", "tokenizer.ggml.model", "token_embd.weight",
                "output.weight", "blk.0.attn_q.weight", "blk.x.attn_q.weight", "blk.", "blk.99999999999.ffn_up.weight", "rope_freqs.weight", "output_norm.weight",
                "tokenizer.chat_template", "{{ messages[0]['content'] }}",
                "<s>", "</s>", "<unk>", "\u2581", "<0x41>", "<0xZZ>", "a b", "\u0120\u0120 \u0120")
            .map(s -> s.getBytes(StandardCharsets.UTF_8)),
        Arbitraries.bytes().array(byte[].class).ofMaxSize(80), // not UTF-8, control bytes
        Arbitraries.strings().ofMinLength(60).ofMaxLength(300).map(s -> s.getBytes(StandardCharsets.UTF_8)));
  }

  // ---- the seed files and what a case does to them -----------------------------------------------------------------

  /** What a field holds, so a mutation can say what it hit. */
  enum Kind { VERSION, TENSOR_COUNT, METADATA_COUNT, STRING_LENGTH, VALUE_TYPE, ARRAY_TYPE, ARRAY_LENGTH, VALUE, N_DIMS, DIM, TENSOR_TYPE, OFFSET }

  /** A fixed-width little-endian integer of the header. */
  record Field(int pos, int width, Kind kind, String at) {}

  /** A string of the header: its u64 length at {@code lengthPos}, then its bytes. */
  record Str(int lengthPos, int length, String at) {}

  /** A seed model: its header (to the start of the data section), the positions of its fields, the data size. */
  record Seed(String name, byte[] header, List<Field> fields, List<Str> strings, long dataBytes) {
    static final java.util.Set<Kind> SEMANTIC = java.util.EnumSet.of(Kind.VALUE, Kind.DIM, Kind.TENSOR_TYPE, Kind.OFFSET, Kind.N_DIMS);

    List<Integer> indexesOf(java.util.Set<Kind> kinds) {
      List<Integer> out = new ArrayList<>();
      for (int i = 0; i < fields.size(); i++) {
        if (kinds.contains(fields.get(i).kind())) {
          out.add(i);
        }
      }
      return out;
    }

    static Seed read(Path path) throws IOException {
      long size = Files.size(path);
      long dataOffset;
      try (GgufFile f = GgufFile.open(path)) {
        dataOffset = Math.min(f.dataOffset(), size); // a file without tensors may end before the aligned data offset
      }
      byte[] header;
      try (RandomAccessFile raf = new RandomAccessFile(path.toFile(), "r")) {
        header = new byte[(int) dataOffset];
        raf.readFully(header);
      }
      return of(path.getFileName().toString(), header, size - dataOffset);
    }

    private static Seed of(String name, byte[] header, long dataBytes) {
      Walker w = new Walker(header);
      w.walk();
      return new Seed(name, header, List.copyOf(w.fields), List.copyOf(w.strings), dataBytes);
    }

    /** This seed with one more metadata entry, a string, after the others. */
    Seed withString(String key, String value) {
      Walker w = new Walker(header);
      w.walk();
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      byte[] v = value.getBytes(StandardCharsets.UTF_8);
      ByteBuffer entry = ByteBuffer.allocate(8 + k.length + 4 + 8 + v.length).order(ByteOrder.LITTLE_ENDIAN);
      entry.putLong(k.length).put(k).putInt(GgufValueType.STRING.id()).putLong(v.length).put(v);
      byte[] out = new byte[header.length + entry.capacity()];
      System.arraycopy(header, 0, out, 0, w.metadataEnd);
      System.arraycopy(entry.array(), 0, out, w.metadataEnd, entry.capacity());
      System.arraycopy(header, w.metadataEnd, out, w.metadataEnd + entry.capacity(), header.length - w.metadataEnd);
      ByteBuffer b = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
      b.putLong(16, b.getLong(16) + 1); // the metadata count
      return of(name + "+" + key, out, dataBytes);
    }

    /** The index of the string at {@code at} (a key's name or a value's), or -1. */
    int stringAt(String at) {
      for (int i = 0; i < strings.size(); i++) {
        if (strings.get(i).at().equals(at)) {
          return i;
        }
      }
      return -1;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /** Walks a valid header recording where every field and string lies. */
  private static final class Walker {
    final ByteBuffer b;
    final List<Field> fields = new ArrayList<>();
    final List<Str> strings = new ArrayList<>();
    int metadataEnd;

    Walker(byte[] header) {
      b = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
    }

    long field(int width, Kind kind, String at) {
      fields.add(new Field(b.position(), width, kind, at));
      return switch (width) {
        case 1 -> b.get();
        case 2 -> b.getShort();
        case 4 -> Integer.toUnsignedLong(b.getInt());
        default -> b.getLong();
      };
    }

    String string(String at) {
      int lengthPos = b.position();
      int n = (int) field(8, Kind.STRING_LENGTH, at);
      byte[] s = new byte[n];
      b.get(s);
      strings.add(new Str(lengthPos, n, at));
      return new String(s, StandardCharsets.UTF_8);
    }

    void walk() {
      b.getInt(); // magic
      field(4, Kind.VERSION, "version");
      long tensors = field(8, Kind.TENSOR_COUNT, "tensor count");
      long kvs = field(8, Kind.METADATA_COUNT, "metadata count");
      for (long i = 0; i < kvs; i++) {
        String key = string("key #" + i);
        GgufValueType t = GgufValueType.byId(field(4, Kind.VALUE_TYPE, key + " type"));
        value(t, key);
      }
      metadataEnd = b.position();
      for (long i = 0; i < tensors; i++) {
        String name = string("tensor #" + i);
        long dims = field(4, Kind.N_DIMS, name + " rank");
        for (int d = 0; d < dims; d++) {
          field(8, Kind.DIM, name + " dim " + d);
        }
        field(4, Kind.TENSOR_TYPE, name + " type");
        field(8, Kind.OFFSET, name + " offset");
      }
    }

    void value(GgufValueType t, String key) {
      switch (t) {
        case STRING -> string(key);
        case ARRAY -> {
          GgufValueType et = GgufValueType.byId(field(4, Kind.ARRAY_TYPE, key + " element type"));
          long n = field(8, Kind.ARRAY_LENGTH, key + " length");
          for (long i = 0; i < n; i++) {
            // long arrays: aim at their first and last few elements only, skip the rest
            if (i < 4 || i >= n - 2 || et == GgufValueType.STRING || et == GgufValueType.ARRAY) {
              int before = fields.size();
              int beforeStrings = strings.size();
              value(et, key + "[" + i + "]");
              if (i >= 4 && i < n - 2) {
                // keep every 97th string of a vocabulary, so tokens and merges are hit without crowding out the rest
                fields.subList(i % 97 == 0 ? fields.size() : before, fields.size()).clear();
                strings.subList(i % 97 == 0 ? strings.size() : beforeStrings, strings.size()).clear();
              }
            } else {
              b.position(b.position() + et.minBytes());
            }
          }
        }
        default -> field(t.minBytes(), Kind.VALUE, key);
      }
    }
  }

  sealed interface Mutation {
    /** Applies itself to {@code h}; returns the header after it (maybe another length). */
    byte[] apply(Seed seed, byte[] h, double[] cut);
  }

  /** Sets a field to a value, or (relative) adds to what it holds. */
  record SetField(int field, long value, boolean relative) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      Field f = seed.fields.get(field);
      if (f.pos + f.width > h.length) {
        return h;
      }
      ByteBuffer b = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
      long v = !relative ? value : value + switch (f.width) {
        case 1 -> b.get(f.pos);
        case 2 -> b.getShort(f.pos);
        case 4 -> b.getInt(f.pos);
        default -> b.getLong(f.pos);
      };
      switch (f.width) {
        case 1 -> b.put(f.pos, (byte) v);
        case 2 -> b.putShort(f.pos, (short) v);
        case 4 -> b.putInt(f.pos, (int) v);
        default -> b.putLong(f.pos, v);
      }
      return h;
    }

    @Override
    public String toString() {
      return (relative ? "add " + value + " to" : "set to " + value) + " field #" + field;
    }
  }

  /** Replaces a string's bytes (and its length field). */
  record ReplaceString(int string, byte[] with) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      Str s = seed.strings.get(string);
      int start = s.lengthPos + 8;
      if (start + s.length > h.length) {
        return h;
      }
      byte[] out = new byte[h.length - s.length + with.length];
      System.arraycopy(h, 0, out, 0, start);
      ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(s.lengthPos, with.length);
      System.arraycopy(with, 0, out, start, with.length);
      System.arraycopy(h, start + s.length, out, start + with.length, h.length - start - s.length);
      return out;
    }

    @Override
    public String toString() {
      return "replace string #" + string + " with " + Arrays.toString(with);
    }
  }

  /** Deletes {@code delete} bytes of a string at a fraction of its length and inserts {@code insert} there (its length follows). */
  record EditString(int string, double at, int delete, byte[] insert) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      Str s = seed.strings.get(string);
      int start = s.lengthPos + 8;
      if (start + s.length > h.length) {
        return h;
      }
      int p = start + (int) (at * s.length);
      int d = Math.min(delete, start + s.length - p);
      byte[] out = new byte[h.length - d + insert.length];
      System.arraycopy(h, 0, out, 0, p);
      System.arraycopy(insert, 0, out, p, insert.length);
      System.arraycopy(h, p + d, out, p + insert.length, h.length - p - d);
      ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(s.lengthPos, s.length - d + insert.length);
      return out;
    }

    @Override
    public String toString() {
      return "edit string #" + string + " at " + at + ": delete " + delete + ", insert " + new String(insert, StandardCharsets.UTF_8);
    }
  }

  record FlipByte(int pos, byte xor) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      if (pos < h.length) {
        h[pos] ^= xor;
      }
      return h;
    }
  }

  record Insert(int pos, byte[] bytes) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      int p = Math.min(pos, h.length);
      byte[] out = new byte[h.length + bytes.length];
      System.arraycopy(h, 0, out, 0, p);
      System.arraycopy(bytes, 0, out, p, bytes.length);
      System.arraycopy(h, p, out, p + bytes.length, h.length - p);
      return out;
    }

    @Override
    public String toString() {
      return "insert at " + pos + " " + Arrays.toString(bytes);
    }
  }

  record Delete(int pos, int count) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      int p = Math.min(pos, h.length);
      int n = Math.min(count, h.length - p);
      byte[] out = new byte[h.length - n];
      System.arraycopy(h, 0, out, 0, p);
      System.arraycopy(h, p + n, out, p, h.length - p - n);
      return out;
    }
  }

  /** Copies a run of the header over another place (a key twice, a tensor info over a metadata entry, ...). */
  record Duplicate(int from, int to, int count) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      int n = Math.min(count, Math.min(h.length - Math.min(from, h.length), h.length - Math.min(to, h.length)));
      if (n > 0) {
        System.arraycopy(h.clone(), from, h, to, n);
      }
      return h;
    }
  }

  /** Cuts the file at a fraction of its length (the header or the data). */
  record Truncate(double fraction) implements Mutation {
    @Override
    public byte[] apply(Seed seed, byte[] h, double[] cut) {
      cut[0] = Math.min(cut[0], fraction);
      return h;
    }
  }

  record Case(Seed seed, List<Mutation> mutations) {
    /** Writes the mutated header, then a sparse all-zero data section the size the seed's tensors need. */
    void write(Path file) {
      byte[] h = seed.header.clone();
      double[] cut = {1};
      for (Mutation m : mutations) {
        h = m.apply(seed, h, cut);
      }
      long natural = h.length + seed.dataBytes + 64; // room for the data section moving with a longer header
      long total = cut[0] < 1 ? (long) (cut[0] * natural) : natural;
      try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
        raf.setLength(0);
        raf.write(h, 0, (int) Math.min(h.length, total));
        raf.setLength(total);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    @Override
    public String toString() {
      return seed + " " + mutations;
    }
  }
}
