package dev.caravan.coordinator;

import dev.caravan.coordinator.pipeline.PipelineExecutor;
import dev.caravan.proto.v1.ActivationFrame;
import dev.caravan.proto.v1.FrameAck;
import dev.caravan.proto.v1.PipelineSinkGrpc;
import io.grpc.stub.StreamObserver;

/** The PipelineSink gRPC service: hands results and stage errors from the workers to the {@link PipelineExecutor}. */
final class SinkService extends PipelineSinkGrpc.PipelineSinkImplBase {
  private final PipelineExecutor executor;

  SinkService(PipelineExecutor executor) {
    this.executor = executor;
  }

  @Override
  public StreamObserver<ActivationFrame> deliver(StreamObserver<FrameAck> acks) {
    return new StreamObserver<>() {
      @Override
      public void onNext(ActivationFrame frame) {
        executor.deliver(frame);
        synchronized (acks) {
          acks.onNext(FrameAck.newBuilder().setBatchId(frame.getBatchId()).build());
        }
      }

      @Override
      public void onError(Throwable t) {
        // a worker's stream ended; its batches fail through membership or the step timeout
      }

      @Override
      public void onCompleted() {
        synchronized (acks) {
          acks.onCompleted();
        }
      }
    };
  }
}
