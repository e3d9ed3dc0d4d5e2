package dev.caravan.cluster;

/** Names shared by every member: Hazelcast maps and member attributes. */
public final class ClusterNames {
  private ClusterNames() {}

  /** IMap&lt;String model, Plan&gt;: the current plan of each model. */
  public static final String PLANS = "caravan.plans";
  /** IMap&lt;String cacheKey, SessionPlacement&gt;: where every live sequence's KV cache lives. */
  public static final String KV = "caravan.kv";
  /** IMap&lt;String workerUuid, Long epoch&gt;: the newest plan epoch whose layers the worker has loaded. */
  public static final String READY = "caravan.ready";
  /**
   * IMap&lt;String workerUuid, Long epoch&gt;: the workers held back as spares, each with the plan epoch whose ranges it
   * should keep loaded and warm (written by the coordinator; a worker not listed is no spare).
   */
  public static final String SPARES = "caravan.spares";
  /** IMap&lt;String workerUuid, String state&gt;: "draining" once a worker was asked to leave. */
  public static final String WORKER_STATE = "caravan.worker-state";

  public static final String ATTR_ROLE = "caravan.role";
  public static final String ATTR_GRPC = "caravan.grpc";
  public static final String ATTR_MODEL = "caravan.model";
  public static final String ATTR_MODEL_FINGERPRINT = "caravan.model-fingerprint";
  public static final String ATTR_MEMORY = "caravan.free-memory";
  public static final String ATTR_CORES = "caravan.cores";
  /** A worker's KV-cache budget in bytes (0: no limit). */
  public static final String ATTR_KV_BUDGET = "caravan.kv-budget";
  public static final String ATTR_SECONDS_PER_LAYER = "caravan.seconds-per-layer";
  /** An HMAC of the cluster's join secret over the member's role and gRPC address ({@code JoinSecret.memberProof}). */
  public static final String ATTR_MEMBER_PROOF = "caravan.member-proof";

  public static final String ROLE_COORDINATOR = "coordinator";
  public static final String ROLE_WORKER = "worker";
  public static final String STATE_DRAINING = "draining";
}
