package dev.caravan.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.caravan.engine.TestData;
import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFile;
import dev.caravan.engine.gguf.GgufMetadata;
import dev.caravan.engine.gguf.GgufTensorInfo;
import dev.caravan.engine.gguf.GgufValue;
import dev.caravan.engine.gguf.GgufValueType;
import dev.caravan.engine.tensor.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufWriterTest {

  /** A writer holding one metadata value of every type, nested arrays, and tensors of several types. */
  static GgufWriter everyKind() {
    GgufWriter w = new GgufWriter();
    w.putString("general.architecture", "llama");
    w.put("t.u8", new GgufValue(GgufValueType.UINT8, 255L));
    w.put("t.i8", new GgufValue(GgufValueType.INT8, -128L));
    w.put("t.u16", new GgufValue(GgufValueType.UINT16, 65535L));
    w.put("t.i16", new GgufValue(GgufValueType.INT16, -32768L));
    w.putUInt32("t.u32", 0xffffffffL);
    w.putInt32("t.i32", Integer.MIN_VALUE);
    w.putUInt64("t.u64", -1L); // 2^64 - 1: UINT64 keeps its bits
    w.put("t.i64", new GgufValue(GgufValueType.INT64, Long.MIN_VALUE));
    w.putFloat32("t.f32", -0.0f);
    w.put("t.f64", new GgufValue(GgufValueType.FLOAT64, Math.PI));
    w.putBool("t.true", true);
    w.putBool("t.false", false);
    w.putString("t.empty", "");
    w.putString("t.unicode", "▁héllo 🌍\n\0end");
    w.putArray("t.a.u8", new GgufArray(GgufValueType.UINT8, new byte[] {0, 1, (byte) 255}));
    w.putArray("t.a.i8", new GgufArray(GgufValueType.INT8, new byte[] {-1, 2}));
    w.putArray("t.a.u16", new GgufArray(GgufValueType.UINT16, new short[] {(short) 65535, 7}));
    w.putArray("t.a.i16", new GgufArray(GgufValueType.INT16, new short[] {-5}));
    w.putArray("t.a.u32", new GgufArray(GgufValueType.UINT32, new int[] {-1, 0}));
    w.putArray("t.a.i32", GgufArray.ofInt32s(1, -2, 3));
    w.putArray("t.a.u64", new GgufArray(GgufValueType.UINT64, new long[] {Long.MIN_VALUE}));
    w.putArray("t.a.i64", new GgufArray(GgufValueType.INT64, new long[] {-9, 9}));
    w.putArray("t.a.f32", GgufArray.ofFloats(1.5f, Float.NaN, Float.NEGATIVE_INFINITY));
    w.putArray("t.a.f64", new GgufArray(GgufValueType.FLOAT64, new double[] {1e300, -0.0}));
    w.putArray("t.a.bool", new GgufArray(GgufValueType.BOOL, new boolean[] {true, false, true}));
    w.putArray("t.a.str", GgufArray.ofStrings("a", "", "ü"));
    w.putArray("t.a.empty", GgufArray.ofStrings());
    GgufArray inner1 = GgufArray.ofStrings("x", "y");
    GgufArray inner2 = new GgufArray(GgufValueType.UINT8, new byte[] {9});
    GgufArray innermost = GgufArray.ofFloats(2f);
    GgufArray deep = new GgufArray(GgufValueType.ARRAY, new GgufArray[] {new GgufArray(GgufValueType.ARRAY, new GgufArray[] {innermost})});
    w.putArray("t.a.nested", new GgufArray(GgufValueType.ARRAY, new GgufArray[] {inner1, inner2, deep, new GgufArray(GgufValueType.ARRAY, new GgufArray[0])}));
    // tensors: raw bytes, floats quantized on the way, a chunked producer, odd sizes that need padding
    SplittableRandom r = new SplittableRandom(1);
    float[] w1 = new float[64 * 3];
    for (int i = 0; i < w1.length; i++) {
      w1[i] = (float) r.nextGaussian();
    }
    w.addTensor("f32.odd", GgmlType.F32, new long[] {3}, new float[] {1f, 2f, 3f});
    w.addTensor("q8", GgmlType.Q8_0, new long[] {64, 3}, w1);
    w.addTensor("q4k", GgmlType.Q4_K, new long[] {256, 2, 1, 1}, sink -> {
      for (int row = 0; row < 2; row++) {
        float[] x = new float[256];
        for (int i = 0; i < 256; i++) {
          x[i] = row - i * 0.01f;
        }
        sink.writeFloats(x, 0, 256);
      }
    });
    byte[] raw = new byte[2 * 7];
    for (int i = 0; i < raw.length; i++) {
      raw[i] = (byte) (i * 37);
    }
    w.addTensor("bf16.raw", GgmlType.BF16, new long[] {7}, MemorySegment.ofArray(raw));
    return w;
  }

  @Test
  void everythingReadsBackIdentically(@TempDir Path dir) throws IOException {
    for (int alignment : new int[] {0, 1, 8, 64, 4096}) {
      GgufWriter w = everyKind();
      if (alignment != 0) {
        w.alignment(alignment);
      }
      Path p = dir.resolve("a" + alignment + ".gguf");
      List<long[]> progress = new ArrayList<>();
      w.write(p, (written, total) -> progress.add(new long[] {written, total}));
      assertEquals(w.fileSize(), Files.size(p));
      assertFalse(Files.exists(dir.resolve("a" + alignment + ".gguf.part")));
      // progress: monotone, ends at the file size
      long last = -1;
      for (long[] pr : progress) {
        assertTrue(pr[0] >= last);
        assertEquals(Files.size(p), pr[1]);
        last = pr[0];
      }
      assertEquals(Files.size(p), last);
      try (GgufFile f = GgufFile.open(p)) {
        assertEquals(3, f.version());
        assertEquals(alignment == 0 ? 32 : alignment, f.alignment());
        assertEquals(w.metadata(), f.metadata().asMap());
        assertEquals(w.tensorInfos(), f.tensors());
        for (GgufTensorInfo t : f.tensors()) {
          assertEquals(0, t.offset() % f.alignment(), t.name());
          assertEquals(0, (f.dataOffset() + t.offset()) % f.alignment(), t.name());
        }
        // a few values checked against literals, not only against the writer's own map
        GgufMetadata m = f.metadata();
        assertEquals(-1L, (Long) m.get("t.u64").orElseThrow().value());
        assertEquals(Integer.MIN_VALUE, m.integer("t.i32").orElseThrow());
        assertEquals(0xffffffffL, m.integer("t.u32").orElseThrow());
        assertEquals("▁héllo 🌍\n\0end", m.requireString("t.unicode"));
        GgufArray nested = m.array("t.a.nested").orElseThrow();
        assertEquals(4, nested.length());
        assertArrayEquals(new String[] {"x", "y"}, (String[]) ((GgufArray[]) nested.elements())[0].elements());
        // tensor bytes
        assertArrayEquals(new float[] {1f, 2f, 3f}, f.tensorData(f.tensor("f32.odd").orElseThrow()).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED));
        byte[] raw = f.tensorData(f.tensor("bf16.raw").orElseThrow()).toArray(ValueLayout.JAVA_BYTE);
        assertEquals((byte) (13 * 37), raw[13]);
        float[] x = new float[256];
        for (int i = 0; i < 256; i++) {
          x[i] = 1 - i * 0.01f;
        }
        byte[] q4k = f.tensorData(f.tensor("q4k").orElseThrow()).toArray(ValueLayout.JAVA_BYTE);
        byte[] row1 = Quantizer.quantize(GgmlType.Q4_K, x);
        for (int i = 0; i < 144; i++) {
          assertEquals(row1[i], q4k[144 + i]);
        }
      }
    }
  }

  /** Rewriting the oracle files (numpy's writer) gives the same bytes: the layout rules agree exactly. */
  @Test
  void rewritesOracleFilesByteForByte(@TempDir Path dir) throws IOException {
    for (String name : new String[] {"models/tiny256-Q4_K.gguf", "models/tiny256-BF16.gguf"}) {
      Path src = TestData.oracle(name);
      Path out = dir.resolve("copy.gguf");
      try (GgufFile f = GgufFile.open(src)) {
        GgufWriter.copyOf(f).write(out, GgufWriter.Progress.none());
      }
      assertEquals(-1L, Files.mismatch(src, out), name);
    }
    Path out = dir.resolve("stories.gguf");
    try (GgufFile f = GgufFile.open(TestData.stories260K())) {
      GgufWriter.copyOf(f).write(out, GgufWriter.Progress.none());
    }
    assertEquals(-1L, Files.mismatch(TestData.stories260K(), out));
  }

  /** Data arrives through the sink in small chunks and passes through a fixed buffer (8 MiB here, 4 KiB at a time). */
  @Test
  void streamsLargeTensorsInChunks(@TempDir Path dir) throws IOException {
    GgufWriter w = new GgufWriter();
    long rows = 2048;
    w.addTensor("big", GgmlType.Q8_0, new long[] {4096, rows}, sink -> {
      float[] row = new float[4096];
      for (int r = 0; r < rows; r++) {
        for (int i = 0; i < row.length; i++) {
          row[i] = (r * 31 + i) % 255 - 127;
        }
        sink.writeFloats(row, 0, row.length);
      }
    });
    Path p = dir.resolve("big.gguf");
    List<Long> updates = new ArrayList<>();
    w.write(p, (written, total) -> updates.add(written));
    assertTrue(updates.size() >= 8, "progress reported per buffer flush: " + updates.size());
    try (GgufFile f = GgufFile.open(p)) {
      GgufTensorInfo t = f.tensor("big").orElseThrow();
      assertEquals(4096L / 32 * 34 * rows, t.byteSize());
      MemorySegment d = f.tensorData(t);
      // row 0's first block: values i - 127 with amax 127 -> d = 1, q = value
      assertEquals((short) 0x3C00, d.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
      assertEquals((byte) (5 - 127), d.get(ValueLayout.JAVA_BYTE, 2 + 5));
      // row 1000 as a whole
      float[] row = new float[4096];
      for (int i = 0; i < row.length; i++) {
        row[i] = (1000 * 31 + i) % 255 - 127;
      }
      long rowBytes = 4096L / 32 * 34;
      assertEquals(-1L, d.asSlice(1000 * rowBytes, rowBytes).mismatch(MemorySegment.ofArray(Quantizer.quantize(GgmlType.Q8_0, row))));
    }
  }

  @Test
  void aSourceWritingTheWrongAmountFailsAndLeavesNoFile(@TempDir Path dir) throws IOException {
    Path p = dir.resolve("short.gguf");
    GgufWriter shortW = new GgufWriter().addTensor("t", GgmlType.F32, new long[] {4}, sink -> sink.write(new byte[8], 0, 8));
    IOException e = assertThrows(IOException.class, () -> shortW.write(p, GgufWriter.Progress.none()));
    assertTrue(e.getMessage().contains("8 of 16 bytes"), e.getMessage());
    GgufWriter longW = new GgufWriter().addTensor("t", GgmlType.F32, new long[] {4}, sink -> sink.writeFloats(new float[8], 0, 8));
    e = assertThrows(IOException.class, () -> longW.write(p, GgufWriter.Progress.none()));
    assertTrue(e.getMessage().contains("more than"), e.getMessage());
    assertFalse(Files.exists(p));
    assertFalse(Files.exists(dir.resolve("short.gguf.part")));
  }

  @Test
  void rejectsWhatGgmlCannotRead() {
    GgufWriter w = new GgufWriter();
    assertThrows(IllegalArgumentException.class, () -> w.putUInt32("x", -1));
    assertThrows(IllegalArgumentException.class, () -> w.put("x", new GgufValue(GgufValueType.INT8, 128L)));
    assertThrows(IllegalArgumentException.class, () -> w.put("", GgufValue.ofBool(true)));
    assertThrows(IllegalArgumentException.class, () -> w.alignment(48));
    assertThrows(IllegalArgumentException.class, () -> w.alignment(0));
    float[] none = new float[0];
    assertThrows(IllegalArgumentException.class, () -> w.addTensor("x".repeat(64), GgmlType.F32, new long[] {1}, none));
    assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, none));
    assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.F32, new long[] {0}, none));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.Q4_0, new long[] {48}, none));
    assertTrue(e.getMessage().contains("block size 32"), e.getMessage());
    w.addTensor("t", GgmlType.F32, new long[] {1}, new float[1]);
    e = assertThrows(IllegalArgumentException.class, () -> w.addTensor("t", GgmlType.F32, new long[] {1}, new float[1]));
    assertTrue(e.getMessage().contains("already"), e.getMessage());
  }
}
