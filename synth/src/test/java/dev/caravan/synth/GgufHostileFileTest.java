package dev.caravan.synth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.gguf.GgufValueType;
import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile and broken files: every one must end in a {@link GgufFormatException} whose message names the problem —
 * never another exception, an OutOfMemoryError or a hang. The files are a small valid model written by
 * {@link GgufWriter}, then altered by byte surgery at fields located by their known layout.
 */
class GgufHostileFileTest {
  @TempDir static Path dir;
  /** The valid base file. */
  private static byte[] base;
  /** Where the data section starts and where the last tensor's bytes end, in the base file. */
  private static long dataOffset;
  private static long lastTensorEnd;
  private static int counter;

  @BeforeAll
  static void writeBaseFile() throws IOException {
    GgufWriter w = new GgufWriter();
    w.putString("general.architecture", "llama");
    w.putBool("test.flag", true);
    w.putArray("test.list", GgufArray.ofInt32s(1, 2, 3));
    w.putString("test.name", "abc");
    w.putUInt32("general.alignment", 64);
    w.addTensor("alpha", GgmlType.F32, new long[] {8, 2}, new float[16]);
    w.addTensor("beta", GgmlType.Q8_0, new long[] {32, 2}, new float[64]);
    w.addTensor("gamma", GgmlType.F32, new long[] {4}, new float[] {1, 2, 3, 4});
    Path p = dir.resolve("base.gguf");
    w.write(p, GgufWriter.Progress.none());
    base = Files.readAllBytes(p);
    try (GgufFile f = GgufFile.open(p)) {
      dataOffset = f.dataOffset();
      GgufTensorInfo gamma = f.tensor("gamma").orElseThrow();
      lastTensorEnd = dataOffset + gamma.offset() + gamma.byteSize();
    }
  }

  // ------------------------------------------------------------------ header

  @Test
  void badMagic() throws IOException {
    assertRejected(patch(b -> put(b, 0, "XXXX")), "not a GGUF file", "bad magic");
    assertRejected(patch(b -> put(b, 0, "lmgg")), "bad magic", "GGML"); // a pre-GGUF ggml model
    assertRejected(new byte[] {'G', 'G'}, "too short");
  }

  @Test
  void unsupportedVersions() throws IOException {
    assertRejected(patch(b -> u32(b, 4, 1)), "version 1");
    assertRejected(patch(b -> u32(b, 4, 4)), "unsupported GGUF version 4");
    assertRejected(patch(b -> u32(b, 4, 0x03000000)), "big-endian");
    assertRejected(patch(b -> u32(b, 4, -1)), "unsupported GGUF version 4294967295");
  }

  @Test
  void absurdCounts() throws IOException {
    assertRejected(patch(b -> u64(b, 16, 1L << 40)), "claims 1099511627776 metadata entries");
    assertRejected(patch(b -> u64(b, 16, -1L)), "claims 18446744073709551615 metadata entries");
    assertRejected(patch(b -> u64(b, 8, 1L << 40)), "claims 1099511627776 tensors");
    assertRejected(patch(b -> u64(b, 8, Long.MIN_VALUE)), "tensors");
    // one more entry or tensor than the file holds: parsing reads the wrong bytes, whatever it then says, it fails cleanly
    assertRejected(patch(b -> u64(b, 16, 6)));
    assertRejected(patch(b -> u64(b, 8, 4)));
  }

  // ------------------------------------------------------------------ metadata

  @Test
  void absurdArrayAndStringLengths() throws IOException {
    int list = valueOf("test.list"); // u32 element type, u64 length
    assertRejected(patch(b -> u64(b, list + 4, 1L << 62)), "test.list", "claims 4611686018427387904 INT32 elements");
    assertRejected(patch(b -> u64(b, list + 4, -1L)), "test.list", "elements");
    assertRejected(patch(b -> u64(b, list + 4, 1000)), "test.list", "elements");
    int name = valueOf("test.name"); // u64 length, bytes
    assertRejected(patch(b -> u64(b, name, 1L << 40)), "test.name", "length of 1099511627776");
    assertRejected(patch(b -> u64(b, name, 1L << 20)), "truncated", "test.name");
    int keyLen = keyOf("test.flag") - 8;
    assertRejected(patch(b -> u64(b, keyLen, -2L)), "metadata key #1", "length");
  }

  @Test
  void unknownValueTypes() throws IOException {
    int flagType = valueOf("test.flag") - 4;
    assertRejected(patch(b -> u32(b, flagType, 13)), "test.flag", "unknown value type 13");
    assertRejected(patch(b -> u32(b, flagType, -1)), "test.flag", "unknown value type 4294967295");
    int list = valueOf("test.list");
    assertRejected(patch(b -> u32(b, list, 99)), "test.list", "array of unknown type 99");
  }

  @Test
  void badBoolByte() throws IOException {
    int flag = valueOf("test.flag");
    assertRejected(patch(b -> b[flag] = 2), "test.flag", "bool holding 2");
    assertRejected(patch(b -> b[flag] = (byte) 0xff), "test.flag", "bool holding -1");
  }

  @Test
  void duplicateKeysAndTensorNames() throws IOException {
    int name = keyOf("test.name");
    assertRejected(patch(b -> put(b, name, "test.flag")), "metadata key test.flag appears twice");
    int gamma = tensorOf("gamma");
    assertRejected(patch(b -> put(b, gamma, "alpha")), "tensor alpha appears twice");
  }

  @Test
  void emptyKeyAndBadAlignment() throws IOException {
    // a key of length 0: the 9 key bytes are then read as the type, so give the type field what follows
    int al = valueOf("general.alignment");
    assertRejected(patch(b -> u32(b, al, 48)), "general.alignment = 48", "power of two");
    assertRejected(patch(b -> u32(b, al, 0)), "general.alignment = 0");
    assertRejected(patch(b -> u32(b, al - 4, GgufValueType.FLOAT32.id())), "general.alignment", "FLOAT32");
    byte[] empty = new GgufWriterFileBuilder().kv("", 4, 1).build();
    assertRejected(empty, "metadata key #0 is empty");
  }

  @Test
  void deeplyNestedArrays() throws IOException {
    // 9 levels of ARRAY each holding one array, innermost empty
    GgufWriterFileBuilder fb = new GgufWriterFileBuilder();
    ByteBuffer v = ByteBuffer.allocate(1000).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < 9; i++) {
      v.putInt(GgufValueType.ARRAY.id()).putLong(1);
    }
    v.putInt(GgufValueType.UINT8.id()).putLong(0);
    fb.rawKv("deep", GgufValueType.ARRAY.id(), Arrays.copyOf(v.array(), v.position()));
    assertRejected(fb.build(), "deep", "nests arrays more than 8 deep");
  }

  // ------------------------------------------------------------------ tensor infos

  @Test
  void badRankAndDimensions() throws IOException {
    int alpha = tensorOf("alpha") + 5; // u32 rank, u64 dims[2], u32 type, u64 offset
    assertRejected(patch(b -> u32(b, alpha, 5)), "tensor alpha has 5 dimensions");
    assertRejected(patch(b -> u32(b, alpha, 0)), "tensor alpha has 0 dimensions");
    assertRejected(patch(b -> u32(b, alpha, -1)), "tensor alpha has 4294967295 dimensions");
    assertRejected(patch(b -> u64(b, alpha + 4, 0)), "tensor alpha", "dimension 0 = 0");
    assertRejected(patch(b -> u64(b, alpha + 12, -1L)), "tensor alpha", "dimension 1 = 18446744073709551615");
    // products: 2^32 x 2^32 values overflows the element count; 2^62 F32 values overflow the byte size
    assertRejected(patch(b -> {
      u64(b, alpha + 4, 1L << 32);
      u64(b, alpha + 12, 1L << 32);
    }), "tensor alpha", "absurd shape [4294967296, 4294967296]", "overflows");
    assertRejected(patch(b -> {
      u64(b, alpha + 4, 1L << 61);
      u64(b, alpha + 12, 2);
    }), "tensor alpha", "byte size overflows");
    // large but representable: the data cannot be in the file
    assertRejected(patch(b -> u64(b, alpha + 12, 1L << 40)), "tensor alpha", "past the end");
  }

  @Test
  void unknownTypeAndPartialBlocks() throws IOException {
    int alphaType = tensorOf("alpha") + 5 + 4 + 16;
    assertRejected(patch(b -> u32(b, alphaType, 4)), "tensor alpha", "unknown ggml type id 4"); // Q4_2, removed from ggml
    assertRejected(patch(b -> u32(b, alphaType, 1000)), "unknown ggml type id 1000");
    assertRejected(patch(b -> u32(b, alphaType, -7)), "unknown ggml type id 4294967289");
    int betaDim0 = tensorOf("beta") + 4 + 4;
    assertRejected(patch(b -> u64(b, betaDim0, 33)), "tensor beta", "Q8_0", "rows of 33", "block size 32");
  }

  @Test
  void badOffsets() throws IOException {
    int betaOffset = tensorOf("beta") + 4 + 4 + 16 + 4;
    long betaAt = le64(base, betaOffset);
    assertEquals(64, betaAt, "beta follows alpha's 64 bytes");
    assertRejected(patch(b -> u64(b, betaOffset, betaAt + 4)), "tensor beta", "not a multiple of the alignment 64");
    assertRejected(patch(b -> u64(b, betaOffset, 1L << 40)), "tensor beta", "past the end");
    assertRejected(patch(b -> u64(b, betaOffset, -64L)), "tensor beta", "18446744073709551552");
    assertRejected(patch(b -> u64(b, betaOffset, 0)), "tensors alpha and beta overlap");
    int gammaOffset = tensorOf("gamma") + 5 + 4 + 8 + 4;
    assertRejected(patch(b -> u64(b, gammaOffset, 64)), "overlap");
  }

  @Test
  void corruptNamesAreShownEscapedAndShort() {
    // a key holding control characters and 5000 bytes, with an unknown type: the message escapes and cuts it
    String key = "bad\nkey\u0000" + "k".repeat(5000);
    GgufFormatException e = assertRejected(new GgufWriterFileBuilder().kv(key, 77, 0).build(), "unknown value type 77", "bad\\nkey\\x00kkk", "(5008 chars)");
    assertTrue(e.getMessage().length() < 400, e.getMessage());
    assertRejected(new GgufWriterFileBuilder().tensor("", new long[] {4}, 0, 0).build(), "tensor #0 has an empty name");
    assertRejected(new GgufWriterFileBuilder().tensor("t\u0001", new long[] {4}, 99, 0).build(), "tensor t\\x01 has unknown ggml type id 99");
  }

  @Test
  void longTensorName() throws IOException {
    GgufWriterFileBuilder fb = new GgufWriterFileBuilder();
    fb.tensor("t".repeat(64), new long[] {4}, 0, 0);
    assertRejected(fb.build(), "name of 64 bytes");
  }

  // ------------------------------------------------------------------ truncation and corruption

  /** Cutting the file anywhere before the last tensor's last byte fails; cutting only trailing padding does not. */
  @Test
  void truncatedAtEveryByte() throws IOException {
    assertTrue(base.length < 2000, "the base file is small: " + base.length);
    for (int cut = 0; cut < base.length; cut++) {
      byte[] b = Arrays.copyOf(base, cut);
      if (cut < lastTensorEnd) {
        GgufFormatException e = assertRejected(b);
        String m = e.getMessage();
        assertTrue(m.contains("truncated") || m.contains("past the end") || m.contains("too short") || m.contains("empty") || m.contains("can hold"), "cut " + cut + ": " + m);
      } else {
        try (GgufFile f = open(b)) {
          assertEquals(3, f.tensors().size(), "cut " + cut);
        }
      }
    }
  }

  /** Seeded random damage to the header: every outcome is a clean open or a GgufFormatException, quickly. */
  @Test
  void randomHeaderCorruption() {
    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      SplittableRandom r = new SplittableRandom(0xC0FFEE);
      long[] interesting = {0, 0xff, 0x7f, 0x80, 0xfe};
      int opened = 0;
      int rejected = 0;
      for (int iter = 0; iter < 2000; iter++) {
        byte[] b = base.clone();
        int edits = 1 + r.nextInt(4);
        for (int e = 0; e < edits; e++) {
          int at = r.nextInt((int) dataOffset);
          if (r.nextBoolean()) {
            b[at] ^= (byte) (1 << r.nextInt(8));
          } else {
            b[at] = (byte) interesting[r.nextInt(interesting.length)];
          }
        }
        Path p = dir.resolve("fuzz.gguf");
        Files.write(p, b);
        try (GgufFile f = GgufFile.open(p)) {
          // what opens must be usable: every tensor's bytes inside the mapping
          for (GgufTensorInfo t : f.tensors()) {
            MemorySegment d = f.tensorData(t);
            if (d.byteSize() > 0) {
              d.get(ValueLayout.JAVA_BYTE, d.byteSize() - 1);
            }
          }
          opened++;
        } catch (GgufFormatException e) {
          assertTrue(e.getMessage() != null && e.getMessage().length() > p.toString().length() + 5, "a message naming the problem");
          rejected++;
        } catch (Throwable t) {
          fail("iteration " + iter + ": " + t, t);
        }
      }
      assertEquals(2000, opened + rejected);
      assertTrue(rejected > 500 && opened > 50, "both outcomes occur: opened " + opened + ", rejected " + rejected);
    });
  }

  // ------------------------------------------------------------------ helpers

  private interface Edit {
    void apply(byte[] b);
  }

  private static byte[] patch(Edit e) {
    byte[] b = base.clone();
    e.apply(b);
    return b;
  }

  private static GgufFile open(byte[] bytes) throws IOException {
    Path p = dir.resolve("case" + (counter++) + ".gguf");
    Files.write(p, bytes);
    return GgufFile.open(p);
  }

  /** Opens {@code bytes}, expecting a GgufFormatException whose message holds every keyword (case-insensitive). */
  private static GgufFormatException assertRejected(byte[] bytes, String... keywords) {
    Throwable t = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
      try (GgufFile f = open(bytes)) {
        return null;
      } catch (Throwable e) {
        return e;
      }
    });
    if (!(t instanceof GgufFormatException e)) {
      throw new AssertionError(t == null ? "opened a hostile file" : "expected a GgufFormatException, got " + t, t);
    }
    String m = e.getMessage().toLowerCase(Locale.ROOT);
    for (String k : keywords) {
      assertTrue(m.contains(k.toLowerCase(Locale.ROOT)), "message lacks '" + k + "': " + e.getMessage());
    }
    return e;
  }

  /** Offset of the first occurrence of {@code s}'s UTF-8 bytes preceded by its u64 length (a GGUF string). */
  private static int stringAt(String s) {
    byte[] needle = s.getBytes(StandardCharsets.UTF_8);
    outer:
    for (int i = 8; i + needle.length <= base.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (base[i + j] != needle[j]) {
          continue outer;
        }
      }
      if (le64(base, i - 8) == needle.length) {
        return i;
      }
    }
    throw new AssertionError("no string " + s);
  }

  /** Offset of a metadata key's bytes. */
  private static int keyOf(String key) {
    return stringAt(key);
  }

  /** Offset of a metadata value (after its u32 type). */
  private static int valueOf(String key) {
    return stringAt(key) + key.length() + 4;
  }

  /** Offset of a tensor info's name bytes; rank follows at +length. */
  private static int tensorOf(String name) {
    return stringAt(name);
  }

  private static void put(byte[] b, int at, String s) {
    byte[] x = s.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(x, 0, b, at, x.length);
  }

  private static void u32(byte[] b, int at, int v) {
    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(at, v);
  }

  private static void u64(byte[] b, int at, long v) {
    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(at, v);
  }

  private static long le64(byte[] b, int at) {
    return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(at);
  }

  /** Writes GGUF structures verbatim, valid or not, for the cases the writer refuses to produce. */
  private static final class GgufWriterFileBuilder {
    private final ByteBuffer kvs = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private final ByteBuffer infos = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private int nKv;
    private int nTensors;

    GgufWriterFileBuilder kv(String key, int type, int u32Value) {
      return rawKv(key, type, ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(u32Value).array());
    }

    GgufWriterFileBuilder rawKv(String key, int type, byte[] value) {
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      kvs.putLong(k.length).put(k).putInt(type).put(value);
      nKv++;
      return this;
    }

    GgufWriterFileBuilder tensor(String name, long[] dims, int type, long offset) {
      byte[] n = name.getBytes(StandardCharsets.UTF_8);
      infos.putLong(n.length).put(n).putInt(dims.length);
      for (long d : dims) {
        infos.putLong(d);
      }
      infos.putInt(type).putLong(offset);
      nTensors++;
      return this;
    }

    byte[] build() {
      ByteBuffer b = ByteBuffer.allocate(24 + kvs.position() + infos.position() + 256).order(ByteOrder.LITTLE_ENDIAN);
      b.putInt(0x46554747).putInt(3).putLong(nTensors).putLong(nKv);
      b.put(kvs.array(), 0, kvs.position()).put(infos.array(), 0, infos.position());
      return b.array(); // zero padding and 200-odd zero data bytes follow
    }
  }
}
