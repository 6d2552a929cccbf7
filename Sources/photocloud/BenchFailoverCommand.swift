import ArgumentParser
import Foundation
import PhotoCloudBench
import PhotoCloudNode

extension BenchCommand {
    struct Failover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "failover",
            abstract: "kill -9 of the token holder, N times, with requests flowing: each failover time, the median and the worst.",
            discussion: """
                Starts a local cloud of 3 server processes. Each trial sends a steady load (--clients x \
                --requests, 100 ms apart: 200 requests a second by default), kills -9 the server holding \
                the token 300 ms in, restarts it 500 ms later with its data folder, and waits until it is \
                back before the next trial. A trial's failover is the time from the kill until a surviving \
                server accepted the first of the requests the killed one had open (or, if it had none, \
                the next request at all). Every answer is checked; failed requests are counted.
                """
        )

        @Option(help: "Kills (one per trial).") var trials: Int = 20
        @Option(help: "Clients of each trial's load.") var clients: Int = 20
        @Option(help: "Requests per client in each trial.") var requests: Int = 15
        @Option(help: "Also write the results as JSON to this file (- for stdout).") var json: String?

        func validate() throws {
            guard (1...1_000).contains(trials) else { throw ValidationError("--trials must be 1 to 1000") }
            guard (1...2_000).contains(clients) else { throw ValidationError("--clients must be 1 to 2000") }
            guard (5...100).contains(requests) else { throw ValidationError("--requests must be 5 to 100 (the kill comes 300 ms in)") }
        }

        func run() async throws {
            let progress = Progress()
            let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("photocloud-failover-\(getpid())")
            let cloud = try LocalCluster(folder: path, servers: 3, serverArguments: [])
            defer {
                cloud.stopAll()
                if ProcessInfo.processInfo.environment["PHOTOCLOUD_KEEP"] == nil { try? FileManager.default.removeItem(atPath: path) }
            }
            progress.stage("starting 3 servers")
            try cloud.startAll()
            try await cloud.waitUntilReady()
            let output = try await FailoverBench(trials: trials, clients: clients, requests: requests).run(cloud: cloud) { progress.stage($0) }
            progress.finish()
            let times = output.failover_ms, median = output.median_ms
            print("failover: \(trials) kills -9 of the token holder, \(clients) clients x \(requests) requests 100 ms apart in each")
            print("  each (ms): " + times.map { String(format: "%.0f", $0) }.joined(separator: " "))
            print(String(format: "  median %.0f ms, worst %.0f ms, best %.0f ms; %d requests, %d failed", median, output.worst_ms, output.best_ms,
                         output.requests, output.failed))
            if times.count < trials { print("  \(trials - times.count) trials measured no failover (no acceptance after the kill)") }
            if let json { try JSONOutput.write(output, to: json) }
        }
    }
}
