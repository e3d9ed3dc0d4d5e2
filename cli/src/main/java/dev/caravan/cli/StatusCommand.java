package dev.caravan.cli;

import com.google.protobuf.util.JsonFormat;
import dev.caravan.loadtest.ClientChannels;
import dev.caravan.loadtest.TargetOptions;
import dev.caravan.proto.v1.ClusterStatusRequest;
import dev.caravan.proto.v1.ClusterStatusResponse;
import dev.caravan.proto.v1.InferenceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code caravan status}: a cluster's members, plan and KV placement. */
@Command(name = "status", mixinStandardHelpOptions = true, description = "Show a cluster's members, plan and KV-cache placement.")
public final class StatusCommand implements Callable<Integer> {
  @Mixin TargetOptions target;

  @Option(names = "--json", description = "Print the raw ClusterStatus response as JSON.")
  boolean json;

  @Option(names = "--health", description = "Only check the gRPC health service; exit 0 when SERVING.")
  boolean health;

  @Override
  public Integer call() throws Exception {
    target.check();
    ManagedChannel channel = target.openChannel();
    try {
      if (health) {
        var r = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(3, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
        System.out.println(r.getStatus());
        return r.getStatus() == io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING ? 0 : 1;
      }
      ClusterStatusResponse s = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).clusterStatus(ClusterStatusRequest.getDefaultInstance());
      if (json) {
        System.out.println(JsonFormat.printer().print(s));
        return 0;
      }
      System.out.printf("members (%d):%n", s.getMembersCount());
      for (var m : s.getMembersList()) {
        System.out.printf("  %-11s %-21s %-8s %s%s%n", m.getRole(), m.getGrpcAddress(), m.getState(), m.getUuid(),
            m.getRole().equals("worker") ? String.format("  (%d cores, %.1f GiB free, %.2f ms/layer)", m.getCores(), m.getFreeMemoryBytes() / (double) (1L << 30), m.getSecondsPerLayer() * 1e3) : "");
      }
      if (s.hasPlan()) {
        var p = s.getPlan();
        System.out.printf("plan #%d of %s (%s):%n", p.getEpoch(), p.getModel(), p.getReady() ? "serving" : "loading");
        for (var st : p.getStagesList()) {
          System.out.printf("  stage %d: layers [%d, %d) on %s%n", st.getIndex(), st.getLayerStart(), st.getLayerEnd(), st.getGrpcAddress());
        }
      } else {
        System.out.println("plan: none");
      }
      System.out.printf("requests: %d running, %d waiting%n", s.getRunningRequests(), s.getWaitingRequests());
      System.out.printf("KV placement (%d sessions):%n", s.getKvPlacementCount());
      for (var kv : s.getKvPlacementList()) {
        System.out.printf("  %s: plan #%d, %d tokens on %d stages%n", kv.getCacheKey(), kv.getPlanEpoch(), kv.getHoldingsCount() == 0 ? 0 : kv.getHoldings(0).getTokens(), kv.getHoldingsCount());
      }
      return 0;
    } catch (StatusRuntimeException e) {
      System.err.println("caravan status: " + RpcErrors.describe(target.target(), e));
      return 2;
    } finally {
      ClientChannels.close(channel);
    }
  }
}
