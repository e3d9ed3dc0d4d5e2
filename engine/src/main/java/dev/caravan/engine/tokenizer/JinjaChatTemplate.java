package dev.caravan.engine.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.lang.reflect.Method;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ELResolver;

/**
 * A Hugging Face chat template rendered with jinjava, set up like {@code transformers}' {@code apply_chat_template}
 * environment: {@code trim_blocks} and {@code lstrip_blocks}, loop controls ({@code break}/{@code continue}), Jinja2
 * operator precedence and map iteration, {@code raise_exception(msg)} (throws {@link ChatTemplateException}),
 * {@code strftime_now(format)} (Python {@code strftime} at {@link ChatTemplate.Options#now()}), {@code tojson}
 * producing Python {@code json.dumps} text ({@code ", "} and {@code ": "} separators, non-ASCII kept, {@code indent}),
 * Python string methods ({@link PythonStringMethods}), filtered loops ({@link JinjaLoopFilters}), and Python-style
 * printing of lists and dicts.
 *
 * <p>Known differences from Jinja2 that remain: {@code loop.previtem}/{@code loop.nextitem} are undefined, printing
 * {@code none}/{@code true} gives an empty string/{@code true} (Python: {@code None}/{@code True}), the {@code %}
 * string-formatting operator and extended slices ({@code [::-1]}) are not supported.
 *
 * <p>Variables: {@code messages} (list of {@code {role, content}}), {@code bos_token}, {@code eos_token},
 * {@code add_generation_prompt}, plus {@link ChatTemplate.Options#extraVariables()}.
 */
final class JinjaChatTemplate implements ChatTemplate {
  /** Context key holding the render's time for {@code strftime_now}. */
  private static final String NOW_KEY = "__caravan_now";

  /** The most characters a rendering, and any string or loop output in it, may hold. */
  static final long MAX_RENDERED_CHARS = 32L << 20;
  /** The most elements of a list or map a template may build. */
  static final int MAX_COLLECTION_SIZE = 1 << 20;
  /** The longest one rendering may run (tests shorten it). */
  static volatile Duration maxRenderTime = Duration.ofSeconds(10);

  private static final Jinjava JINJAVA = createJinjava();

  private final String source;
  /** The source as jinjava renders it ({@link JinjaNotPrecedence}, {@link JinjaLoopFilters}). */
  private final String prepared;

  JinjaChatTemplate(String source) {
    this.source = Objects.requireNonNull(source, "source");
    this.prepared = JinjaLoopFilters.rewrite(JinjaNotPrecedence.rewrite(source));
  }

  /** The template text. */
  String source() {
    return source;
  }

  private static Jinjava createJinjava() {
    JinjavaConfig config = JinjavaConfig.newBuilder()
        .withTrimBlocks(true)
        .withLstripBlocks(true)
        .withEnableRecursiveMacroCalls(true)
        .withMaxMacroRecursionDepth(64)
        // a model's template is code from the model file: bound what one rendering may build and how long it may run
        .withMaxRenderDepth(64)
        .withMaxOutputSize(MAX_RENDERED_CHARS)
        .withMaxStringLength(MAX_RENDERED_CHARS)
        .withMaxListSize(MAX_COLLECTION_SIZE)
        .withMaxMapSize(MAX_COLLECTION_SIZE)
        .withNodePreProcessor((node, interpreter) -> RenderDeadline.check())
        .withLegacyOverrides(LegacyOverrides.newBuilder()
            .withEvaluateMapKeys(true)
            .withIterateOverMapKeys(true)
            .withUseNaturalOperatorPrecedence(true)
            .withParseWhitespaceControlStrictly(true)
            .withAllowAdjacentTextNodes(true)
            .withKeepNullableLoopValues(true)
            .withHandleBackslashInQuotesOnly(true)
            .withUseTrimmingForNotesAndExpressions(true)
            .withUsePyishObjectMapper(true)
            .build())
        .withElResolver(resolver())
        .build();
    Jinjava jinjava = new Jinjava(config);
    try {
      register(jinjava, "raise_exception", "raiseException", String.class);
      register(jinjava, "strftime_now", "strftimeNow", String.class);
    } catch (NoSuchMethodException e) {
      throw new IllegalStateException(e);
    }
    jinjava.getGlobalContext().registerFilter(new ToJsonFilter());
    return jinjava;
  }

  /** Python string methods first, then jinjava's own resolver. */
  private static ELResolver resolver() {
    CompositeELResolver composite = new CompositeELResolver();
    composite.add(new PythonStringMethods());
    composite.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
    return composite;
  }

  private static void register(Jinjava jinjava, String name, String method, Class<?>... params) throws NoSuchMethodException {
    Method m = JinjaChatTemplate.class.getDeclaredMethod(method, params);
    m.setAccessible(true);
    jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", name, m));
  }

  /** {@code raise_exception(message)}: the template refuses the conversation. */
  static Object raiseException(String message) {
    throw new TemplateRaised(message);
  }

  /** {@code strftime_now(format)}: the render's time, Python-formatted. */
  static String strftimeNow(String format) {
    Object now = JinjavaInterpreter.getCurrent().getContext().get(NOW_KEY);
    return Strftime.format(format, now instanceof ZonedDateTime t ? t : ZonedDateTime.now());
  }

  /**
   * When the rendering on this thread must end: checked before every node jinjava renders (a loop's body, each
   * iteration of a loop inside it). Thrown as an {@link Error} because jinjava turns exceptions inside a template into
   * template errors and goes on.
   */
  private static final class RenderDeadline extends Error {
    private static final long serialVersionUID = 1L;
    private static final ThreadLocal<long[]> DEADLINE = ThreadLocal.withInitial(() -> new long[] {Long.MAX_VALUE});

    private RenderDeadline() {
      super(null, null, false, false);
    }

    static void check() {
      if (System.nanoTime() - DEADLINE.get()[0] > 0) {
        throw new RenderDeadline();
      }
    }
  }

  /** Carries a template's raise_exception message out through jinjava. */
  private static final class TemplateRaised extends RuntimeException {
    private static final long serialVersionUID = 1L;

    TemplateRaised(String message) {
      super(message);
    }
  }

  @Override
  public String render(List<ChatMessage> messages, Options options) {
    Map<String, Object> bindings = new HashMap<>(options.extraVariables());
    List<Map<String, Object>> msgs = new ArrayList<>(messages.size());
    for (ChatMessage m : messages) {
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("role", m.role());
      map.put("content", m.content());
      msgs.add(map);
    }
    bindings.put("messages", msgs);
    bindings.put("bos_token", options.bosToken());
    bindings.put("eos_token", options.eosToken());
    bindings.put("add_generation_prompt", options.addGenerationPrompt());
    // makes `strftime_now is defined` true, as for Hugging Face's global function
    bindings.put("strftime_now", true);
    bindings.put(NOW_KEY, options.now());

    RenderResult result;
    Duration limit = maxRenderTime;
    long[] deadline = RenderDeadline.DEADLINE.get();
    deadline[0] = System.nanoTime() + limit.toNanos();
    try {
      result = JINJAVA.renderForResult(prepared, bindings);
      RenderDeadline.check(); // a deadline met inside a function call (a macro) is reported as that call's error
    } catch (RenderDeadline e) {
      throw new ChatTemplateException("the chat template did not finish rendering within " + limit.toMillis() + " ms");
    } catch (OutOfMemoryError e) {
      throw new ChatTemplateException("the chat template ran out of memory while rendering");
    } finally {
      deadline[0] = Long.MAX_VALUE;
    }
    List<String> fatal = new ArrayList<>();
    for (TemplateError e : result.getErrors()) {
      String raised = raisedMessage(e);
      if (raised != null) {
        throw new ChatTemplateException("the chat template raised an exception: " + raised);
      }
      if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
        fatal.add("line " + e.getLineno() + ": " + withoutJavaNames(String.valueOf(e.getMessage())));
      }
    }
    if (!fatal.isEmpty()) {
      throw new ChatTemplateException("the chat template failed to render: " + String.join("; ", fatal));
    }
    return result.getOutput();
  }

  /**
   * A jinjava error message as the template's author (and a client) should read it: without Java's exception and class
   * names ("InterpretException: ...", "class java.lang.String").
   */
  static String withoutJavaNames(String message) {
    if (message.contains("OutOfMemoryError")) {
      return "ran out of memory";
    }
    return message.replaceAll("\\b(?:[a-z][a-z0-9_]*\\.)+([A-Z][A-Za-z0-9_$]*)", "$1").replaceAll("\\b[A-Z][A-Za-z0-9_$]*(?:Exception|Error): ", "");
  }

  /** The raise_exception message inside a template error, if that is what it is. */
  private static String raisedMessage(TemplateError e) {
    for (Throwable t = e.getException(); t != null; t = t.getCause()) {
      if (t instanceof TemplateRaised r) {
        return r.getMessage();
      }
    }
    return null;
  }

  /** {@code tojson}, as Hugging Face defines it: {@code json.dumps(x, ensure_ascii=False, indent=indent)}. */
  private static final class ToJsonFilter implements Filter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return PythonJson.dumps(var, args.length > 0 ? Integer.valueOf(args[0]) : null);
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
      Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
      return PythonJson.dumps(var, indent == null ? null : Integer.valueOf(indent.toString()));
    }
  }

  @Override
  public String toString() {
    return "JinjaChatTemplate[" + source.length() + " chars]";
  }
}
