package dev.caravan.engine.tokenizer;

import dev.caravan.engine.gguf.GgufArray;
import dev.caravan.engine.gguf.GgufFormatException;
import dev.caravan.engine.gguf.GgufMetadata;
import dev.caravan.engine.gguf.GgufValueType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model's vocabulary as llama.cpp loads it from GGUF metadata ({@code llama_vocab::impl::load}): token texts, scores
 * and attributes, the special token ids, the tokenizer flags, the BPE merges and the chat template.
 *
 * <p>Defaults when keys are absent follow llama.cpp: for {@code tokenizer.ggml.model = llama} (SentencePiece) BOS 1, EOS
 * 2, UNK 0, add BOS, no EOS, add a space prefix; for {@code gpt2} (byte-level BPE) BOS = EOS = 11, no UNK, no space
 * prefix, clean-up of tokenization spaces on decode, and for the Llama 3 pre-tokenizer "ignore merges" and add BOS.
 * Default ids beyond the vocabulary are dropped (as llama.cpp does).
 *
 * <p>Like llama.cpp, tokens are also recognised by their text: end-of-turn ({@code <|eot_id|>}, {@code <|im_end|>},
 * ...), end-of-message ({@code <|eom_id|>}) and fill-in-the-middle tokens get their id when the metadata does not give
 * one, and become control tokens; the end-of-generation set holds EOS, EOT, EOM, the FIM pad/repo/separator tokens and
 * every token whose text is on llama.cpp's list ({@code <|eot_id|>}, {@code <|im_end|>}, {@code <|end|>},
 * {@code <|endoftext|>}, {@code </s>}, {@code <end_of_turn>}, ...). Where llama.cpp walks a hash map (unspecified
 * order), this class walks ids in increasing order.
 *
 * <p>Stricter than llama.cpp (which warns and carries on): the token list, scores and token types must have the same
 * length, and a BOS/EOS/EOT/EOM/UNK id given in the metadata must lie inside the vocabulary. Out-of-range padding,
 * separator, mask and FIM ids are ignored with a warning, like llama.cpp.
 */
public final class Vocabulary {
  private static final Logger log = LoggerFactory.getLogger(Vocabulary.class);

  /** llama.cpp's {@code LLAMA_TOKEN_NULL}: "no such token". */
  public static final int NO_TOKEN = -1;

  /** The tokenizer algorithms Caravan implements, by their GGUF {@code tokenizer.ggml.model} names. */
  public enum Model {
    /** {@code llama}: SentencePiece BPE with scores and byte fallback (Llama 1/2, Mistral 7B, TinyLlama, ...). */
    SENTENCE_PIECE("llama"),
    /** {@code gpt2}: byte-level BPE with merge ranks and a regex pre-tokenizer (GPT-2, Llama 3, ...). */
    BYTE_LEVEL_BPE("gpt2");

    private final String ggufName;

    Model(String ggufName) {
      this.ggufName = ggufName;
    }

    /** The {@code tokenizer.ggml.model} value. */
    public String ggufName() {
      return ggufName;
    }
  }

  /** How byte-level BPE text is split into words before merging (llama.cpp's pre-tokenizer regex families). */
  public enum PreTokenizer {
    /** SentencePiece vocabularies: no pre-tokenizer. */
    NONE,
    /** llama.cpp's "default" regex set (used when {@code tokenizer.ggml.pre} is missing or {@code default}). */
    DEFAULT,
    /** The Llama 3 regex. */
    LLAMA3,
    /** The GPT-2 regex. */
    GPT2
  }

  /** {@code tokenizer.ggml.pre} values Caravan implements, and what llama.cpp does for each (regex and flags). */
  private record PreSettings(PreTokenizer pre, boolean ignoreMerges, boolean addBos, boolean cleanSpaces) {}

  private static final Map<String, PreSettings> PRE_SETTINGS = preSettings();

  private static Map<String, PreSettings> preSettings() {
    Map<String, PreSettings> m = new HashMap<>();
    m.put("default", new PreSettings(PreTokenizer.DEFAULT, false, false, true));
    for (String name : List.of("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2")) {
      m.put(name, new PreSettings(PreTokenizer.LLAMA3, true, true, true));
    }
    for (String name : List.of("dbrx", "smaug-bpe")) {
      m.put(name, new PreSettings(PreTokenizer.LLAMA3, false, false, true));
    }
    for (String name : List.of("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "exaone4", "mpt", "olmo", "jais")) {
      m.put(name, new PreSettings(PreTokenizer.GPT2, false, false, true));
    }
    for (String name : List.of("trillion", "granite-docling")) {
      m.put(name, new PreSettings(PreTokenizer.GPT2, false, false, false));
    }
    return Collections.unmodifiableMap(m);
  }

  // Token texts llama.cpp recognises (llama-vocab.cpp, "auto-detect special tokens by text").
  private static final Set<String> EOT_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>");
  private static final Set<String> EOM_TEXTS = Set.of("<|eom_id|>");
  private static final Set<String> FIM_PRE_TEXTS = Set.of("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>");
  private static final Set<String> FIM_SUF_TEXTS = Set.of("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>");
  private static final Set<String> FIM_MID_TEXTS = Set.of("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>");
  private static final Set<String> FIM_PAD_TEXTS = Set.of("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]");
  private static final Set<String> FIM_REP_TEXTS = Set.of("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>");
  private static final Set<String> FIM_SEP_TEXTS = Set.of("<|file_sep|>");
  private static final Set<String> EOG_TEXTS = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[");
  private static final Set<String> ALWAYS_RENDERED_TEXTS = Set.of("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>");

  private static final String KEY_PREFIX = "tokenizer.ggml.";

  private final String source;
  private final Model model;
  private final String preName;
  private final PreTokenizer preTokenizer;
  private final String[] tokens;
  private final float[] scores;
  private final int[] attributes;
  private final Map<String, Integer> ids;
  private final String[] merges;
  private final int maxTokenLength;

  private final int bos;
  private final int eos;
  private final int eot;
  private final int eom;
  private final int unknown;
  private final int padding;
  private final int separator;
  private final int mask;
  private final int[] fim; // pre, suf, mid, pad, rep, sep

  private final boolean addBos;
  private final boolean addEos;
  private final boolean addSpacePrefix;
  private final boolean ignoreMerges;
  private final boolean cleanSpaces;

  private final Set<Integer> endOfGeneration;
  private final int[] specialTokensLongestFirst;
  private final String chatTemplate;

  /** Mutable state while {@link #fromGguf} works through the metadata. */
  private static final class Builder {
    String source;
    Model model;
    String preName;
    PreTokenizer pre = PreTokenizer.NONE;
    String[] tokens;
    float[] scores;
    int[] attrs;
    Map<String, Integer> ids;
    String[] merges = new String[0];
    int maxLen;
    int bos;
    int eos;
    int eot = NO_TOKEN;
    int eom = NO_TOKEN;
    int unk;
    int pad = NO_TOKEN;
    int sep = NO_TOKEN;
    int mask = NO_TOKEN;
    int[] fim = {NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN, NO_TOKEN};
    boolean addBos;
    boolean addEos;
    boolean addSpacePrefix;
    boolean ignoreMerges;
    boolean cleanSpaces;
    Set<Integer> eog;
    int[] special;
    String chatTemplate;
  }

  private Vocabulary(Builder b) {
    this.source = b.source;
    this.model = b.model;
    this.preName = b.preName;
    this.preTokenizer = b.pre;
    this.tokens = b.tokens;
    this.scores = b.scores;
    this.attributes = b.attrs;
    this.ids = b.ids;
    this.merges = b.merges;
    this.maxTokenLength = b.maxLen;
    this.bos = b.bos;
    this.eos = b.eos;
    this.eot = b.eot;
    this.eom = b.eom;
    this.unknown = b.unk;
    this.padding = b.pad;
    this.separator = b.sep;
    this.mask = b.mask;
    this.fim = b.fim;
    this.addBos = b.addBos;
    this.addEos = b.addEos;
    this.addSpacePrefix = b.addSpacePrefix;
    this.ignoreMerges = b.ignoreMerges;
    this.cleanSpaces = b.cleanSpaces;
    this.endOfGeneration = Collections.unmodifiableSet(b.eog);
    this.specialTokensLongestFirst = b.special;
    this.chatTemplate = b.chatTemplate;
  }

  /**
   * Reads the vocabulary from a model's metadata.
   *
   * @throws GgufFormatException when a tokenizer key is missing, of the wrong type or inconsistent (lengths, ids,
   *     duplicate tokens), or names a tokenizer model or pre-tokenizer Caravan does not implement
   */
  public static Vocabulary fromGguf(GgufMetadata metadata) throws GgufFormatException {
    Builder b = new Builder();
    b.source = metadata.string("general.name").orElse("vocabulary");
    readModelAndFlags(metadata, b);
    readTokens(metadata, b);
    readSpecialIds(metadata, b);
    detectSpecialTokensByText(b);
    applyModelNameAttributes(metadata, b);
    b.special = specialTokensLongestFirst(b.tokens, b.attrs);
    b.chatTemplate = metadata.string("tokenizer.chat_template").orElse(null);
    return new Vocabulary(b);
  }

  /** Tokenizer model, pre-tokenizer and the flags that follow from them (before per-key overrides). */
  private static void readModelAndFlags(GgufMetadata m, Builder b) throws GgufFormatException {
    String modelName = m.requireString(KEY_PREFIX + "model");
    b.preName = m.string(KEY_PREFIX + "pre").orElse(null);
    switch (modelName) {
      case "llama" -> {
        // SentencePiece: llama.cpp's defaults
        b.model = Model.SENTENCE_PIECE;
        b.bos = 1;
        b.eos = 2;
        b.unk = 0;
        b.addSpacePrefix = true;
        b.cleanSpaces = false;
        b.addBos = true;
        b.addEos = false;
      }
      case "gpt2" -> {
        // byte-level BPE: defaults, then what the pre-tokenizer name implies
        b.model = Model.BYTE_LEVEL_BPE;
        b.bos = 11;
        b.eos = 11;
        b.unk = NO_TOKEN;
        b.addSpacePrefix = false;
        b.cleanSpaces = true;
        PreSettings pre;
        if (b.preName == null || b.preName.isEmpty()) {
          log.warn("{}: tokenizer.ggml.pre is missing; using llama.cpp's 'default' pre-tokenizer (generation quality may be degraded, consider reconverting the model)", b.source);
          pre = PRE_SETTINGS.get("default");
        } else {
          pre = PRE_SETTINGS.get(b.preName);
          if (pre == null) {
            throw new GgufFormatException(b.source + ": tokenizer.ggml.pre = '" + b.preName + "' is not a pre-tokenizer Caravan implements (llama.cpp may know it); "
                + "supported: Llama 3 regex " + namesFor(PreTokenizer.LLAMA3) + ", GPT-2 regex " + namesFor(PreTokenizer.GPT2) + ", and 'default' (or no key). "
                + "Caravan refuses rather than guess: another pre-tokenizer would silently give different token ids than the model was trained on.");
          }
        }
        b.pre = pre.pre();
        b.ignoreMerges = pre.ignoreMerges();
        b.addBos = pre.addBos();
        b.cleanSpaces = pre.cleanSpaces();
        b.merges = m.stringArray(KEY_PREFIX + "merges").orElseThrow(() -> new GgufFormatException(b.source + ": tokenizer.ggml.model is gpt2 but tokenizer.ggml.merges is missing"));
      }
      default -> throw new GgufFormatException(b.source + ": unknown tokenizer model tokenizer.ggml.model = '" + modelName + "'; Caravan supports 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)");
    }
    m.bool(KEY_PREFIX + "add_space_prefix").ifPresent(v -> b.addSpacePrefix = v);
  }

  private static String namesFor(PreTokenizer pre) {
    return PRE_SETTINGS.entrySet().stream().filter(e -> e.getValue().pre() == pre).map(Map.Entry::getKey).sorted().toList().toString();
  }

  /** Token texts, scores and types; the text-to-id map. */
  private static void readTokens(GgufMetadata m, Builder b) throws GgufFormatException {
    String[] tokens = m.stringArray(KEY_PREFIX + "tokens").orElseThrow(() -> new GgufFormatException(b.source + ": tokenizer.ggml.tokens is missing (no vocabulary in this file)")).clone();
    int n = tokens.length;
    if (n == 0) {
      throw new GgufFormatException(b.source + ": tokenizer.ggml.tokens is empty");
    }

    // scores: FLOAT32 or INT32, same length as the tokens; absent means all 0
    float[] scores = new float[n];
    Optional<GgufArray> scoreArray = m.array(KEY_PREFIX + "scores");
    if (scoreArray.isPresent()) {
      GgufArray a = scoreArray.get();
      if (a.length() != n) {
        throw new GgufFormatException(b.source + ": tokenizer.ggml.scores has " + a.length() + " entries but tokenizer.ggml.tokens has " + n);
      }
      if (a.elementType() == GgufValueType.FLOAT32) {
        System.arraycopy((float[]) a.elements(), 0, scores, 0, n);
      } else if (a.elementType() == GgufValueType.INT32) {
        int[] s = (int[]) a.elements();
        for (int i = 0; i < n; i++) {
          scores[i] = s[i];
        }
      } else {
        throw new GgufFormatException(b.source + ": tokenizer.ggml.scores is an array of " + a.elementType() + ", expected FLOAT32 or INT32");
      }
    }

    // token types -> attributes; absent means every token is normal
    int[] attrs = new int[n];
    Optional<int[]> types = m.intArray(KEY_PREFIX + "token_type");
    if (types.isPresent()) {
      if (types.get().length != n) {
        throw new GgufFormatException(b.source + ": tokenizer.ggml.token_type has " + types.get().length + " entries but tokenizer.ggml.tokens has " + n);
      }
      for (int i = 0; i < n; i++) {
        attrs[i] = TokenAttributes.fromTokenType(types.get()[i]);
      }
    } else {
      Arrays.fill(attrs, TokenAttributes.NORMAL);
    }

    // the text -> id map; empty texts get llama.cpp's placeholder, duplicates are refused
    Map<String, Integer> ids = HashMap.newHashMap(n);
    int maxLen = 0;
    for (int i = 0; i < n; i++) {
      if (tokens[i].isEmpty()) {
        log.warn("{}: empty token at index {}", b.source, i);
        tokens[i] = "[EMPTY_" + i + "]";
      }
      Integer previous = ids.putIfAbsent(tokens[i], i);
      if (previous != null) {
        throw new GgufFormatException(b.source + ": duplicate token in vocabulary: '" + tokens[i] + "' has ids " + previous + " and " + i);
      }
      maxLen = Math.max(maxLen, tokens[i].length());
    }
    b.tokens = tokens;
    b.scores = scores;
    b.attrs = attrs;
    b.ids = ids;
    b.maxLen = maxLen;
  }

  /** Special token ids from the metadata, add_bos/add_eos, and their consistency. */
  private static void readSpecialIds(GgufMetadata m, Builder b) throws GgufFormatException {
    int n = b.tokens.length;
    // default ids that do not exist in this vocabulary are dropped, as llama.cpp does
    b.bos = defaultInRange(b.bos, n, "BOS", b.source);
    b.eos = defaultInRange(b.eos, n, "EOS", b.source);
    b.unk = defaultInRange(b.unk, n, "UNK", b.source);

    // ids that matter for tokenizing and stopping must be valid when given
    b.bos = strictId(m, "bos_token_id", b.bos, n, b.source);
    b.eos = strictId(m, "eos_token_id", b.eos, n, b.source);
    b.eot = strictId(m, "eot_token_id", b.eot, n, b.source);
    b.eom = strictId(m, "eom_token_id", b.eom, n, b.source);
    b.unk = strictId(m, "unknown_token_id", b.unk, n, b.source);
    // the others are ignored with a warning when out of range
    b.sep = lenientId(m, "seperator_token_id", b.sep, n, b.source);
    b.pad = lenientId(m, "padding_token_id", b.pad, n, b.source);
    b.mask = lenientId(m, "mask_token_id", b.mask, n, b.source);
    String[] fimKeys = {"fim_pre_token_id", "fim_suf_token_id", "fim_mid_token_id", "fim_pad_token_id", "fim_rep_token_id", "fim_sep_token_id"};
    for (int i = 0; i < fimKeys.length; i++) {
      b.fim[i] = lenientId(m, fimKeys[i], b.fim[i], n, b.source);
    }
    // deprecated FIM keys still override, in llama.cpp's order
    b.fim[0] = lenientId(m, "prefix_token_id", b.fim[0], n, b.source);
    b.fim[1] = lenientId(m, "suffix_token_id", b.fim[1], n, b.source);
    b.fim[2] = lenientId(m, "middle_token_id", b.fim[2], n, b.source);

    m.bool(KEY_PREFIX + "add_bos_token").ifPresent(v -> b.addBos = v);
    m.bool(KEY_PREFIX + "add_eos_token").ifPresent(v -> b.addEos = v);
    if (b.addBos && b.bos == NO_TOKEN) {
      throw new GgufFormatException(b.source + ": tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
    }
    if (b.addEos && b.eos == NO_TOKEN) {
      throw new GgufFormatException(b.source + ": tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");
    }
  }

  private static int defaultInRange(int id, int n, String what, String source) {
    if (id >= n) {
      log.warn("{}: default {} id {} is beyond the vocabulary of {} tokens; no {} token", source, what, id, n, what);
      return NO_TOKEN;
    }
    return id;
  }

  private static Optional<Long> idValue(GgufMetadata m, String key, String source) throws GgufFormatException {
    Optional<Long> v = m.integer(KEY_PREFIX + key);
    if (v.isPresent() && v.get() < 0) {
      log.warn("{}: tokenizer.ggml.{} = {} is negative; treated as absent", source, key, v.get());
      return Optional.empty();
    }
    return v;
  }

  private static int strictId(GgufMetadata m, String key, int current, int n, String source) throws GgufFormatException {
    Optional<Long> v = idValue(m, key, source);
    if (v.isEmpty()) {
      return current;
    }
    if (v.get() >= n) {
      throw new GgufFormatException(source + ": tokenizer.ggml." + key + " = " + v.get() + " is outside the vocabulary of " + n + " tokens (valid ids 0.." + (n - 1) + ")");
    }
    return v.get().intValue();
  }

  private static int lenientId(GgufMetadata m, String key, int current, int n, String source) throws GgufFormatException {
    Optional<Long> v = idValue(m, key, source);
    if (v.isEmpty()) {
      return current;
    }
    if (v.get() >= n) {
      log.warn("{}: tokenizer.ggml.{} = {} is outside the vocabulary of {} tokens; ignored", source, key, v.get(), n);
      return current;
    }
    return v.get().intValue();
  }

  /** llama.cpp's text-based detection of EOT/EOM/FIM tokens, unused control tokens and the end-of-generation set. */
  private static void detectSpecialTokensByText(Builder b) {
    String[] t = b.tokens;
    int[] attrs = b.attrs;
    // EOT, EOM and FIM ids found by text when not given; they become control tokens
    List<Set<String>> fimTexts = List.of(FIM_PRE_TEXTS, FIM_SUF_TEXTS, FIM_MID_TEXTS, FIM_PAD_TEXTS, FIM_REP_TEXTS, FIM_SEP_TEXTS);
    for (int id = 0; id < t.length; id++) {
      if (b.eot == NO_TOKEN && EOT_TEXTS.contains(t[id])) {
        b.eot = id;
        forceControl(b, id);
      }
      if (b.eom == NO_TOKEN && EOM_TEXTS.contains(t[id])) {
        b.eom = id;
        forceControl(b, id);
      }
      for (int k = 0; k < 6; k++) {
        if (b.fim[k] == NO_TOKEN && fimTexts.get(k).contains(t[id])) {
          b.fim[k] = id;
          forceControl(b, id);
        }
      }
    }

    // control tokens whose text says "unused" are unused
    int unused = 0;
    for (int id = 0; id < t.length; id++) {
      if ((attrs[id] & TokenAttributes.CONTROL) == 0) {
        continue;
      }
      if ((attrs[id] & TokenAttributes.UNUSED) == 0 && t[id].contains("unused")) {
        attrs[id] |= TokenAttributes.UNUSED;
      }
      if ((attrs[id] & TokenAttributes.UNUSED) != 0) {
        unused++;
      }
    }
    log.debug("{}: {} unused tokens", b.source, unused);

    // the end-of-generation set: FIM pad/repo/separator, every EOG-looking text, then EOS/EOT/EOM
    Set<Integer> eog = new TreeSet<>();
    for (int k = 3; k < 6; k++) {
      if (b.fim[k] != NO_TOKEN) {
        eog.add(b.fim[k]);
      }
    }
    for (int id = 0; id < t.length; id++) {
      if (EOG_TEXTS.contains(t[id])) {
        eog.add(id);
        forceControl(b, id);
      }
    }
    // gpt-oss: these are always rendered
    for (int id = 0; id < t.length; id++) {
      if (ALWAYS_RENDERED_TEXTS.contains(t[id])) {
        attrs[id] = TokenAttributes.USER_DEFINED;
      }
    }
    for (int id : new int[] {b.eos, b.eot, b.eom}) {
      if (id != NO_TOKEN && eog.add(id)) {
        log.warn("{}: special token {} '{}' was not in the end-of-generation set; added (the tokenizer config may be incorrect)", b.source, id, t[id]);
      }
    }

    // o200k_harmony / solar-open: <|end|> is not end-of-generation when <|return|> and <|call|> (or <|calls|> and <|flush|>) exist
    boolean hasReturn = false;
    boolean hasCall = false;
    boolean hasFlush = false;
    int endId = NO_TOKEN;
    for (int id : eog) {
      switch (t[id]) {
        case "<|return|>" -> hasReturn = true;
        case "<|call|>", "<|calls|>" -> hasCall = true;
        case "<|flush|>" -> hasFlush = true;
        case "<|end|>" -> endId = id;
        default -> {}
      }
    }
    if (endId != NO_TOKEN && hasCall && (hasReturn || hasFlush)) {
      eog.remove(endId);
      attrs[endId] = TokenAttributes.USER_DEFINED;
      log.warn("{}: '<|return|>'/'<|call|>' or '<|calls|>'/'<|flush|>' present: '<|end|>' is not end-of-generation", b.source);
    }
    // gemma4 / paddleocr: </s> is not end-of-generation when <|tool_response> is
    int sId = NO_TOKEN;
    boolean hasToolResponse = false;
    for (int id : eog) {
      if (t[id].equals("<|tool_response>")) {
        hasToolResponse = true;
      } else if (t[id].equals("</s>")) {
        sId = id;
      }
    }
    if (hasToolResponse && sId != NO_TOKEN) {
      eog.remove(sId);
      attrs[sId] = TokenAttributes.NORMAL;
      log.warn("{}: '<|tool_response>' present: '</s>' is not end-of-generation", b.source);
    }
    b.eog = eog;
  }

  private static void forceControl(Builder b, int id) {
    if ((b.attrs[id] & TokenAttributes.CONTROL) == 0) {
      log.warn("{}: control-looking token {} '{}' was not control-type; treating it as control (llama.cpp does the same)", b.source, id, b.tokens[id]);
      b.attrs[id] |= TokenAttributes.CONTROL;
    }
  }

  /** llama.cpp's per-model attribute fix-ups (lstrip/rstrip), keyed on the model name and pre-tokenizer. */
  private static void applyModelNameAttributes(GgufMetadata m, Builder b) throws GgufFormatException {
    String name = m.string("general.name").orElse("").toLowerCase(Locale.ROOT);
    String pre = b.preName == null ? "" : b.preName;
    String arch = m.string("general.architecture").orElse("");
    if (containsAny(pre, "jina-v2-de", "jina-v2-es", "jina-v2-code") || containsAny(arch, "nomic-bert-moe", "jina-bert-v3")) {
      Integer maskId = b.ids.get("<mask>");
      if (maskId != null) {
        b.attrs[maskId] |= TokenAttributes.LSTRIP;
      }
    } else if (containsAny(name, "phi-3", "phi3")) {
      for (int id : specialTokensLongestFirst(b.tokens, b.attrs)) {
        b.attrs[id] |= TokenAttributes.RSTRIP;
      }
      setIfPresent(b, "</s>", TokenAttributes.RSTRIP, true);
      for (String s : List.of("<unk>", "<s>", "<|endoftext|>")) {
        setIfPresent(b, s, TokenAttributes.RSTRIP, false);
      }
    } else if (containsAny(name, "modern-bert")) {
      Integer maskId = b.ids.get("[MASK]");
      if (maskId != null) {
        b.attrs[maskId] |= TokenAttributes.LSTRIP;
      }
    }
  }

  private static void setIfPresent(Builder b, String text, int attr, boolean value) {
    Integer id = b.ids.get(text);
    if (id != null) {
      b.attrs[id] = value ? b.attrs[id] | attr : b.attrs[id] & ~attr;
    }
  }

  private static boolean containsAny(String s, String... parts) {
    for (String p : parts) {
      if (s.contains(p)) {
        return true;
      }
    }
    return false;
  }

  /** Control, user-defined and unknown tokens, longest text first (ties: lower id first). */
  private static int[] specialTokensLongestFirst(String[] tokens, int[] attrs) {
    List<Integer> special = new ArrayList<>();
    for (int id = 0; id < tokens.length; id++) {
      if ((attrs[id] & (TokenAttributes.CONTROL | TokenAttributes.USER_DEFINED | TokenAttributes.UNKNOWN)) != 0) {
        special.add(id);
      }
    }
    // UTF-8 length, as llama.cpp compares std::string sizes
    special.sort((x, y) -> Integer.compare(utf8Length(tokens[y]), utf8Length(tokens[x])));
    return special.stream().mapToInt(Integer::intValue).toArray();
  }

  static int utf8Length(String s) {
    int len = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        len += 1;
      } else if (c < 0x800) {
        len += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        len += 4;
        i++;
      } else {
        len += 3;
      }
    }
    return len;
  }

  // ---------------------------------------------------------------- accessors

  /** Where this vocabulary came from ({@code general.name}), for messages. */
  public String source() {
    return source;
  }

  public Model model() {
    return model;
  }

  /** The {@code tokenizer.ggml.pre} value, if any. */
  public Optional<String> preTokenizerName() {
    return Optional.ofNullable(preName);
  }

  public PreTokenizer preTokenizer() {
    return preTokenizer;
  }

  /** Number of tokens. */
  public int size() {
    return tokens.length;
  }

  /** The token's text as stored in the GGUF (SentencePiece {@code ▁} and GPT-2 byte spellings included). */
  public String token(int id) {
    checkId(id);
    return tokens[id];
  }

  public float score(int id) {
    checkId(id);
    return scores[id];
  }

  /** The token's {@link TokenAttributes} bits. */
  public int attributes(int id) {
    checkId(id);
    return attributes[id];
  }

  public boolean isControl(int id) {
    return (attributes(id) & TokenAttributes.CONTROL) != 0;
  }

  public boolean isUserDefined(int id) {
    return (attributes(id) & TokenAttributes.USER_DEFINED) != 0;
  }

  public boolean isUnknown(int id) {
    return (attributes(id) & TokenAttributes.UNKNOWN) != 0;
  }

  public boolean isByte(int id) {
    return (attributes(id) & TokenAttributes.BYTE) != 0;
  }

  public boolean isNormal(int id) {
    return (attributes(id) & TokenAttributes.NORMAL) != 0;
  }

  public boolean isUnused(int id) {
    return (attributes(id) & TokenAttributes.UNUSED) != 0;
  }

  /** The id of the token with exactly this text, or {@link #NO_TOKEN}. */
  public int id(String text) {
    Integer id = ids.get(text);
    return id == null ? NO_TOKEN : id;
  }

  /** Longest token text in UTF-16 units. */
  public int maxTokenLength() {
    return maxTokenLength;
  }

  /** Beginning-of-sequence id, or {@link #NO_TOKEN}. */
  public int bos() {
    return bos;
  }

  /** End-of-sequence id, or {@link #NO_TOKEN}. */
  public int eos() {
    return eos;
  }

  /** End-of-turn id (from the metadata or found by text), or {@link #NO_TOKEN}. */
  public int eot() {
    return eot;
  }

  /** End-of-message id, or {@link #NO_TOKEN}. */
  public int eom() {
    return eom;
  }

  /** Unknown-token id, or {@link #NO_TOKEN}. */
  public int unknown() {
    return unknown;
  }

  /** Padding id, or {@link #NO_TOKEN}. */
  public int padding() {
    return padding;
  }

  /** Separator id, or {@link #NO_TOKEN}. */
  public int separator() {
    return separator;
  }

  /** Mask id, or {@link #NO_TOKEN}. */
  public int mask() {
    return mask;
  }

  /** Fill-in-the-middle prefix id, or {@link #NO_TOKEN}. */
  public int fimPrefix() {
    return fim[0];
  }

  /** Fill-in-the-middle suffix id, or {@link #NO_TOKEN}. */
  public int fimSuffix() {
    return fim[1];
  }

  /** Fill-in-the-middle middle id, or {@link #NO_TOKEN}. */
  public int fimMiddle() {
    return fim[2];
  }

  /** Whether {@code encode(..., addSpecial=true, ...)} prepends BOS. */
  public boolean addBos() {
    return addBos;
  }

  /** Whether {@code encode(..., addSpecial=true, ...)} appends EOS. */
  public boolean addEos() {
    return addEos;
  }

  /** SentencePiece: whether a space is put before text that starts the input or follows a special token. */
  public boolean addSpacePrefix() {
    return addSpacePrefix;
  }

  /** Byte-level BPE: whether a pre-tokenized word that is itself a token is emitted without merging. */
  public boolean ignoreMerges() {
    return ignoreMerges;
  }

  /** Byte-level BPE: whether decoding removes spaces before punctuation and contractions (Hugging Face's clean-up). */
  public boolean cleanSpaces() {
    return cleanSpaces;
  }

  /** The end-of-generation ids, in increasing order. */
  public Set<Integer> endOfGeneration() {
    return endOfGeneration;
  }

  /** Whether generation stops at this token (EOS, EOT, EOM, ... see the class comment). */
  public boolean isEndOfGeneration(int id) {
    return id != NO_TOKEN && endOfGeneration.contains(id);
  }

  /** The Jinja chat template from {@code tokenizer.chat_template}, if the model has one. */
  public Optional<String> chatTemplate() {
    return Optional.ofNullable(chatTemplate);
  }

  /** The BPE merges ("left right" per entry, rank = index); empty for SentencePiece. */
  List<String> merges() {
    return Collections.unmodifiableList(Arrays.asList(merges));
  }

  /** Control, user-defined and unknown tokens, longest text first: the order special-token parsing tries them in. */
  int[] specialTokensLongestFirst() {
    return specialTokensLongestFirst;
  }

  /** Token texts by id (shared array, not copied: callers in this package must not modify it). */
  String[] tokenTexts() {
    return tokens;
  }

  int[] attributeArray() {
    return attributes;
  }

  float[] scoreArray() {
    return scores;
  }

  Map<String, Integer> idMap() {
    return ids;
  }

  void checkId(int id) {
    if (id < 0 || id >= tokens.length) {
      throw new IllegalArgumentException("token id " + id + " is outside the vocabulary of " + tokens.length + " tokens (" + source + ")");
    }
  }

  @Override
  public String toString() {
    Set<String> eogTexts = new LinkedHashSet<>();
    for (int id : endOfGeneration) {
      eogTexts.add(id + " '" + tokens[id] + "'");
    }
    return "Vocabulary[" + source + ", " + model.ggufName() + (preName != null ? "/" + preName : "") + ", " + tokens.length + " tokens, " + merges.length + " merges, bos=" + bos + ", eos=" + eos
        + ", eog=" + eogTexts + "]";
  }
}
