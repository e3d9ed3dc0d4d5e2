package dev.caravan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import dev.caravan.cli.K8sManifests.Doc;
import dev.caravan.cli.K8sManifests.Loaded;
import dev.caravan.engine.TestData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * ops/k8s, validated without a cluster: every manifest read strictly into the typed Kubernetes model, then the checks
 * a schema cannot do ({@link K8sManifests}); the kustomization, the Dockerfile and the README held to the manifests.
 * Each check is also shown to fail on a broken manifest, so none passes by checking nothing.
 */
class K8sManifestsTest {
  private static final Path DIR = TestData.root().resolve("ops/k8s");

  private static Loaded manifests() {
    assertTrue(Files.isDirectory(DIR), "no " + DIR);
    Loaded l = K8sManifests.load(DIR);
    assertTrue(l.docs().size() >= 10, "expected the manifests in " + DIR + ", read " + l.docs());
    return l;
  }

  private static String readme() throws IOException {
    return Files.readString(DIR.resolve("README.md"));
  }

  private static void assertNone(List<String> problems) {
    assertTrue(problems.isEmpty(), problems.size() + " problem(s):\n  " + String.join("\n  ", problems));
  }

  private static void assertFound(List<String> problems, String... fragments) {
    for (String f : fragments) {
      assertTrue(problems.stream().anyMatch(p -> p.contains(f)), "expected a problem containing '" + f + "', got " + problems);
    }
  }

  // ---- the real manifests ---------------------------------------------------------------------------------------

  @Test
  void everyManifestReadsStrictlyIntoTheKubernetesModel() {
    Loaded l = manifests();
    assertNone(l.problems());
    Set<String> kinds = new TreeSet<>();
    l.docs().forEach(d -> kinds.add(d.kind()));
    assertEquals(new TreeSet<>(List.of("ConfigMap", "Deployment", "Job", "Namespace", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget", "Service", "ServiceAccount", "StatefulSet")), kinds);
    assertNone(K8sManifests.apiServerProblems(l.docs()));
  }

  @Test
  void selectorsSelectAndPortsExist() {
    assertNone(K8sManifests.selectorAndPortProblems(manifests().docs()));
  }

  @Test
  void everythingReferencedIsDefinedOrCreatedInTheReadme() throws IOException {
    assertNone(K8sManifests.referenceProblems(manifests().docs(), readme()));
  }

  /**
   * The arguments of every Caravan container parse with the real commands. Until the security branch (mutual TLS,
   * API keys, join secret) and the HTTP API are merged, this names exactly the options the commands do not know yet.
   */
  @Test
  void caravanArgumentsParseWithTheRealCommands() {
    Loaded l = manifests();
    assertEquals(Set.of("coordinator", "worker"), new TreeSet<>(K8sManifests.processes(l.docs()).stream().map(K8sManifests.Process::subcommand).toList()));
    assertNone(K8sManifests.argumentProblems(l.docs()));
  }

  @Test
  void argumentsAgreeWithPortsVolumesAndTheDiscoveryService() {
    assertNone(K8sManifests.argumentAgreementProblems(manifests().docs()));
  }

  @Test
  void podsAreHardenedAndSized() {
    Loaded l = manifests();
    assertNone(K8sManifests.hardeningProblems(l.docs()));
    assertNone(K8sManifests.sizingProblems(l.docs()));
  }

  /** kubectl apply -k: the kustomization lists every manifest but the examples, with their namespace. */
  @Test
  void kustomizationListsEveryManifest() throws IOException {
    JsonNode k = K8sManifests.MAPPER.readTree(Files.readString(DIR.resolve("kustomization.yaml")));
    assertEquals("kustomize.config.k8s.io/v1beta1", k.path("apiVersion").asString());
    assertEquals("Kustomization", k.path("kind").asString());
    Set<String> fields = new TreeSet<>(k.propertyNames());
    assertTrue(Set.of("apiVersion", "kind", "namespace", "resources", "images", "labels").containsAll(fields), "unexpected kustomization fields " + fields);
    Set<String> listed = new TreeSet<>();
    k.path("resources").forEach(r -> listed.add(r.asString()));
    Set<String> files = new TreeSet<>();
    try (Stream<Path> s = Files.list(DIR)) {
      s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml")).forEach(files::add);
    }
    assertEquals(files, listed);
    String ns = k.path("namespace").asString();
    for (Doc d : manifests().docs()) {
      if (!d.kind().equals("Namespace")) {
        assertEquals(ns, d.json().path("metadata").path("namespace").asString(), d + ": namespace");
      } else {
        assertEquals(ns, d.name());
      }
    }
    assertTrue(k.path("images").findValuesAsString("name").contains("caravan"));
  }

  /** The image runs the jar the build makes, with bin/caravan's JVM flags, as the user the pods expect. */
  @Test
  void dockerfileUsesTheLaunchersFlagsAndTheShadedJar() throws IOException {
    String dockerfile = Files.readString(DIR.resolve("Dockerfile"));
    String javaEnv = Files.readString(TestData.root().resolve("bin/lib/java-env.sh"));
    Matcher flags = Pattern.compile("CARAVAN_JVM_FLAGS=\\(([^)]*)\\)").matcher(javaEnv);
    assertTrue(flags.find(), "no CARAVAN_JVM_FLAGS=(...) in bin/lib/java-env.sh");
    // single quotes only keep bash from globbing a word
    List<String> launcher = List.of(flags.group(1).replace("'", "").trim().split("\\s+"));
    Matcher entry = Pattern.compile("(?m)^ENTRYPOINT (\\[.*])$").matcher(dockerfile);
    assertTrue(entry.find(), "no exec-form ENTRYPOINT");
    List<String> entrypoint = new ArrayList<>();
    new JsonMapper().readTree(entry.group(1)).forEach(n -> entrypoint.add(n.asString()));
    List<String> expected = new ArrayList<>(List.of("java"));
    expected.addAll(launcher);
    expected.addAll(List.of("-XX:+ExitOnOutOfMemoryError", "-jar", "/opt/caravan/caravan.jar"));
    assertEquals(expected, entrypoint);
    Matcher env = Pattern.compile("(?m)^ENV CARAVAN_JVM_FLAGS=\"([^\"]*)\"$").matcher(dockerfile);
    assertTrue(env.find());
    assertEquals(expected.subList(1, expected.size() - 2), List.of(env.group(1).split(" ")));
    // the shaded jar's name (cli/pom.xml finalName) and the user the pods run as
    String pom = Files.readString(TestData.root().resolve("cli/pom.xml"));
    assertTrue(pom.contains("<finalName>caravan</finalName>"));
    assertTrue(dockerfile.contains("COPY cli/target/caravan.jar /opt/caravan/caravan.jar"));
    assertTrue(dockerfile.contains("USER 10001:10001"));
    for (K8sManifests.Pod p : K8sManifests.pods(manifests().docs())) {
      assertEquals(10001L, p.spec().getSecurityContext().getRunAsUser(), p + ": runAsUser");
    }
    assertTrue(Files.readString(DIR.resolve("Dockerfile.dockerignore")).contains("!cli/target/caravan.jar"));
  }

  // ---- the checks catch what they are for ------------------------------------------------------------------------

  private static final String DEPLOYMENT = """
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: web
        namespace: caravan
      spec:
        replicas: 1
        selector:
          matchLabels: {app: web}
        template:
          metadata:
            labels: {app: web}
          spec:
            containers:
              - name: web
                image: nginx:1
                imagePullPolicy: IfNotPresent
                ports:
                  - name: http
                    containerPort: 80
      """;

  private static List<String> readProblems(String yaml) {
    return K8sManifests.read("fixture.yaml", yaml).problems();
  }

  @Test
  void theModelReadsAGoodFixture() {
    Loaded l = K8sManifests.read("fixture.yaml", DEPLOYMENT);
    assertNone(l.problems());
    assertEquals(1, l.docs().size());
    assertNone(K8sManifests.apiServerProblems(l.docs()));
  }

  @Test
  void unknownFieldsAnywhereAreRefusedWithTheirPath() {
    assertFound(readProblems(DEPLOYMENT.replace("imagePullPolicy", "imagePullPolicyy")), "spec.template.spec.containers[0].imagePullPolicyy: unknown field");
    assertFound(readProblems(DEPLOYMENT.replace("  replicas: 1", "  replica: 1")), "spec.replica: unknown field");
    assertFound(readProblems(DEPLOYMENT.replace("    containers:", "    contianers:")), "spec.template.spec.contianers: unknown field");
    assertFound(readProblems(DEPLOYMENT.replace("containerPort: 80", "containerPort: 80\n              hostPortt: 1")), "ports[0].hostPortt: unknown field");
    assertFound(readProblems(DEPLOYMENT.replace("  name: web\n  namespace", "  name: web\n  labelz: {a: b}\n  namespace")), "metadata.labelz: unknown field");
  }

  @Test
  void wrongTypesKindsAndVersionsAreRefused() {
    assertFound(readProblems(DEPLOYMENT.replace("replicas: 1", "replicas: two")), "Deployment/web: spec.replicas: ");
    assertFound(readProblems(DEPLOYMENT.replace("replicas: 1", "replicas: \"1\"")), "Deployment/web: spec.replicas: "); // no string-to-int coercion
    assertFound(readProblems(DEPLOYMENT.replace("containers:\n", "containers:\n        - 7\n")), "containers[0]: expected a mapping");
    assertFound(readProblems(DEPLOYMENT.replace("apiVersion: apps/v1", "apiVersion: apps/v1beta1")), "no Kubernetes model for apiVersion 'apps/v1beta1' kind 'Deployment'");
    assertFound(readProblems(DEPLOYMENT.replace("kind: Deployment", "kind: Deploymnt")), "kind 'Deploymnt'");
    assertFound(readProblems(DEPLOYMENT.replace("  replicas: 1", "  replicas: 1\n  replicas: 2")), "fixture.yaml: not YAML the model reads", "uplicate");
    assertFound(readProblems("- a\n- b\n"), "a document must be a mapping");
    assertFound(readProblems(SERVICE.replace("targetPort: http", "targetPort: {name: http}")), "targetPort: expected an integer or a string");
    assertFound(readProblems(DEPLOYMENT.replace("containerPort: 80", "containerPort: 80\n              protocol: [TCP]")), "Deployment/web");
  }

  @Test
  void namesTheApiServerRefusesAreFound() {
    List<Doc> docs = K8sManifests.read("f", DEPLOYMENT.replace("name: http", "name: hazelcast-member-port").replace("name: web\n  namespace", "name: Web_1\n  namespace")).docs();
    assertFound(K8sManifests.apiServerProblems(docs), "not an IANA service name", "metadata.name 'Web_1'");
    docs = K8sManifests.read("f", DEPLOYMENT.replace("          image: nginx:1\n", "")).docs();
    assertFound(K8sManifests.apiServerProblems(docs), "no image");
  }

  private static final String SERVICE = """
      ---
      apiVersion: v1
      kind: Service
      metadata:
        name: web
        namespace: caravan
      spec:
        selector: {app: web}
        ports:
          - name: http
            port: 80
            targetPort: http
      """;

  @Test
  void selectorsThatSelectNothingAndMissingPortsAreFound() {
    assertNone(K8sManifests.selectorAndPortProblems(K8sManifests.read("f", DEPLOYMENT + SERVICE).docs()));
    assertFound(K8sManifests.selectorAndPortProblems(K8sManifests.read("f", DEPLOYMENT + SERVICE.replace("selector: {app: web}", "selector: {app: wbe}")).docs()), "selects no pod template");
    assertFound(K8sManifests.selectorAndPortProblems(K8sManifests.read("f", DEPLOYMENT + SERVICE.replace("targetPort: http", "targetPort: htp")).docs()), "targets 'htp'");
    assertFound(K8sManifests.selectorAndPortProblems(K8sManifests.read("f", DEPLOYMENT.replace("matchLabels: {app: web}", "matchLabels: {app: other}")).docs()), "does not select its own pod template");
    String probed = DEPLOYMENT.replace("imagePullPolicy: IfNotPresent", "imagePullPolicy: IfNotPresent\n          livenessProbe:\n            grpc: {port: 7070}");
    assertFound(K8sManifests.selectorAndPortProblems(K8sManifests.read("f", probed).docs()), "gRPC probe uses port 7070");
    String scraped = DEPLOYMENT.replace("labels: {app: web}\n    spec", "labels: {app: web}\n      annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"9400\"}\n    spec");
    assertFound(K8sManifests.selectorAndPortProblems(K8sManifests.read("f", scraped).docs()), "prometheus.io/port '9400'");
  }

  @Test
  void undefinedSecretsConfigMapsAndClaimsAreFound() {
    String withVolumes = DEPLOYMENT.replace("imagePullPolicy: IfNotPresent\n", """
        imagePullPolicy: IfNotPresent
                  env:
                    - name: M
                      valueFrom:
                        configMapKeyRef: {name: cfg, key: model}
                  volumeMounts:
                    - {name: s, mountPath: /s}
                    - {name: d, mountPath: /d}
        """).concat("""
              volumes:
                - name: s
                  secret: {secretName: web-tls}
                - name: d
                  persistentVolumeClaim: {claimName: data}
        """);
    List<Doc> docs = K8sManifests.read("f", withVolumes).docs();
    assertNone(K8sManifests.read("f", withVolumes).problems());
    assertFound(K8sManifests.referenceProblems(docs, ""), "Secret web-tls is neither defined nor created in README.md", "PersistentVolumeClaim data is not defined", "ConfigMap cfg key model");
    // a Secret the README creates is fine
    assertFalse(String.join("\n", K8sManifests.referenceProblems(docs, "kubectl -n caravan create secret generic web-tls --from-file=x")).contains("web-tls"));
  }

  private static final String CARAVAN_WORKER = """
      apiVersion: apps/v1
      kind: StatefulSet
      metadata: {name: w, namespace: caravan}
      spec:
        serviceName: w
        selector:
          matchLabels: {app: w}
        template:
          metadata:
            labels: {app: w}
          spec:
            containers:
              - name: worker
                image: caravan:0.1.0
                args: [worker, --model=/models/m.gguf, --join-dns=hz:5701, --host=$(POD_IP), --grpc-port=7080, --hazelcast-port=5701, --metrics-port=9400, --threads=2, --kv-budget=1048576]
                env:
                  - name: POD_IP
                    valueFrom:
                      fieldRef: {fieldPath: status.podIP}
                ports:
                  - {name: grpc, containerPort: 7080}
                  - {name: hazelcast, containerPort: 5701}
                  - {name: metrics, containerPort: 9400}
                volumeMounts:
                  - {name: models, mountPath: /models}
            volumes:
              - name: models
                emptyDir: {}
      ---
      apiVersion: v1
      kind: Service
      metadata: {name: hz, namespace: caravan}
      spec:
        clusterIP: None
        publishNotReadyAddresses: true
        selector: {app: w}
        ports:
          - {name: hazelcast, port: 5701}
      """;

  @Test
  void argumentsTheCommandsRefuseAreNamed() {
    Loaded ok = K8sManifests.read("f", CARAVAN_WORKER);
    assertNone(ok.problems());
    assertNone(K8sManifests.argumentProblems(ok.docs()));
    assertNone(K8sManifests.argumentAgreementProblems(ok.docs()));
    List<String> p = K8sManifests.argumentProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--threads=2", "--threads=2, --thredas=4, --no-such-flag")).docs());
    assertFound(p, "caravan worker does not know --thredas, --no-such-flag");
    assertFound(K8sManifests.argumentProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--grpc-port=7080", "--grpc-port=seventy")).docs()), "--grpc-port");
    assertFound(K8sManifests.argumentProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("args: [worker", "args: [wroker")).docs()), "wroker");
    assertFound(K8sManifests.argumentProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--host=$(POD_IP)", "--host=$(POD_ADDRESS)")).docs()), "uses $(POD_ADDRESS)");
  }

  @Test
  void argumentsThatDisagreeWithThePodAreFound() {
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--grpc-port=7080", "--grpc-port=7081")).docs()), "--grpc-port=7081 but the container port named grpc is 7080");
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace(", --metrics-port=9400", "")).docs()), "--metrics-port is not given");
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--host=$(POD_IP)", "--host=0.0.0.0")).docs()), "--host must be the pod's IP");
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--model=/models/m.gguf", "--model=/data/m.gguf")).docs()), "--model names /data/m.gguf, which lies on no mounted volume");
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("--join-dns=hz:5701", "--join-dns=hzz:5701")).docs()), "Service hzz, which is not defined");
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("  publishNotReadyAddresses: true\n", "")).docs()), "publishNotReadyAddresses");
    assertFound(K8sManifests.argumentAgreementProblems(K8sManifests.read("f", CARAVAN_WORKER.replace("clusterIP: None", "clusterIP: 10.0.0.9")).docs()), "must be headless");
  }

  @Test
  void unhardenedAndMissizedPodsAreFound() {
    List<Doc> docs = K8sManifests.read("f", CARAVAN_WORKER).docs();
    assertFound(K8sManifests.hardeningProblems(docs), "runAsNonRoot must be true", "seccompProfile", "automountServiceAccountToken", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities must drop ALL", "needs a memory limit", "/tmp must be an emptyDir");
    assertFound(K8sManifests.sizingProblems(docs), "JDK_JAVA_OPTIONS must set -Xmx");
    String sized = CARAVAN_WORKER
        .replace("          ports:\n", "          resources:\n            requests: {memory: 1Gi, cpu: \"1\"}\n            limits: {memory: 1Gi, cpu: \"1\"}\n          ports:\n")
        .replace("            - name: POD_IP\n", "            - name: JDK_JAVA_OPTIONS\n              value: -Xmx900m\n            - name: POD_IP\n");
    assertNone(K8sManifests.read("f", sized).problems());
    assertFound(K8sManifests.sizingProblems(K8sManifests.read("f", sized).docs()), "leaves less than 512 MiB beside the 900 MiB heap", "--threads (2) must be set and at most the CPU limit");
  }
}
