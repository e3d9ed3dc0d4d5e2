package dev.caravan.worker;

import dev.caravan.cluster.Activations;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LayerRange;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.model.LlamaWeights;
import dev.caravan.engine.model.LayerStack;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.SequenceChunk;
import dev.caravan.proto.v1.SessionStatus;
import dev.caravan.proto.v1.StageError;
import dev.caravan.proto.v1.StageStatus;
import io.grpc.Status;
import java.io.IOException;
import java.time.Duration;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stages a worker runs — one per plan epoch it takes part in — and the KV cache of every session on them. The domain
 * behind the Shard service: frames in, frames out; no threads, streams or cluster here. Every method that touches
 * stages or caches runs on the worker's one compute thread (see {@link FrameRouter}), so nothing here needs locks beyond
 * the published stage map.
 */
final class StageHost implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(StageHost.class);
  /** Most tokens one frame may carry. */
  static final int MAX_FRAME_TOKENS = 8192;

  /** A session's cache on one stage, and when it was last used. */
  static final class Session {
    final KvCache cache;
    long lastUsedNanos;

    Session(KvCache cache, long now) {
      this.cache = cache;
      this.lastUsedNanos = now;
    }
  }

  /** This worker's part of one plan. */
  static final class HostedStage {
    final long epoch;
    final int index;
    final int stageCount;
    final LayerRange range;
    final LlamaModel model;
    final String nextAddress; // null on the last stage
    final Map<String, Session> sessions = new HashMap<>();

    HostedStage(long epoch, int index, int stageCount, LayerRange range, LlamaModel model, String nextAddress) {
      this.epoch = epoch;
      this.index = index;
      this.stageCount = stageCount;
      this.range = range;
      this.model = model;
      this.nextAddress = nextAddress;
    }

    LayerStack compute() {
      return model.layers();
    }
  }

  private final Path modelPath;
  private final Parallel parallel;
  private final WorkerMetrics metrics;
  private final Supplier<String> selfAddress;
  private volatile long kvBudgetBytes;
  private final Map<Long, HostedStage> stages = new ConcurrentHashMap<>();
  /** Ranges a spare keeps loaded and warm for the stage it may take over; {@link #install} takes its model from here. */
  private final Map<LayerRange, LlamaModel> spareRanges = new ConcurrentHashMap<>();

  /** @param selfAddress this worker's gRPC address, named in error frames (known once its server is bound) */
  StageHost(Path modelPath, Parallel parallel, WorkerMetrics metrics, Supplier<String> selfAddress) {
    this.modelPath = modelPath;
    this.parallel = parallel;
    this.metrics = metrics;
    this.selfAddress = selfAddress;
  }

  /** Loads this worker's layers of {@code plan} (reusing an open model of the same range). Returns the stage, or null if the plan does not involve us. */
  synchronized HostedStage install(Plan plan, String selfUuid) throws IOException {
    StageAssignment mine = plan.stageOf(selfUuid).orElse(null);
    if (mine == null) {
      return null;
    }
    HostedStage existing = stages.get(plan.epoch());
    if (existing != null) {
      return existing;
    }
    LlamaModel model = null;
    for (HostedStage s : stages.values()) {
      if (s.range.equals(mine.range())) {
        model = s.model;
      }
    }
    if (model == null) {
      model = spareRanges.remove(mine.range()); // a spare taking over: loaded and warm already
      if (model != null) {
        LOG.info("taking over layers {} as a spare: loaded already (t={} ms)", mine.range(), System.nanoTime() / 1_000_000);
      }
    }
    if (model == null) {
      long t0 = System.nanoTime();
      model = LlamaModel.open(modelPath, mine.range(), parallel, bytes -> {});
      LOG.info("loaded layers {} of {} in {} ms (t={} ms)", mine.range(), modelPath.getFileName(), (System.nanoTime() - t0) / 1_000_000, System.nanoTime() / 1_000_000);
    }
    String next = mine.index() + 1 < plan.stages().size() ? plan.stages().get(mine.index() + 1).grpcAddress() : null;
    HostedStage stage = new HostedStage(plan.epoch(), mine.index(), plan.stages().size(), mine.range(), model, next);
    stages.put(plan.epoch(), stage);
    metrics.layers.set(mine.range().size());
    metrics.weightBytes.set(LlamaWeights.bytesOf(model.file(), model.config(), mine.range()));
    LOG.info("serving stage {} of plan #{}: layers {}, next hop {}", mine.index(), plan.epoch(), mine.range(), next == null ? "coordinator" : next);
    return stage;
  }

  /**
   * Opens the layers of {@code range} for a stage this worker may take over as a spare (loader thread); false when they
   * are open already. {@link #warmUp} then runs them once.
   */
  synchronized boolean prepareSpare(LayerRange range) throws IOException {
    if (spareRanges.containsKey(range)) {
      return false;
    }
    spareRanges.put(range, LlamaModel.open(modelPath, range, parallel, bytes -> {}));
    return true;
  }

  /**
   * Runs a spare range over and over for {@code budget} — a prompt-sized batch, then a few decode tokens, on a throwaway
   * cache — and at least once, so its weights are paged in and both code paths compiled (by the JIT's optimizing tier,
   * which wants many runs, not one) before a failover needs them. Compute thread. Returns the passes run.
   */
  int warmUp(LayerRange range, Duration budget) {
    LlamaModel model = spareRanges.get(range);
    if (model == null) {
      return 0;
    }
    LayerStack compute = model.layers();
    int dim = compute.config().dim();
    long end = System.nanoTime() + budget.toNanos();
    int passes = 0;
    do {
      KvCache cache = compute.newCache(32);
      for (int tokens : new int[] {16, 1, 1, 1, 1}) {
        Batch batch = new Batch(tokens);
        int start = cache.length();
        for (int i = 0; i < tokens; i++) {
          batch.add(1, start + i, cache, i == tokens - 1);
        }
        float[] hidden = compute.isFirst() ? null : new float[tokens * dim]; // [tokens, dim]
        compute.forward(batch, hidden, new float[compute.outputSize(batch)]);
      }
      passes++;
    } while (System.nanoTime() < end && passes < MAX_WARM_UP_PASSES);
    return passes;
  }

  /** Enough passes for the JIT on the smallest models; bigger ones reach the time budget first. */
  private static final int MAX_WARM_UP_PASSES = 400;

  /**
   * Serves frames of {@code epoch} — a warm-up epoch below every real one — through the spare range of {@code stage},
   * as that stage of a {@code stageCount}-stage plan with no next hop (results go to the frame's reply-to), so a spare's
   * frame path runs once before a failover needs it. Returns the hidden size the stage takes (for its input frame).
   */
  synchronized int hostWarmUp(long epoch, StageAssignment stage, int stageCount) {
    LlamaModel model = spareRanges.get(stage.range());
    for (HostedStage h : stages.values()) {
      if (model == null && h.epoch > 0 && h.range.equals(stage.range())) {
        model = h.model; // a range this worker serves: warmed once, right after it was installed
      }
    }
    if (model == null || epoch > 0) {
      throw new IllegalStateException("no open range " + stage.range() + " to warm up, or " + epoch + " is a real plan's epoch");
    }
    stages.put(epoch, new HostedStage(epoch, stage.index(), stageCount, stage.range(), model, null));
    return model.config().dim();
  }

  /** Stops serving a warm-up epoch; its model stays among the spare ranges. */
  synchronized void dropWarmUp(long epoch) {
    stages.remove(epoch);
  }

  /** Closes the spare ranges not in {@code keep} (this worker is no spare any more, or the plan's ranges moved). */
  synchronized void keepSpareRanges(java.util.Set<LayerRange> keep) {
    for (Iterator<Map.Entry<LayerRange, LlamaModel>> it = spareRanges.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<LayerRange, LlamaModel> e = it.next();
      if (!keep.contains(e.getKey())) {
        it.remove();
        e.getValue().close();
      }
    }
  }

  /** Drops stages (and their caches) of epochs below {@code epoch}; closes models no remaining stage uses. */
  synchronized int retireBelow(long epoch) {
    int dropped = 0;
    for (Iterator<Map.Entry<Long, HostedStage>> it = stages.entrySet().iterator(); it.hasNext(); ) {
      HostedStage s = it.next().getValue();
      if (s.epoch < epoch) {
        it.remove();
        dropped += s.sessions.size();
        if (stages.values().stream().noneMatch(o -> o.model == s.model) && !spareRanges.containsValue(s.model)) {
          s.model.close();
        }
        LOG.info("retired stage {} of plan #{}", s.index, s.epoch);
      }
    }
    updateGauges();
    return dropped;
  }

  boolean holds(long epoch) {
    return stages.containsKey(epoch);
  }

  /** The newest plan epoch this worker has installed a stage of (0: none). */
  long newestEpoch() {
    long newest = 0;
    for (long e : stages.keySet()) {
      newest = Math.max(newest, e);
    }
    return newest;
  }

  /**
   * Runs one frame through this worker's stage of the frame's plan.
   *
   * @return the frame for the next hop: activations for the next stage, logits for the coordinator, or an error frame
   */
  ActivationFrame process(ActivationFrame frame) {
    HostedStage stage = stages.get(frame.getPlanEpoch());
    try {
      if (stage == null) {
        throw Status.UNAVAILABLE.withDescription("worker " + selfAddress.get() + " holds no stage of plan #" + frame.getPlanEpoch() + " (holds " + stages.keySet() + ")").asRuntimeException();
      }
      if (frame.getStage() != stage.index) {
        throw Status.INVALID_ARGUMENT.withDescription("frame is for stage " + frame.getStage() + " but this worker runs stage " + stage.index + " of plan #" + stage.epoch).asRuntimeException();
      }
      return run(stage, frame);
    } catch (RuntimeException e) {
      metrics.frameErrors.inc();
      Status s = Status.fromThrowable(e);
      String message = s.getCode() == Status.Code.UNKNOWN ? String.valueOf(e.getMessage()) : s.getDescription();
      if (s.getCode() == Status.Code.UNKNOWN) {
        LOG.warn("frame {} failed on stage {}", frame.getBatchId(), frame.getStage(), e);
      }
      return errorFrame(frame, s.getCode() == Status.Code.UNKNOWN ? Status.Code.INTERNAL : s.getCode(), message);
    }
  }

  ActivationFrame errorFrame(ActivationFrame frame, Status.Code code, String message) {
    return errorFrame(frame, code, message, selfAddress.get());
  }

  /** An error frame about {@code frame}'s stage, run by the worker at {@code workerAddress} (this one, or a lost next hop). */
  ActivationFrame errorFrame(ActivationFrame frame, Status.Code code, String message, String workerAddress) {
    return ActivationFrame.newBuilder()
        .setBatchId(frame.getBatchId())
        .setPlanEpoch(frame.getPlanEpoch())
        .setStage(frame.getStage())
        .setReplyTo(frame.getReplyTo())
        .setError(StageError.newBuilder().setStage(frame.getStage()).setWorkerAddress(workerAddress).setCode(code.name()).setMessage(message))
        .build();
  }

  private ActivationFrame run(HostedStage stage, ActivationFrame frame) {
    LayerStack compute = stage.compute();
    int dim = compute.config().dim();
    long now = System.nanoTime();

    // the batch: each session continues (or rewinds) its own cache
    int n = 0;
    for (SequenceChunk c : frame.getSequencesList()) {
      if (c.getTokenCount() <= 0) {
        throw Status.INVALID_ARGUMENT.withDescription("session " + c.getCacheKey() + " has " + c.getTokenCount() + " tokens in frame " + frame.getBatchId()).asRuntimeException();
      }
      n += c.getTokenCount();
    }
    if (n == 0 || n > MAX_FRAME_TOKENS) {
      throw Status.INVALID_ARGUMENT.withDescription("frame " + frame.getBatchId() + " carries " + n + " tokens; a frame holds 1 to " + MAX_FRAME_TOKENS).asRuntimeException();
    }
    Batch batch = new Batch(n);
    long growthBytes = 0; // KV this frame adds to the caches
    for (SequenceChunk c : frame.getSequencesList()) {
      Session session = stage.sessions.get(c.getCacheKey());
      if (session == null) {
        if (c.getStartPosition() != 0) {
          throw Status.FAILED_PRECONDITION.withDescription("session " + c.getCacheKey() + " continues at position " + c.getStartPosition() + " but stage " + stage.index + " holds no cache for it (released or expired)").asRuntimeException();
        }
        session = new Session(compute.newCache(), now);
        stage.sessions.put(c.getCacheKey(), session);
      }
      KvCache cache = session.cache;
      if (c.getStartPosition() < cache.length()) {
        cache.truncate(c.getStartPosition());
      } else if (c.getStartPosition() > cache.length()) {
        throw Status.FAILED_PRECONDITION.withDescription("session " + c.getCacheKey() + " continues at position " + c.getStartPosition() + " but stage " + stage.index + " holds only " + cache.length()).asRuntimeException();
      }
      if (c.getStartPosition() + c.getTokenCount() > cache.capacity()) {
        throw Status.RESOURCE_EXHAUSTED.withDescription("session " + c.getCacheKey() + " would grow to " + (c.getStartPosition() + c.getTokenCount()) + " positions, past the context length " + cache.capacity()).asRuntimeException();
      }
      int grow = Math.max(0, (c.getStartPosition() + c.getTokenCount() + KvCache.BLOCK_TOKENS - 1) / KvCache.BLOCK_TOKENS - cache.blocks());
      growthBytes += grow * cache.blockBytes();
      session.lastUsedNanos = now;
      if (compute.isFirst() && c.getTokenIdsCount() != c.getTokenCount()) {
        throw Status.INVALID_ARGUMENT.withDescription("stage 0 needs token ids: session " + c.getCacheKey() + " has " + c.getTokenIdsCount() + " ids for " + c.getTokenCount() + " tokens").asRuntimeException();
      }
      for (int i = 0; i < c.getTokenCount(); i++) {
        batch.add(compute.isFirst() ? c.getTokenIds(i) : 0, c.getStartPosition() + i, cache, c.getLogits() && i == c.getTokenCount() - 1);
      }
    }

    if (kvBudgetBytes > 0 && growthBytes > 0 && kvBytes() + growthBytes > kvBudgetBytes) {
      throw Status.RESOURCE_EXHAUSTED.withDescription("worker " + selfAddress.get() + ": its KV budget of " + kvBudgetBytes + " bytes (--kv-budget) is full: " + kvBytes() + " held, frame " + frame.getBatchId() + " needs " + growthBytes + " more").asRuntimeException();
    }

    // the previous stage's hidden states
    float[] hidden = null;
    if (!compute.isFirst()) {
      hidden = new float[n * dim];
      try {
        Activations.fromTensor(frame.getActivations(), n, dim, hidden);
      } catch (IllegalArgumentException e) {
        throw Status.INVALID_ARGUMENT.withDescription("frame " + frame.getBatchId() + ": " + e.getMessage()).asRuntimeException();
      }
      metrics.activationBytes.labelValues("in").inc(frame.getActivations().getData().size());
    }

    // this stage's layers
    float[] out = new float[compute.outputSize(batch)];
    long t0 = System.nanoTime();
    try {
      compute.forward(batch, hidden, out);
    } catch (IllegalArgumentException e) {
      throw Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException();
    }
    metrics.forwardSeconds.labelValues(Integer.toString(stage.index)).observe((System.nanoTime() - t0) / 1e9);
    metrics.tokens.labelValues(Integer.toString(stage.index)).inc(n);
    updateGauges();

    // onward: hidden states to the next stage, or logits to the coordinator
    int rows = compute.isLast() ? batch.logitsCount() : n;
    int cols = compute.isLast() ? compute.config().vocabSize() : dim;
    ActivationFrame.Builder next = ActivationFrame.newBuilder()
        .setBatchId(frame.getBatchId())
        .setPlanEpoch(frame.getPlanEpoch())
        .setStage(frame.getStage() + 1)
        .setReplyTo(frame.getReplyTo())
        .setActivations(Activations.toTensor(out, rows, cols));
    for (SequenceChunk c : frame.getSequencesList()) {
      next.addSequences(c.toBuilder().clearTokenIds());
    }
    ActivationFrame result = next.build();
    metrics.activationBytes.labelValues("out").inc(result.getActivations().getData().size());
    return result;
  }

  /** The address the result of a frame of {@code epoch} goes to: the next stage, or null when this is the last. */
  String nextHop(long epoch) {
    HostedStage s = stages.get(epoch);
    return s == null ? null : s.nextAddress;
  }

  /** Frees the caches of {@code sessionIds} in {@code epoch} (0: every epoch). Returns [sessions, bytes]. */
  long[] release(List<String> sessionIds, long epoch) {
    long count = 0;
    long bytes = 0;
    for (HostedStage s : stages.values()) {
      if (epoch != 0 && s.epoch != epoch) {
        continue;
      }
      for (String id : sessionIds) {
        Session gone = s.sessions.remove(id);
        if (gone != null) {
          count++;
          bytes += gone.cache.bytes();
        }
      }
    }
    updateGauges();
    return new long[] {count, bytes};
  }

  /** Frees sessions idle for longer than {@code idleNanos}. */
  int expireIdle(long idleNanos) {
    long now = System.nanoTime();
    int n = 0;
    for (HostedStage s : stages.values()) {
      for (Iterator<Map.Entry<String, Session>> it = s.sessions.entrySet().iterator(); it.hasNext(); ) {
        Map.Entry<String, Session> e = it.next();
        if (now - e.getValue().lastUsedNanos > idleNanos) {
          it.remove();
          n++;
          LOG.info("expired idle session {} of plan #{}", e.getKey(), s.epoch);
        }
      }
    }
    if (n > 0) {
      updateGauges();
    }
    return n;
  }

  /** Plan epochs this worker still serves. */
  int stageCount() {
    return stages.size();
  }

  int sessionCount() {
    return stages.values().stream().mapToInt(s -> s.sessions.size()).sum();
  }

  List<StageStatus> status() {
    List<StageStatus> out = new ArrayList<>();
    for (HostedStage s : stages.values()) {
      StageStatus.Builder b = StageStatus.newBuilder().setPlanEpoch(s.epoch).setStage(s.index).setLayerStart(s.range.start()).setLayerEnd(s.range.end());
      s.sessions.forEach((id, sess) -> b.addSessions(SessionStatus.newBuilder().setCacheKey(id).setTokens(sess.cache.length()).setKvBytes(sess.cache.bytes())));
      out.add(b.build());
    }
    return out;
  }

  /** The most KV-cache bytes this worker holds (0: no limit); a frame that would grow past it fails RESOURCE_EXHAUSTED. */
  void setKvBudget(long bytes) {
    this.kvBudgetBytes = bytes;
  }

  /** KV-cache bytes held, over every stage and session. */
  long kvBytes() {
    long bytes = 0;
    for (HostedStage st : stages.values()) {
      for (Session sess : st.sessions.values()) {
        bytes += sess.cache.bytes();
      }
    }
    return bytes;
  }

  private void updateGauges() {
    long sessions = 0;
    long tokens = 0;
    long bytes = 0;
    for (HostedStage s : stages.values()) {
      for (Session sess : s.sessions.values()) {
        sessions++;
        tokens += sess.cache.length();
        bytes += sess.cache.bytes();
      }
    }
    metrics.sessions.set(sessions);
    metrics.kvTokens.set(tokens);
    metrics.kvBytes.set(bytes);
  }

  @Override
  public void close() {
    // stages of several epochs share the model of one range: close each model once
    java.util.Set<LlamaModel> models = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    stages.values().forEach(st -> models.add(st.model));
    models.addAll(spareRanges.values());
    models.forEach(LlamaModel::close);
    stages.clear();
    spareRanges.clear();
  }
}
