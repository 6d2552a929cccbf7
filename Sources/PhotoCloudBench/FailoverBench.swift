import Foundation
import PhotoCloudNode

/// kill -9 of the token holder, trial after trial, on one local cloud: each
/// trial is a `ClusterBench` with `.kill` (a steady load, the holder killed
/// 300 ms in and restarted 500 ms later), and the next waits until the
/// restarted server is back. `bench failover` and `bench all` both run this.
public struct FailoverBench: Sendable {
    public var trials: Int
    public var clients: Int
    public var requests: Int

    public init(trials: Int, clients: Int = 20, requests: Int = 15) {
        self.trials = trials
        self.clients = clients
        self.requests = requests
    }

    public struct Result: Encodable, Sendable {
        public var trials: Int
        /// One per trial that saw a failover (a trial whose kill no acceptance followed has none).
        public var failover_ms: [Double]
        public var median_ms: Double
        public var worst_ms: Double
        public var best_ms: Double
        public var requests: Int
        public var failed: Int
        public var killed_servers: [Int]
        public var runs: [ClusterBench.Result]

        public init(trials: Int, runs: [ClusterBench.Result]) {
            self.init(trials: trials, failover_ms: runs.compactMap(\.failover_ms), requests: runs.map(\.sent).reduce(0, +),
                      failed: runs.map(\.failed).reduce(0, +), killed_servers: runs.compactMap(\.killed_server), runs: runs)
        }

        public init(trials: Int, failover_ms: [Double], requests: Int, failed: Int, killed_servers: [Int] = [], runs: [ClusterBench.Result] = []) {
            self.trials = trials
            self.failover_ms = failover_ms
            let sorted = failover_ms.sorted()
            median_ms = sorted.isEmpty ? .nan : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            worst_ms = sorted.last ?? .nan
            best_ms = sorted.first ?? .nan
            self.requests = requests
            self.failed = failed
            self.killed_servers = killed_servers
            self.runs = runs
        }
    }

    public func run(cloud: LocalCluster, progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        var runs: [ClusterBench.Result] = []
        for trial in 1...trials {
            let bench = ClusterBench(clients: clients, requests: requests, interval: .milliseconds(100), fault: .kill)
            runs.append(try await bench.run(config: cloud.config, cloud: cloud) { progress("trial \(trial)/\(trials): \($0)") })
            // The restarted server must be back (serving) before the next kill.
            try await cloud.waitUntilReady()
            try await Task.sleep(for: .milliseconds(300))
        }
        return Result(trials: trials, runs: runs)
    }
}
