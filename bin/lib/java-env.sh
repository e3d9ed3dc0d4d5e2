# Sourced by bin/caravan, ops/* and .ci/run: finds a JDK >= 25 and exports JAVA_HOME and PATH,
# or exits with a message that says what to install. Nothing else here has side effects.
# caravan_require_maven: for the scripts that build, the same for Maven.

caravan_jdk_major() {
  # prints the major version of the JDK at $1, from its release file; empty if none
  local rel="$1/release" v
  [ -r "$rel" ] || return 0
  v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel" | head -n 1)
  printf '%s' "$v"
}

caravan_find_jdk() {
  local candidate major
  for candidate in "${CARAVAN_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-*-jdk-* /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
    major=$(caravan_jdk_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 25 ] 2>/dev/null; then
      printf '%s' "$candidate"
      return 0
    fi
  done
  return 1
}

if ! CARAVAN_JDK=$(caravan_find_jdk); then
  echo "caravan: needs a JDK 25 or newer and found none (JAVA_HOME=${JAVA_HOME:-unset}; looked in /usr/lib/jvm)." >&2
  echo "caravan: install Temurin 25 (https://adoptium.net, or the temurin-25-jdk package from Adoptium's apt repository)" >&2
  echo "caravan: and point JAVA_HOME or CARAVAN_JAVA_HOME at it. Debian's own packages stop at OpenJDK 17." >&2
  exit 3
fi
export JAVA_HOME="$CARAVAN_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
# Guava (inside gRPC) warns about sun.misc.Unsafe on 25; Java 17 would reject this flag, so it lives here
case " ${MAVEN_OPTS:-} " in
  *sun-misc-unsafe-memory-access*) ;;
  *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
esac

caravan_require_maven() {
  command -v mvn >/dev/null 2>&1 && return 0
  echo "caravan: needs Maven 3.8 or newer to build and found no mvn on PATH." >&2
  echo "caravan: install it (Debian/Ubuntu: apt-get install maven; or https://maven.apache.org/download.cgi) and retry." >&2
  exit 3
}

# Flags every Caravan JVM needs: the Vector API, native access, and what Hazelcast wants on 25; and the engine's kernels
# compiled by C2 after 2 % of the usual invocations (until then Vector API code runs 100x slower, and the first token
# of a 1.1B model waits for it: about 1 s less from start to first token; "quiet" keeps the JVM from echoing the command);
# and a heap that gives back what a burst of requests made it grow: a collection after 5 s without one, at most 30 %
# of the heap left free (a worker's anonymous memory after 16 streams: 440 -> 344 MB, with MALLOC_ARENA_MAX=2 set by
# bin/caravan); and the read of a memory segment's unaligned shorts always inlined: in some JVMs C2 compiled the Q8_0
# decode kernel with the fp16 scale read of every block as an out-of-line call (perf: ~10 % of the samples in
# Unsafe.getShortUnaligned) and decoded 2.4x slower for the process's whole life: 6 of the 10 one-worker clusters
# started on 2026-12-07 without this flag, 0 of 6 with it
CARAVAN_JVM_FLAGS=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
  -XX:CompileCommand=quiet '-XX:CompileCommand=CompileThresholdScaling,dev.caravan.engine.tensor.*::*,0.02'
  '-XX:CompileCommand=inline,jdk.internal.misc.Unsafe::getShortUnaligned'
  -XX:G1PeriodicGCInterval=5000 -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30
  --sun-misc-unsafe-memory-access=allow
  --add-modules java.se --add-exports java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.management/sun.management=ALL-UNNAMED
  --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
  -Dhazelcast.phone.home.enabled=false -Dhazelcast.logging.type=slf4j)
