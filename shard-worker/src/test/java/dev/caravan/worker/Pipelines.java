package dev.caravan.worker;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.caravan.cluster.Activations;
import dev.caravan.cluster.Channels;
import dev.caravan.cluster.FrameLink;
import dev.caravan.cluster.Plan;
import dev.caravan.cluster.StageAssignment;
import dev.caravan.engine.model.Batch;
import dev.caravan.engine.model.KvCache;
import dev.caravan.engine.model.LlamaModel;
import dev.caravan.engine.tensor.Parallel;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import dev.caravan.proto.v1.SequenceChunk;
import io.grpc.Server;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** What the worker tests share: frames, plans over in-process addresses, a sink, and the single-process reference. */
final class Pipelines {
  static final long TIMEOUT_S = 30;

  private Pipelines() {}

  /** A unique in-process server name, so tests never meet each other's servers. */
  static String name(String prefix) {
    return prefix + "-" + UUID.randomUUID();
  }

  /** A frame for stage 0: one sequence of {@code ids} at {@code start}, logits for its last token. */
  static ActivationFrame frame(long batchId, long epoch, String replyTo, String cacheKey, int start, int... ids) {
    SequenceChunk.Builder c = SequenceChunk.newBuilder().setCacheKey(cacheKey).setStartPosition(start).setTokenCount(ids.length).setLogits(true);
    for (int id : ids) {
      c.addTokenIds(id);
    }
    return ActivationFrame.newBuilder().setBatchId(batchId).setPlanEpoch(epoch).setStage(0).setReplyTo(replyTo).addSequences(c).build();
  }

  /** A plan cutting the model's layers at {@code cut}: stage 0 [0, cut) on "w0", stage 1 [cut, layers) on "w1". */
  static Plan twoStages(long epoch, int layers, int cut, String address0, String address1) {
    return new Plan(epoch, "stories260K", layers, List.of(new StageAssignment(0, "w0", address0, 0, cut), new StageAssignment(1, "w1", address1, cut, layers)));
  }

  /** Logits of the last frame's rows as floats. */
  static float[] logits(ActivationFrame result, int vocab) {
    int rows = (int) result.getActivations().getShape(0);
    float[] out = new float[rows * vocab];
    Activations.fromTensor(result.getActivations(), rows, vocab, out);
    return out;
  }

  /** The whole model in one process, one cache per key: what a pipeline's logits must equal. */
  static final class Reference implements AutoCloseable {
    private final Parallel parallel = new Parallel(1);
    final LlamaModel model;
    private final Map<String, KvCache> caches = new ConcurrentHashMap<>();

    Reference(Path path) throws IOException {
      model = LlamaModel.open(path, parallel);
    }

    /** Logits of the last of {@code ids}, continuing the cache of {@code key}. */
    synchronized float[] next(String key, int... ids) {
      KvCache cache = caches.computeIfAbsent(key, k -> model.layers().newCache());
      Batch batch = new Batch(ids.length);
      batch.addSequence(ids, cache, true);
      float[] out = new float[model.layers().outputSize(batch)];
      model.layers().forward(batch, null, out);
      return out;
    }

    @Override
    public void close() {
      model.close();
      parallel.close();
    }
  }

  /** The coordinator's end for tests: a PipelineSink that keeps what arrives and acknowledges it at once. */
  static final class Sink implements AutoCloseable {
    final String address;
    final BlockingQueue<ActivationFrame> received = new LinkedBlockingQueue<>();
    private final List<FrameLink.Receiver> receivers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Server server;

    Sink(int window) throws IOException {
      String name = name("sink");
      address = Channels.IN_PROCESS + name;
      server = InProcessServerBuilder.forName(name).addService(new PipelineSinkGrpc.PipelineSinkImplBase() {
        @Override
        public StreamObserver<ActivationFrame> deliver(StreamObserver<FrameAck> acks) {
          FrameLink.Receiver r = new FrameLink.Receiver(acks, window, (f, from) -> {
            received.add(f);
            from.ack(f.getBatchId(), "");
          });
          receivers.add(r);
          return r.requests();
        }
      }).build().start();
    }

    ActivationFrame take() throws InterruptedException {
      ActivationFrame f = received.poll(TIMEOUT_S, TimeUnit.SECONDS);
      assertNotNull(f, "a frame reaches the sink");
      return f;
    }

    int maxHeldSeen() {
      return receivers.stream().mapToInt(FrameLink.Receiver::maxHeldSeen).max().orElse(0);
    }

    @Override
    public void close() throws InterruptedException {
      server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
