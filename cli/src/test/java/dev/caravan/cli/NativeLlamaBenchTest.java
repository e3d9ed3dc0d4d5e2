package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class NativeLlamaBenchTest {
  /** A line llama-bench b10470 printed with {@code -o jsonl} (TinyLlama-shaped Q8_0, 2 threads, tg128). */
  static final String TG_LINE = "{\"build_commit\": \"34af94cd9\", \"build_number\": 10470, \"cpu_info\": \"AMD EPYC\", \"gpu_info\": \"\", \"backends\": \"CPU\", "
      + "\"model_filename\": \"/tmp/caravan-bench/tinyllama-Q8_0.gguf\", \"model_type\": \"llama 1B Q8_0\", \"model_size\": 1169908736, \"model_n_params\": 1100048384, "
      + "\"n_batch\": 2048, \"n_ubatch\": 512, \"n_threads\": 2, \"cpu_mask\": \"0x0\", \"cpu_strict\": false, \"poll\": 50, \"type_k\": \"f16\", \"type_v\": \"f16\", "
      + "\"n_gpu_layers\": -1, \"n_cpu_moe\": 0, \"split_mode\": \"layer\", \"main_gpu\": 0, \"no_kv_offload\": false, \"flash_attn\": -1, \"devices\": \"auto\", "
      + "\"tensor_split\": \"0.00\", \"tensor_buft_overrides\": \"none\", \"load_mode\": \"auto\", \"embeddings\": false, \"no_op_offload\": 0, \"no_host\": false, "
      + "\"fit_target\": 0, \"fit_min_ctx\": 0, \"n_prompt\": 0, \"n_gen\": 128, \"n_depth\": 0, \"test_time\": \"2026-12-04T04:04:13Z\", \"avg_ns\": 4000000000, "
      + "\"stddev_ns\": 0, \"avg_ts\": 32.000000, \"stddev_ts\": 0.000000, \"samples_ns\": [ 4000000000 ],\"samples_ts\": [ 32 ]}";
  /** The same for pp512, with three repetitions. */
  static final String PP_LINE = TG_LINE.replace("\"n_prompt\": 0, \"n_gen\": 128", "\"n_prompt\": 512, \"n_gen\": 0")
      .replace("\"avg_ts\": 32.000000, \"stddev_ts\": 0.000000", "\"avg_ts\": 128.5, \"stddev_ts\": 1.25")
      .replace("\"samples_ns\": [ 4000000000 ]", "\"samples_ns\": [ 4000000000, 3900000000, 4100000000 ]");

  @Test
  void parsesARecordedLine() throws IOException {
    List<NativeLlamaBench.Line> lines = NativeLlamaBench.parse("main: some log line\n" + TG_LINE + "\n" + PP_LINE + "\n");
    assertEquals(2, lines.size());
    NativeLlamaBench.Line tg = lines.get(0);
    assertEquals(new BenchTest(BenchTest.Kind.TG, 128), tg.test());
    assertEquals(2, tg.nThreads());
    assertEquals(0, tg.nPrompt());
    assertEquals(128, tg.nGen());
    assertEquals(32.0, tg.avgTs());
    assertEquals(0.0, tg.stddevTs());
    assertEquals(4_000_000_000L, tg.avgNs());
    assertArrayEquals(new long[] {4_000_000_000L}, tg.samplesNs());
    assertEquals(10470, tg.buildNumber());
    assertEquals("34af94cd9", tg.buildCommit());
    assertEquals("llama 1B Q8_0", tg.modelType());
    assertEquals("AMD EPYC", tg.cpuInfo());
    assertEquals("f16", tg.typeK());
    assertEquals(-1, tg.flashAttn());
    NativeLlamaBench.Line pp = lines.get(1);
    assertEquals(new BenchTest(BenchTest.Kind.PP, 512), pp.test());
    assertEquals(128.5, pp.avgTs());
    assertEquals(1.25, pp.stddevTs());
    assertArrayEquals(new long[] {4_000_000_000L, 3_900_000_000L, 4_100_000_000L}, pp.samplesNs());
  }

  @Test
  void rejectsALineWithoutTheNumbers() {
    IOException e = assertThrows(IOException.class, () -> NativeLlamaBench.parse(TG_LINE.replace("\"avg_ts\": 32.000000, ", "")));
    assertTrue(e.getMessage().contains("avg_ts"), e.getMessage());
    assertThrows(IOException.class, () -> NativeLlamaBench.parse(TG_LINE.replace("\"n_threads\": 2", "\"n_threads\": \"two\"")));
  }

  @Test
  void commandAsksForOneRepetitionOfOneTest() {
    NativeLlamaBench n = new NativeLlamaBench(Path.of("/opt/llama-bench"), Path.of("m.gguf"), 2);
    assertEquals(List.of("/opt/llama-bench", "-m", "m.gguf", "-t", "2", "-p", "512", "-n", "0", "-r", "1", "-o", "jsonl"), n.command(new BenchTest(BenchTest.Kind.PP, 512)));
    assertEquals(List.of("/opt/llama-bench", "-m", "m.gguf", "-t", "2", "-p", "0", "-n", "128", "-r", "1", "-o", "jsonl"), n.command(new BenchTest(BenchTest.Kind.TG, 128)));
  }
}
