package dev.caravan.cli;

import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.MapperFeature;
import tools.jackson.databind.MappingIterator;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.ValueDeserializer;
import tools.jackson.databind.annotation.JsonDeserialize;
import tools.jackson.dataformat.yaml.YAMLMapper;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.Collection;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.ParseResult;

/**
 * Validates Kubernetes manifests without a cluster: each YAML document is read into the typed Kubernetes model for its
 * apiVersion and kind (fabric8's, generated from Kubernetes' OpenAPI schemas), strictly — an unknown field anywhere,
 * a value of the wrong type, a duplicate key or an unknown kind is a problem — then checked for what a schema cannot
 * say: names and port names the API server would refuse, selectors that select nothing, ports, Secrets, ConfigMaps and
 * claims that do not exist, Caravan arguments the real commands do not parse, ports that disagree with the arguments,
 * containers that run as root or write their root file system, sizes that do not add up.
 *
 * <p>Every check returns its problems as lines naming the document and the place ({@code coordinator.yaml#3
 * Deployment/caravan-coordinator: spec.template.spec.containers[0].imagePullPolicyy: unknown field}); none throws.
 */
final class K8sManifests {
  /** The typed model class of each apiVersion/kind these manifests may use. */
  static final Map<String, Class<? extends HasMetadata>> KINDS = Map.ofEntries(
      Map.entry("v1/Namespace", Namespace.class),
      Map.entry("v1/ConfigMap", ConfigMap.class),
      Map.entry("v1/Secret", Secret.class),
      Map.entry("v1/ServiceAccount", ServiceAccount.class),
      Map.entry("v1/Service", Service.class),
      Map.entry("v1/PersistentVolumeClaim", PersistentVolumeClaim.class),
      Map.entry("v1/Pod", io.fabric8.kubernetes.api.model.Pod.class),
      Map.entry("apps/v1/Deployment", Deployment.class),
      Map.entry("apps/v1/StatefulSet", StatefulSet.class),
      Map.entry("batch/v1/Job", Job.class),
      Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
      Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class));

  /**
   * Strict: no scalar coercion ("2" is no int, "true" no boolean), duplicate keys refused. Jackson 3, as the model
   * itself is written for it (its Quantity and IntOrString read themselves with Jackson 3 deserializers).
   */
  static final ObjectMapper MAPPER = YAMLMapper.builder()
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .build();

  /** One YAML document: where it came from, its tree, and the typed object (null when it did not read). */
  record Doc(String source, JsonNode json, HasMetadata object) {
    String kind() {
      return object == null ? json.path("kind").asString("?") : object.getKind();
    }

    String name() {
      return object == null || object.getMetadata() == null ? json.path("metadata").path("name").asString("?") : object.getMetadata().getName();
    }

    @Override
    public String toString() {
      return source + " " + kind() + "/" + name();
    }
  }

  /** The manifests and the problems found in reading them. */
  record Loaded(List<Doc> docs, List<String> problems) {}

  private K8sManifests() {}

  // ---- reading: the schema --------------------------------------------------------------------------------------

  /** Every {@code *.yaml} under {@code dir} (examples too), except kustomization.yaml, read strictly. */
  static Loaded load(Path dir) {
    List<Doc> docs = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yaml") && !p.getFileName().toString().equals("kustomization.yaml")).sorted().toList()) {
        Loaded l = read(dir.relativize(f).toString(), Files.readString(f));
        docs.addAll(l.docs());
        problems.addAll(l.problems());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return new Loaded(docs, problems);
  }

  /** The documents of one YAML text; {@code source} names it in problems. */
  static Loaded read(String source, String yaml) {
    List<Doc> docs = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    try (MappingIterator<JsonNode> it = MAPPER.readerFor(JsonNode.class).readValues(yaml)) {
      int i = 0;
      while (it.hasNext()) {
        JsonNode node = it.next();
        i++;
        if (node == null || node.isNull() || node.isMissingNode()) {
          continue; // a document of comments only
        }
        String where = source + "#" + i;
        List<String> found = new ArrayList<>();
        HasMetadata object = typed(where, node, found);
        problems.addAll(found);
        docs.add(new Doc(where, node, found.isEmpty() ? object : null));
      }
    } catch (RuntimeException e) { // JacksonException is unchecked in Jackson 3
      problems.add(source + ": not YAML the model reads: " + firstLine(e));
    }
    return new Loaded(docs, problems);
  }

  private static HasMetadata typed(String where, JsonNode node, List<String> problems) {
    if (!node.isObject()) {
      problems.add(where + ": a document must be a mapping, not " + node.getNodeType());
      return null;
    }
    String apiVersion = node.path("apiVersion").asString("");
    String kind = node.path("kind").asString("");
    Class<? extends HasMetadata> type = KINDS.get(apiVersion + "/" + kind);
    if (type == null) {
      problems.add(where + ": no Kubernetes model for apiVersion '" + apiVersion + "' kind '" + kind + "' (known: " + new TreeSet<>(KINDS.keySet()) + ")");
      return null;
    }
    String at = where + " " + kind + "/" + node.path("metadata").path("name").asString("?");
    unknownFields(node, type, "", at, problems);
    try {
      return MAPPER.treeToValue(node, type);
    } catch (RuntimeException e) { // JacksonException, IllegalArgumentException
      problems.add(at + ": " + (e instanceof JacksonException j ? path(j) + ": " + firstLine(j.getOriginalMessage()) : firstLine(e)));
      return null;
    }
  }

  /**
   * Walks the tree alongside the model's types and reports every field the type has no property for. (The model keeps
   * unknown fields in an "additionalProperties" map instead of failing, as the API server's strict field validation
   * would, so Jackson's own unknown-property check never fires.) A model class's properties are its fields annotated
   * {@code @JsonProperty}, as the generated model declares them.
   */
  static void unknownFields(JsonNode node, Type type, String path, String at, List<String> problems) {
    if (node == null || node.isNull()) {
      return;
    }
    Class<?> raw = raw(type);
    if (Collection.class.isAssignableFrom(raw)) {
      if (!node.isArray()) {
        problems.add(at + ": " + path + ": expected a list, not " + node.getNodeType());
        return;
      }
      for (int i = 0; i < node.size(); i++) {
        unknownFields(node.get(i), typeArgument(type, 0), path + "[" + i + "]", at, problems);
      }
      return;
    }
    if (Map.class.isAssignableFrom(raw)) {
      if (!node.isObject()) {
        problems.add(at + ": " + path + ": expected a mapping, not " + node.getNodeType());
        return;
      }
      node.properties().forEach(e -> unknownFields(e.getValue(), typeArgument(type, 1), join(path, e.getKey()), at, problems));
      return;
    }
    if (raw == IntOrString.class) {
      if (!node.isInt() && !node.isString()) {
        problems.add(at + ": " + path + ": expected an integer or a string, not " + node.getNodeType());
      }
      return;
    }
    if (!raw.getName().startsWith("io.fabric8.kubernetes.api.model") || raw.isEnum() || readsItself(raw)) {
      return; // a scalar, or a type such as Quantity that reads itself: the typed read checks it
    }
    if (!node.isObject()) {
      problems.add(at + ": " + path + ": expected a mapping (" + raw.getSimpleName() + "), not " + node.getNodeType());
      return;
    }
    Map<String, Type> properties = properties(raw);
    node.properties().forEach(e -> {
      Type t = properties.get(e.getKey());
      if (t == null) {
        problems.add(at + ": " + join(path, e.getKey()) + ": unknown field (" + raw.getSimpleName() + " has " + new TreeSet<>(properties.keySet()) + ")");
      } else {
        unknownFields(e.getValue(), t, join(path, e.getKey()), at, problems);
      }
    });
  }

  private static final Map<Class<?>, Map<String, Type>> PROPERTIES = new java.util.concurrent.ConcurrentHashMap<>();

  private static Map<String, Type> properties(Class<?> c) {
    return PROPERTIES.computeIfAbsent(c, k -> {
      Map<String, Type> m = new LinkedHashMap<>();
      for (Class<?> x = k; x != null && x != Object.class; x = x.getSuperclass()) {
        for (Field f : x.getDeclaredFields()) {
          JsonProperty p = f.getAnnotation(JsonProperty.class);
          if (p != null) {
            m.putIfAbsent(p.value().isEmpty() ? f.getName() : p.value(), f.getGenericType());
          }
        }
      }
      return m;
    });
  }

  private static Class<?> raw(Type t) {
    return t instanceof Class<?> c ? c : t instanceof ParameterizedType p ? (Class<?>) p.getRawType() : Object.class;
  }

  private static Type typeArgument(Type t, int i) {
    return t instanceof ParameterizedType p && p.getActualTypeArguments().length > i ? p.getActualTypeArguments()[i] : Object.class;
  }

  /** A class with its own deserializer or a creator that takes the value whole (no properties to walk). */
  private static boolean readsItself(Class<?> raw) {
    for (Class<?> c = raw; c != null && c != Object.class; c = c.getSuperclass()) {
      JsonDeserialize d = c.getAnnotation(JsonDeserialize.class);
      if (d != null && d.using() != ValueDeserializer.None.class) {
        return true;
      }
    }
    return Stream.of(raw.getDeclaredConstructors()).anyMatch(k -> k.isAnnotationPresent(com.fasterxml.jackson.annotation.JsonCreator.class) && k.getParameterCount() == 1);
  }

  private static String join(String path, String key) {
    return path.isEmpty() ? key : path + "." + key;
  }

  /** Where in the document Jackson failed, as a path like the ones above ({@code spec.ports[0].port}). */
  private static String path(JacksonException e) {
    StringBuilder sb = new StringBuilder();
    for (JacksonException.Reference r : e.getPath()) {
      if (r.getPropertyName() != null) {
        sb.append(sb.isEmpty() ? "" : ".").append(r.getPropertyName());
      } else if (r.getIndex() >= 0) {
        sb.append('[').append(r.getIndex()).append(']');
      }
    }
    return sb.isEmpty() ? "(document)" : sb.toString();
  }

  private static String firstLine(Throwable e) {
    return firstLine(e.getMessage());
  }

  private static String firstLine(String message) {
    String m = String.valueOf(message);
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  // ---- what the API server checks beyond the schema -----------------------------------------------------------

  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
  private static final Pattern DNS_SUBDOMAIN = Pattern.compile("(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  /** IANA_SVC_NAME: at most 15 lowercase letters, digits and inner single hyphens, at least one letter. */
  private static final Pattern PORT_NAME = Pattern.compile("(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*");
  private static final Pattern LABEL_VALUE = Pattern.compile("(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?");
  private static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");

  /** Names, port names, label values, required container fields, env names: what the API server's validation refuses. */
  static List<String> apiServerProblems(List<Doc> docs) {
    List<String> problems = new ArrayList<>();
    for (Doc d : typedDocs(docs)) {
      HasMetadata o = d.object();
      String name = o.getMetadata() == null ? null : o.getMetadata().getName();
      Pattern namePattern = o instanceof Service || o instanceof Namespace ? DNS_LABEL : DNS_SUBDOMAIN;
      if (name == null || !namePattern.matcher(name).matches()) {
        problems.add(d + ": metadata.name '" + name + "' is not a valid " + (namePattern == DNS_LABEL ? "DNS-1123 label" : "DNS-1123 subdomain"));
      }
      if (o.getMetadata() != null && o.getMetadata().getLabels() != null) {
        o.getMetadata().getLabels().forEach((k, v) -> {
          if (v == null || !LABEL_VALUE.matcher(v).matches()) {
            problems.add(d + ": label " + k + "='" + v + "' is not a valid label value");
          }
        });
      }
      if (o instanceof Service s && s.getSpec() != null && s.getSpec().getPorts() != null) {
        for (ServicePort p : s.getSpec().getPorts()) {
          if (s.getSpec().getPorts().size() > 1 && (p.getName() == null || !DNS_LABEL.matcher(p.getName()).matches())) {
            problems.add(d + ": port " + p.getPort() + " needs a name (a DNS-1123 label) when a Service has several");
          }
          if (p.getPort() == null || p.getPort() < 1 || p.getPort() > 65535) {
            problems.add(d + ": port " + p.getName() + " has no valid port number");
          }
        }
      }
    }
    for (Pod p : pods(docs)) {
      for (Container c : allContainers(p.spec())) {
        String at = p + " container " + c.getName();
        if (c.getName() == null || !DNS_LABEL.matcher(c.getName()).matches()) {
          problems.add(at + ": container name is not a DNS-1123 label");
        }
        if (c.getImage() == null || c.getImage().isBlank()) {
          problems.add(at + ": no image");
        }
        for (ContainerPort port : nonNull(c.getPorts())) {
          if (port.getName() != null && !PORT_NAME.matcher(port.getName()).matches()) {
            problems.add(at + ": port name '" + port.getName() + "' is not an IANA service name (at most 15 lowercase letters, digits, inner hyphens)");
          }
          if (port.getContainerPort() == null || port.getContainerPort() < 1 || port.getContainerPort() > 65535) {
            problems.add(at + ": port " + port.getName() + " has no valid containerPort");
          }
        }
        Set<String> env = new TreeSet<>();
        for (EnvVar e : nonNull(c.getEnv())) {
          if (e.getName() == null || !ENV_NAME.matcher(e.getName()).matches() || !env.add(e.getName())) {
            problems.add(at + ": env name '" + e.getName() + "' is invalid or repeated");
          }
        }
      }
    }
    return problems;
  }

  // ---- pods and their templates ---------------------------------------------------------------------------------

  /** A pod as a workload will make it: the workload's document and its pod template. */
  record Pod(Doc doc, PodTemplateSpec template) {
    PodSpec spec() {
      return template.getSpec();
    }

    Map<String, String> labels() {
      return template.getMetadata() == null || template.getMetadata().getLabels() == null ? Map.of() : template.getMetadata().getLabels();
    }

    Map<String, String> annotations() {
      return template.getMetadata() == null || template.getMetadata().getAnnotations() == null ? Map.of() : template.getMetadata().getAnnotations();
    }

    @Override
    public String toString() {
      return doc.toString();
    }
  }

  static List<Doc> typedDocs(List<Doc> docs) {
    return docs.stream().filter(d -> d.object() != null).toList();
  }

  static <T> List<T> objects(List<Doc> docs, Class<T> type) {
    return typedDocs(docs).stream().map(Doc::object).filter(type::isInstance).map(type::cast).toList();
  }

  static List<Pod> pods(List<Doc> docs) {
    List<Pod> pods = new ArrayList<>();
    for (Doc d : typedDocs(docs)) {
      PodTemplateSpec t = switch (d.object()) {
        case Deployment x -> x.getSpec() == null ? null : x.getSpec().getTemplate();
        case StatefulSet x -> x.getSpec() == null ? null : x.getSpec().getTemplate();
        case Job x -> x.getSpec() == null ? null : x.getSpec().getTemplate();
        case io.fabric8.kubernetes.api.model.Pod x -> new PodTemplateSpec(x.getMetadata(), x.getSpec());
        default -> null;
      };
      if (t != null && t.getSpec() != null) {
        pods.add(new Pod(d, t));
      }
    }
    return pods;
  }

  static List<Container> allContainers(PodSpec spec) {
    List<Container> all = new ArrayList<>(nonNull(spec.getInitContainers()));
    all.addAll(nonNull(spec.getContainers()));
    return all;
  }

  static <T> List<T> nonNull(List<T> list) {
    return list == null ? List.of() : list;
  }

  /** Whether a selector's labels all sit on {@code labels}; matchExpressions are not evaluated and reported instead. */
  private static boolean selects(Map<String, String> selector, Map<String, String> labels) {
    return selector != null && !selector.isEmpty() && labels.entrySet().containsAll(selector.entrySet());
  }

  private static Map<String, String> matchLabels(LabelSelector s, String at, List<String> problems) {
    if (s == null) {
      problems.add(at + ": no selector");
      return Map.of();
    }
    if (s.getMatchExpressions() != null && !s.getMatchExpressions().isEmpty()) {
      problems.add(at + ": selector uses matchExpressions, which these checks do not evaluate: use matchLabels");
    }
    return s.getMatchLabels() == null ? Map.of() : s.getMatchLabels();
  }

  // ---- selectors and ports --------------------------------------------------------------------------------------

  /**
   * Every selector selects something: a workload's selector its own template, a Service's, a PodDisruptionBudget's and a
   * NetworkPolicy's at least one pod template. Every port a Service targets, a probe or a scrape annotation uses, or a
   * NetworkPolicy opens is a port of the pods concerned.
   */
  static List<String> selectorAndPortProblems(List<Doc> docs) {
    List<String> problems = new ArrayList<>();
    List<Pod> pods = pods(docs);
    for (Pod p : pods) {
      LabelSelector own = switch (p.doc().object()) {
        case Deployment x -> x.getSpec().getSelector();
        case StatefulSet x -> x.getSpec().getSelector();
        default -> null;
      };
      if (own != null && !selects(matchLabels(own, p.toString(), problems), p.labels())) {
        problems.add(p + ": spec.selector " + own.getMatchLabels() + " does not select its own pod template " + p.labels());
      }
      for (Container c : allContainers(p.spec())) {
        for (Probe probe : Stream.of(c.getStartupProbe(), c.getReadinessProbe(), c.getLivenessProbe()).filter(Objects::nonNull).toList()) {
          if (probe.getGrpc() != null) {
            checkPort(p, c, new IntOrString(probe.getGrpc().getPort()), "gRPC probe", problems);
          }
          if (probe.getHttpGet() != null) {
            checkPort(p, c, probe.getHttpGet().getPort(), "HTTP probe", problems);
          }
          if (probe.getTcpSocket() != null) {
            checkPort(p, c, probe.getTcpSocket().getPort(), "TCP probe", problems);
          }
        }
      }
      Map<String, String> a = p.annotations();
      if ("true".equals(a.get("prometheus.io/scrape"))) {
        String port = a.get("prometheus.io/port");
        if (port == null || !port.matches("\\d+") || containerWithPort(p, new IntOrString(Integer.parseInt(port))).isEmpty()) {
          problems.add(p + ": prometheus.io/port '" + port + "' is no container port of the pod");
        }
        if (!a.getOrDefault("prometheus.io/path", "/metrics").startsWith("/")) {
          problems.add(p + ": prometheus.io/path must start with /");
        }
      }
    }
    for (Doc d : typedDocs(docs)) {
      if (d.object() instanceof Service s) {
        Map<String, String> selector = s.getSpec().getSelector();
        List<Pod> selected = pods.stream().filter(p -> selects(selector, p.labels())).toList();
        if (selected.isEmpty()) {
          problems.add(d + ": selector " + selector + " selects no pod template");
        }
        for (ServicePort sp : nonNull(s.getSpec().getPorts())) {
          IntOrString target = sp.getTargetPort() != null ? sp.getTargetPort() : new IntOrString(sp.getPort());
          for (Pod p : selected) {
            if (containerWithPort(p, target).isEmpty()) {
              problems.add(d + ": port " + sp.getName() + " targets " + show(target) + ", which " + p + " does not declare");
            }
          }
        }
      }
      if (d.object() instanceof PodDisruptionBudget pdb) {
        Map<String, String> selector = matchLabels(pdb.getSpec().getSelector(), d.toString(), problems);
        if (pods.stream().noneMatch(p -> selects(selector, p.labels()))) {
          problems.add(d + ": selector " + selector + " selects no pod template");
        }
      }
      if (d.object() instanceof NetworkPolicy np) {
        Map<String, String> selector = matchLabels(np.getSpec().getPodSelector(), d.toString(), problems);
        List<Pod> selected = pods.stream().filter(p -> selects(selector, p.labels())).toList();
        if (selected.isEmpty()) {
          problems.add(d + ": podSelector " + selector + " selects no pod template");
        }
        for (NetworkPolicyIngressRule rule : nonNull(np.getSpec().getIngress())) {
          for (NetworkPolicyPort port : nonNull(rule.getPorts())) {
            if (port.getPort() != null && selected.stream().allMatch(p -> containerWithPort(p, port.getPort()).isEmpty())) {
              problems.add(d + ": opens port " + show(port.getPort()) + ", which no selected pod declares");
            }
          }
        }
      }
    }
    return problems;
  }

  private static void checkPort(Pod p, Container c, IntOrString port, String what, List<String> problems) {
    boolean own = nonNull(c.getPorts()).stream().anyMatch(cp -> matches(cp, port));
    if (!own) {
      problems.add(p + " container " + c.getName() + ": " + what + " uses port " + show(port) + ", which the container does not declare");
    }
  }

  static Optional<Container> containerWithPort(Pod p, IntOrString port) {
    return nonNull(p.spec().getContainers()).stream().filter(c -> nonNull(c.getPorts()).stream().anyMatch(cp -> matches(cp, port))).findFirst();
  }

  private static boolean matches(ContainerPort cp, IntOrString port) {
    return port != null && (port.getStrVal() != null ? port.getStrVal().equals(cp.getName()) : Objects.equals(port.getIntVal(), cp.getContainerPort()));
  }

  private static String show(IntOrString p) {
    return p == null ? "none" : p.getStrVal() != null ? "'" + p.getStrVal() + "'" : String.valueOf(p.getIntVal());
  }

  // ---- references -----------------------------------------------------------------------------------------------

  /**
   * Every Secret, ConfigMap (and key), claim and service account a pod uses, and every StatefulSet's service, is
   * defined among the manifests; a Secret may instead be one the user creates, if {@code readme} shows the
   * {@code kubectl create secret} command for it.
   */
  static List<String> referenceProblems(List<Doc> docs, String readme) {
    List<String> problems = new ArrayList<>();
    Map<String, ConfigMap> configMaps = byName(objects(docs, ConfigMap.class));
    Set<String> secrets = byName(objects(docs, Secret.class)).keySet();
    Set<String> claims = byName(objects(docs, PersistentVolumeClaim.class)).keySet();
    Set<String> accounts = byName(objects(docs, ServiceAccount.class)).keySet();
    Map<String, Service> services = byName(objects(docs, Service.class));
    Function<String, Boolean> secretKnown = name -> secrets.contains(name) || Pattern.compile("kubectl[^\\n]*create secret[^\\n]*\\s" + Pattern.quote(name) + "(\\s|$)", Pattern.MULTILINE).matcher(readme).find();
    for (Pod p : pods(docs)) {
      PodSpec spec = p.spec();
      if (spec.getServiceAccountName() != null && !accounts.contains(spec.getServiceAccountName())) {
        problems.add(p + ": service account " + spec.getServiceAccountName() + " is not defined");
      }
      Set<String> volumes = new TreeSet<>();
      for (Volume v : nonNull(spec.getVolumes())) {
        volumes.add(v.getName());
        if (v.getSecret() != null && !secretKnown.apply(v.getSecret().getSecretName())) {
          problems.add(p + ": Secret " + v.getSecret().getSecretName() + " is neither defined nor created in README.md ('kubectl ... create secret ... " + v.getSecret().getSecretName() + "')");
        }
        if (v.getConfigMap() != null && !configMaps.containsKey(v.getConfigMap().getName())) {
          problems.add(p + ": ConfigMap " + v.getConfigMap().getName() + " is not defined");
        }
        if (v.getPersistentVolumeClaim() != null && !claims.contains(v.getPersistentVolumeClaim().getClaimName())) {
          problems.add(p + ": PersistentVolumeClaim " + v.getPersistentVolumeClaim().getClaimName() + " is not defined");
        }
      }
      for (Container c : allContainers(spec)) {
        for (VolumeMount m : nonNull(c.getVolumeMounts())) {
          if (!volumes.contains(m.getName())) {
            problems.add(p + " container " + c.getName() + ": mounts volume " + m.getName() + ", which the pod does not have");
          }
        }
        for (EnvVar e : nonNull(c.getEnv())) {
          if (e.getValueFrom() == null) {
            continue;
          }
          if (e.getValueFrom().getConfigMapKeyRef() != null) {
            ConfigMap cm = configMaps.get(e.getValueFrom().getConfigMapKeyRef().getName());
            if (cm == null || cm.getData() == null || !cm.getData().containsKey(e.getValueFrom().getConfigMapKeyRef().getKey())) {
              problems.add(p + " container " + c.getName() + ": env " + e.getName() + " reads ConfigMap " + e.getValueFrom().getConfigMapKeyRef().getName() + " key " + e.getValueFrom().getConfigMapKeyRef().getKey() + ", which is not defined");
            }
          }
          if (e.getValueFrom().getSecretKeyRef() != null && !secretKnown.apply(e.getValueFrom().getSecretKeyRef().getName())) {
            problems.add(p + " container " + c.getName() + ": env " + e.getName() + " reads Secret " + e.getValueFrom().getSecretKeyRef().getName() + ", which is neither defined nor created in README.md");
          }
          if (e.getValueFrom().getResourceFieldRef() != null) {
            String target = e.getValueFrom().getResourceFieldRef().getContainerName();
            if (target != null && allContainers(spec).stream().noneMatch(x -> target.equals(x.getName()))) {
              problems.add(p + " container " + c.getName() + ": env " + e.getName() + " reads the resources of container " + target + ", which the pod does not have");
            }
          }
        }
      }
    }
    for (StatefulSet s : objects(docs, StatefulSet.class)) {
      Service governing = services.get(s.getSpec().getServiceName());
      if (governing == null || !"None".equals(governing.getSpec().getClusterIP())) {
        problems.add("StatefulSet/" + s.getMetadata().getName() + ": serviceName " + s.getSpec().getServiceName() + " is not a headless Service among the manifests");
      }
    }
    return problems;
  }

  private static <T extends HasMetadata> Map<String, T> byName(List<T> objects) {
    Map<String, T> m = new LinkedHashMap<>();
    objects.forEach(o -> m.put(o.getMetadata().getName(), o));
    return m;
  }

  // ---- Caravan's own processes ------------------------------------------------------------------------------------

  /** A container that runs {@code caravan SUBCOMMAND}: its image's repository is "caravan" and it keeps the entrypoint. */
  static boolean runsCaravan(Container c) {
    String image = c.getImage() == null ? "" : c.getImage().replaceFirst(":[^/:]*$", "");
    return image.equals("caravan") && (c.getCommand() == null || c.getCommand().isEmpty()) && !nonNull(c.getArgs()).isEmpty();
  }

  /** The containers that run Caravan, with their pods. */
  record Process(Pod pod, Container container) {
    String subcommand() {
      return container.getArgs().get(0);
    }

    @Override
    public String toString() {
      return pod + " container " + container.getName();
    }
  }

  static List<Process> processes(List<Doc> docs) {
    List<Process> list = new ArrayList<>();
    for (Pod p : pods(docs)) {
      for (Container c : allContainers(p.spec())) {
        if (runsCaravan(c)) {
          list.add(new Process(p, c));
        }
      }
    }
    return list;
  }

  private static final Pattern VAR = Pattern.compile("\\$\\(([-._a-zA-Z][-._a-zA-Z0-9]*)\\)");
  /** What the downward API gives, standing in for a running pod. */
  static final String POD_IP = "10.42.0.7";

  /**
   * The container's arguments as the kubelet passes them: each {@code $(VAR)} replaced by the env var's value (a
   * literal, a ConfigMap key, the pod IP, or the container's memory limit in bytes). A reference that cannot be
   * resolved is a problem (Kubernetes would pass it on literally).
   */
  static List<String> expandedArgs(Process proc, List<Doc> docs, List<String> problems) {
    Map<String, String> env = new LinkedHashMap<>();
    Map<String, ConfigMap> configMaps = byName(objects(docs, ConfigMap.class));
    for (EnvVar e : nonNull(proc.container().getEnv())) {
      String value = e.getValue();
      if (e.getValueFrom() != null) {
        var from = e.getValueFrom();
        if (from.getFieldRef() != null && "status.podIP".equals(from.getFieldRef().getFieldPath())) {
          value = POD_IP;
        } else if (from.getConfigMapKeyRef() != null) {
          ConfigMap cm = configMaps.get(from.getConfigMapKeyRef().getName());
          value = cm == null || cm.getData() == null ? null : cm.getData().get(from.getConfigMapKeyRef().getKey());
        } else if (from.getResourceFieldRef() != null) {
          value = resourceField(proc, from.getResourceFieldRef());
        }
      }
      if (value != null) {
        env.put(e.getName(), value);
      }
    }
    List<String> out = new ArrayList<>();
    for (String arg : proc.container().getArgs()) {
      Matcher m = VAR.matcher(arg);
      StringBuilder sb = new StringBuilder();
      while (m.find()) {
        String v = env.get(m.group(1));
        if (v == null) {
          problems.add(proc + ": argument '" + arg + "' uses $(" + m.group(1) + "), which no env var of the container gives");
          v = m.group();
        }
        m.appendReplacement(sb, Matcher.quoteReplacement(v));
      }
      m.appendTail(sb);
      out.add(sb.toString());
    }
    return out;
  }

  private static String resourceField(Process proc, io.fabric8.kubernetes.api.model.ResourceFieldSelector ref) {
    if (!"limits.memory".equals(ref.getResource())) {
      return null;
    }
    Quantity limit = memoryLimit(proc.container());
    if (limit == null) {
      return null;
    }
    BigDecimal divisor = ref.getDivisor() == null ? BigDecimal.ONE : Quantity.getAmountInBytes(ref.getDivisor());
    return Quantity.getAmountInBytes(limit).divide(divisor, 0, java.math.RoundingMode.CEILING).toPlainString();
  }

  static Quantity memoryLimit(Container c) {
    return c.getResources() == null || c.getResources().getLimits() == null ? null : c.getResources().getLimits().get("memory");
  }

  /**
   * Parses each Caravan container's arguments with the real command classes ({@code caravan coordinator}, {@code caravan
   * worker}, ... through {@link Caravan#commandLine()}), without running them. Options the commands do not know are
   * listed by name; a value picocli refuses (a port that is no number, a malformed duration) is a problem too.
   */
  static List<String> argumentProblems(List<Doc> docs) {
    List<String> problems = new ArrayList<>();
    List<Process> procs = processes(docs);
    if (procs.isEmpty()) {
      problems.add("no container runs caravan: nothing to check the arguments of");
    }
    for (Process proc : procs) {
      List<String> args = expandedArgs(proc, docs, problems);
      CommandLine cl = Caravan.commandLine();
      cl.setUnmatchedArgumentsAllowed(true);
      try {
        ParseResult r = cl.parseArgs(args.toArray(String[]::new));
        if (!r.hasSubcommand()) {
          problems.add(proc + ": '" + args.get(0) + "' is no caravan subcommand");
          continue;
        }
        ParseResult sub = r.subcommand();
        List<String> unknown = sub.unmatched().stream().map(a -> a.startsWith("-") ? a.replaceFirst("=.*", "") : "'" + a + "'").distinct().toList();
        if (!unknown.isEmpty()) {
          problems.add(proc + ": caravan " + sub.commandSpec().name() + " does not know " + String.join(", ", unknown));
        }
      } catch (CommandLine.ParameterException e) {
        problems.add(proc + ": caravan " + String.join(" ", args) + ": " + e.getMessage());
      }
    }
    return problems;
  }

  /** The value of {@code --name} in {@code args} ({@code --name=v} or {@code --name v}), if given. */
  static Optional<String> option(List<String> args, String name) {
    for (int i = 0; i < args.size(); i++) {
      if (args.get(i).startsWith(name + "=")) {
        return Optional.of(args.get(i).substring(name.length() + 1));
      }
      if (args.get(i).equals(name) && i + 1 < args.size()) {
        return Optional.of(args.get(i + 1));
      }
    }
    return Optional.empty();
  }

  /** Which option sets the port each container port name stands for, per subcommand. */
  static final Map<String, Map<String, String>> PORT_OPTIONS = Map.of(
      "coordinator", Map.of("grpc", "--grpc-port", "http", "--http-port", "sink", "--internal-port", "hazelcast", "--hazelcast-port", "metrics", "--metrics-port"),
      "worker", Map.of("grpc", "--grpc-port", "hazelcast", "--hazelcast-port", "metrics", "--metrics-port"));

  /**
   * The arguments agree with the pod: each port Caravan listens on is given explicitly and declared under its name;
   * {@code --host} is the pod's IP; a file argument lies on a mounted volume; {@code --join-dns} names a headless
   * Service, published before its pods are ready, that selects the pods listening on that Hazelcast port.
   */
  static List<String> argumentAgreementProblems(List<Doc> docs) {
    List<String> problems = new ArrayList<>();
    Map<String, Service> services = byName(objects(docs, Service.class));
    List<Process> procs = processes(docs);
    for (Process proc : procs) {
      List<String> args = expandedArgs(proc, docs, new ArrayList<>());
      Map<String, String> ports = PORT_OPTIONS.get(proc.subcommand());
      if (ports == null) {
        continue; // a client subcommand (generate, status, ...): it listens on nothing
      }
      Map<String, Integer> declared = new LinkedHashMap<>();
      nonNull(proc.container().getPorts()).forEach(p -> declared.put(p.getName(), p.getContainerPort()));
      ports.forEach((portName, opt) -> {
        Optional<String> v = option(args, opt);
        if (v.isEmpty()) {
          problems.add(proc + ": " + opt + " is not given: the port named " + portName + " must be fixed in a pod");
        } else if (!v.get().equals(String.valueOf(declared.get(portName)))) {
          problems.add(proc + ": " + opt + "=" + v.get() + " but the container port named " + portName + " is " + declared.get(portName));
        }
      });
      if (!option(args, "--host").equals(Optional.of(POD_IP))) {
        problems.add(proc + ": --host must be the pod's IP ($(POD_IP) from the downward API's status.podIP), not " + option(args, "--host").orElse("the default 127.0.0.1"));
      }
      for (String a : args) {
        int eq = a.indexOf('=');
        String value = a.startsWith("--") && eq > 0 ? a.substring(eq + 1) : null;
        if (value != null && value.startsWith("/") && nonNull(proc.container().getVolumeMounts()).stream().noneMatch(m -> value.equals(m.getMountPath()) || value.startsWith(m.getMountPath().endsWith("/") ? m.getMountPath() : m.getMountPath() + "/"))) {
          problems.add(proc + ": " + a.substring(0, eq) + " names " + value + ", which lies on no mounted volume");
        }
      }
      option(args, "--join-dns").ifPresent(dns -> {
        String name = dns.replaceFirst(":\\d+$", "");
        int port = dns.matches(".*:\\d+$") ? Integer.parseInt(dns.replaceFirst(".*:", "")) : 5701;
        String service = name.split("\\.")[0];
        Service s = services.get(service);
        if (s == null) {
          problems.add(proc + ": --join-dns names Service " + service + ", which is not defined");
          return;
        }
        if (!"None".equals(s.getSpec().getClusterIP())) {
          problems.add(proc + ": --join-dns Service " + service + " must be headless (clusterIP: None): its DNS name must resolve to the pods, not a virtual IP");
        }
        if (!Boolean.TRUE.equals(s.getSpec().getPublishNotReadyAddresses())) {
          problems.add(proc + ": --join-dns Service " + service + " must set publishNotReadyAddresses: members join before they are ready");
        }
        if (nonNull(s.getSpec().getPorts()).stream().noneMatch(sp -> sp.getPort() == port)) {
          problems.add(proc + ": --join-dns port " + port + " is no port of Service " + service);
        }
        List<Process> targets = procs.stream().filter(x -> selects(s.getSpec().getSelector(), x.pod().labels())).toList();
        if (targets.isEmpty()) {
          problems.add(proc + ": --join-dns Service " + service + " selects no Caravan process");
        }
        for (Process t : targets) {
          if (!option(t.container().getArgs(), "--hazelcast-port").equals(Optional.of(String.valueOf(port)))) {
            problems.add(proc + ": --join-dns dials port " + port + " but " + t + " listens for Hazelcast on " + option(t.container().getArgs(), "--hazelcast-port").orElse("its default"));
          }
        }
      });
    }
    return problems;
  }

  // ---- hardening and sizing ---------------------------------------------------------------------------------------

  /**
   * Every pod runs as non-root under the RuntimeDefault seccomp profile without a service account token; every container
   * without privilege escalation, with a read-only root file system and no capabilities; Caravan's with /tmp on an
   * emptyDir.
   */
  static List<String> hardeningProblems(List<Doc> docs) {
    List<String> problems = new ArrayList<>();
    for (Pod p : pods(docs)) {
      var psc = p.spec().getSecurityContext();
      if (psc == null || !Boolean.TRUE.equals(psc.getRunAsNonRoot())) {
        problems.add(p + ": securityContext.runAsNonRoot must be true");
      }
      if (psc == null || psc.getSeccompProfile() == null || !"RuntimeDefault".equals(psc.getSeccompProfile().getType())) {
        problems.add(p + ": securityContext.seccompProfile must be RuntimeDefault");
      }
      if (!Boolean.FALSE.equals(p.spec().getAutomountServiceAccountToken())) {
        problems.add(p + ": automountServiceAccountToken must be false (nothing here talks to the API)");
      }
      for (Container c : allContainers(p.spec())) {
        var sc = c.getSecurityContext();
        String at = p + " container " + c.getName();
        if (sc == null || !Boolean.FALSE.equals(sc.getAllowPrivilegeEscalation())) {
          problems.add(at + ": allowPrivilegeEscalation must be false");
        }
        if (sc == null || !Boolean.TRUE.equals(sc.getReadOnlyRootFilesystem())) {
          problems.add(at + ": readOnlyRootFilesystem must be true");
        }
        if (sc == null || sc.getCapabilities() == null || !nonNull(sc.getCapabilities().getDrop()).contains("ALL") || !nonNull(sc.getCapabilities().getAdd()).isEmpty()) {
          problems.add(at + ": capabilities must drop ALL and add none");
        }
        if (sc != null && (Boolean.TRUE.equals(sc.getPrivileged()) || Objects.equals(sc.getRunAsUser(), 0L))) {
          problems.add(at + ": must not be privileged or run as user 0");
        }
        if (c.getResources() == null || memoryLimit(c) == null) {
          problems.add(at + ": needs a memory limit");
        }
        if (runsCaravan(c)) {
          Optional<VolumeMount> tmp = nonNull(c.getVolumeMounts()).stream().filter(m -> m.getMountPath().equals("/tmp")).findFirst();
          boolean emptyDir = tmp.isPresent() && nonNull(p.spec().getVolumes()).stream().anyMatch(v -> v.getName().equals(tmp.get().getName()) && v.getEmptyDir() != null);
          if (!emptyDir) {
            problems.add(at + ": /tmp must be an emptyDir (the root file system is read-only; the JVM and Netty write there)");
          }
        }
      }
    }
    return problems;
  }

  private static final Pattern XMX = Pattern.compile("(?:^|\\s)-Xmx(\\d+)([kKmMgG]?)(?:\\s|$)");

  /**
   * The memory arithmetic holds: each Caravan process sets its heap (-Xmx in JDK_JAVA_OPTIONS); the container's limit
   * leaves at least 512 MiB beside the heap; a worker's heap holds its KV budget plus 256 MiB, its memory request is
   * its limit, and it has no more compute threads than its CPU limit.
   */
  static List<String> sizingProblems(List<Doc> docs) {
    List<String> problems = new ArrayList<>();
    for (Process proc : processes(docs)) {
      if (!PORT_OPTIONS.containsKey(proc.subcommand())) {
        continue;
      }
      Container c = proc.container();
      String opts = nonNull(c.getEnv()).stream().filter(e -> e.getName().equals("JDK_JAVA_OPTIONS")).map(EnvVar::getValue).filter(Objects::nonNull).findFirst().orElse("");
      Matcher m = XMX.matcher(opts);
      Quantity limit = memoryLimit(c);
      if (!m.find()) {
        problems.add(proc + ": JDK_JAVA_OPTIONS must set -Xmx (the JVM's default, a quarter of the limit, ignores the KV budget)");
        continue;
      }
      if (limit == null) {
        continue; // hardeningProblems reports it
      }
      long mib = 1 << 20;
      long heap = Long.parseLong(m.group(1)) * switch (m.group(2).toLowerCase()) {
        case "k" -> 1 << 10;
        case "m" -> mib;
        case "g" -> 1L << 30;
        default -> 1;
      };
      long limitBytes = Quantity.getAmountInBytes(limit).longValueExact();
      if (limitBytes < heap + 512 * mib) {
        problems.add(proc + ": memory limit " + limit + " leaves less than 512 MiB beside the " + heap / mib + " MiB heap");
      }
      if (proc.subcommand().equals("worker")) {
        List<String> args = c.getArgs();
        long kv = option(args, "--kv-budget").map(Long::parseLong).orElse(0L);
        if (kv <= 0) {
          problems.add(proc + ": --kv-budget must be set: the KV cache lives on the heap, unbounded it grows until the pod is killed");
        } else if (heap < kv + 256 * mib) {
          problems.add(proc + ": the heap (" + heap / mib + " MiB) must hold --kv-budget (" + kv / mib + " MiB) plus 256 MiB");
        }
        Quantity request = c.getResources().getRequests() == null ? null : c.getResources().getRequests().get("memory");
        if (request == null || Quantity.getAmountInBytes(request).compareTo(Quantity.getAmountInBytes(limit)) != 0) {
          problems.add(proc + ": a worker's memory request must equal its limit (" + limit + "), not " + request);
        }
        Quantity cpu = c.getResources().getLimits().get("cpu");
        Optional<String> threads = option(args, "--threads");
        if (cpu == null || threads.isEmpty() || new BigDecimal(threads.get()).compareTo(Quantity.getAmountInBytes(cpu).setScale(0, java.math.RoundingMode.CEILING)) > 0) {
          problems.add(proc + ": --threads (" + threads.orElse("unset") + ") must be set and at most the CPU limit (" + cpu + ")");
        }
      }
    }
    return problems;
  }
}
