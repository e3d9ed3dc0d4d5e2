package dev.caravan.coordinator;

import dev.caravan.cluster.FrameLink;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import io.grpc.stub.StreamObserver;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PipelineSink gRPC service: hands results and stage errors from the workers to the coordinator's executor. Each
 * stream takes at most {@code window} frames beyond those acknowledged ({@link FrameLink.Receiver}); a frame is
 * acknowledged once it has been handed over, so a coordinator that falls behind makes the last stages wait.
 */
public final class SinkService extends PipelineSinkGrpc.PipelineSinkImplBase {
  private static final Logger LOG = LoggerFactory.getLogger(SinkService.class);
  private final Consumer<ActivationFrame> deliver;
  private final int window;

  /**
   * @param deliver gets every frame, on a gRPC thread; it should hand the frame off rather than work on it
   * @param window  frames each worker may have unacknowledged on its stream, at least 1
   */
  public SinkService(Consumer<ActivationFrame> deliver, int window) {
    if (window < 1) {
      throw new IllegalArgumentException("a frame window holds at least 1 frame, not " + window);
    }
    this.deliver = deliver;
    this.window = window;
  }

  @Override
  public StreamObserver<ActivationFrame> deliver(StreamObserver<FrameAck> acks) {
    // a worker's stream that ends early needs nothing here: its batches fail through membership or the step timeout
    return new FrameLink.Receiver(acks, window, (frame, from) -> {
      String error = "";
      try {
        deliver.accept(frame);
      } catch (RuntimeException e) {
        LOG.warn("could not take batch {} from a worker", frame.getBatchId(), e);
        error = String.valueOf(e.getMessage());
      }
      from.ack(frame.getBatchId(), error);
    }).requests();
  }
}
