package dev.caravan.cli;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One benchmark test, in llama-bench's terms.
 *
 * <ul>
 *   <li>{@code ppN}: prompt processing, N tokens decoded as one batch from an empty KV cache (logits for the last);
 *   <li>{@code tgN}: text generation, N single-token decode steps (logits for each) after a {@value #TG_PROMPT}-token
 *       prompt that is not timed.
 *   <li>{@code tgNxS}: S independent sequences (streams) generating N tokens each, in lockstep: every step is one batch
 *       of S tokens, one per sequence, each with its logits, as a server batches concurrent requests; tokens/s counts
 *       all S streams. Each stream's {@value #TG_PROMPT}-token prompt is decoded on its own, untimed.
 * </ul>
 *
 * The tokens are random ids within the vocabulary from a seeded generator: the same for every engine.
 */
record BenchTest(Kind kind, int tokens, int streams) {
  enum Kind {
    PP,
    TG
  }

  /** Untimed prompt before a tg test's decode steps. */
  static final int TG_PROMPT = 4;
  /** The largest test size accepted. */
  static final int MAX_TOKENS = 1 << 16;

  /** The most streams of a tgNxS test. */
  static final int MAX_STREAMS = 256;

  private static final Pattern SPEC = Pattern.compile("(pp|tg)(\\d{1,6})(?:x(\\d{1,3}))?");

  BenchTest {
    if (tokens < 1 || tokens > MAX_TOKENS) {
      throw new IllegalArgumentException("test size must be between 1 and " + MAX_TOKENS + ", not " + tokens);
    }
    if (streams < 1 || streams > MAX_STREAMS) {
      throw new IllegalArgumentException("streams must be between 1 and " + MAX_STREAMS + ", not " + streams);
    }
    if (streams > 1 && kind != Kind.TG) {
      throw new IllegalArgumentException("only tg tests take several streams");
    }
  }

  /** One stream. */
  BenchTest(Kind kind, int tokens) {
    this(kind, tokens, 1);
  }

  String name() {
    return kind.name().toLowerCase(Locale.ROOT) + tokens + (streams > 1 ? "x" + streams : "");
  }

  /** KV positions the test fills. */
  int contextTokens() {
    return kind == Kind.PP ? tokens : TG_PROMPT + tokens;
  }

  /** The largest batch the test decodes. */
  int batchTokens() {
    return kind == Kind.PP ? tokens : Math.max(TG_PROMPT, streams);
  }

  /** Tokens in the timed part (every stream's). */
  int timedTokens() {
    return tokens * streams;
  }


  /** The test's token ids: {@link #contextTokens()} random ids in [0, vocab), a function of the seed and the test's name. */
  int[] tokenIds(long seed, int vocab) {
    SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name().hashCode());
    int[] ids = new int[contextTokens()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = r.nextInt(vocab);
    }
    return ids;
  }

  /** Parses a comma-separated list such as {@code pp128,pp512,tg128}; rejects unknown forms and repeats. */
  static List<BenchTest> parseList(String list) {
    Set<BenchTest> tests = new LinkedHashSet<>();
    for (String part : list.split(",", -1)) {
      String s = part.strip().toLowerCase(Locale.ROOT);
      Matcher m = SPEC.matcher(s);
      if (!m.matches()) {
        throw new IllegalArgumentException("unknown test '" + part.strip() + "': use ppN (prompt of N tokens), tgN (N generated tokens) or tgNxS (S streams of N), e.g. pp512,tg128,tg128x16");
      }
      BenchTest t = new BenchTest(m.group(1).equals("pp") ? Kind.PP : Kind.TG, Integer.parseInt(m.group(2)), m.group(3) == null ? 1 : Integer.parseInt(m.group(3)));
      if (!tests.add(t)) {
        throw new IllegalArgumentException("test " + t.name() + " is listed twice");
      }
    }
    return new ArrayList<>(tests);
  }
}
