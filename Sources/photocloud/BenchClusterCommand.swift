import ArgumentParser
import Foundation
import PhotoCloudBench
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol

extension ClusterBench.Fault: ExpressibleByArgument {}
extension ClusterBench.Workload: ExpressibleByArgument {}

extension BenchCommand {
    struct Cluster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cluster",
            abstract: "The original experiment: N clients x K encryption requests, T ms apart, every answer checked.",
            discussion: """
                Without --cluster the bench starts its own local cloud of 3 server processes (in a \
                temporary folder, at free ports) and stops it at the end; --faults kill needs that cloud: \
                it kills -9 the token holder 300 ms in and restarts it 500 ms later with the same data \
                folder. --faults offline-token runs the servers with the offline token (with --cluster, \
                start them with `--faults offline-token`). --balancing none sends everything to server 1, \
                served without the token (the original's baseline; with --cluster, start the servers with \
                `--allow-direct`). A request fails if no correct stego \
                PNG arrives before --deadline-ms. Measure release builds.
                """
        )

        @Option(help: "Cluster file of running servers (default: a local cloud of the bench's own).") var cluster: String?
        @Option(help: "Concurrent clients.") var clients: Int = 200
        @Option(help: "Requests per client.") var requests: Int = 5
        @Option(name: .customLong("interval-ms"), help: "Milliseconds between a client's requests.") var intervalMs: Int = 100
        @Option(help: "none, offline-token or kill.") var faults: ClusterBench.Fault = .none
        @Option(help: "token (the work token spreads requests) or none (all to server 1).") var balancing: String = "token"
        @Option(help: "text (a short sealed message) or image (a small sealed photo).") var workload: ClusterBench.Workload = .text
        @Option(help: "A photo file sent, sealed as a peer seals it, as the payload of every request (instead of --workload); at most what the cloud hides (about 20 MB).")
        var photo: String?
        @Option(name: .customLong("deadline-ms"), help: "A request not correctly answered by then has failed.") var deadlineMs: Int = 5_000
        @Option(help: "Servers of the bench's own cloud.") var servers: Int = 3
        @Option(help: "Folder of cover PNGs for the bench's own cloud (default: built-in covers).") var covers: String?
        @Option(help: "Also write the results as JSON to this file (- for stdout).") var json: String?

        func validate() throws {
            guard (1...100_000).contains(clients) else { throw ValidationError("--clients must be 1 to 100000") }
            guard (1...10_000).contains(requests) else { throw ValidationError("--requests must be 1 to 10000") }
            guard clients * requests <= 1_000_000 else { throw ValidationError("at most 1000000 requests in one run") }
            guard (0...60_000).contains(intervalMs) else { throw ValidationError("--interval-ms must be 0 to 60000") }
            guard (1...600_000).contains(deadlineMs) else { throw ValidationError("--deadline-ms must be 1 to 600000") }
            guard ["token", "none"].contains(balancing) else { throw ValidationError("--balancing is token or none") }
            guard (1...9).contains(servers) else { throw ValidationError("--servers must be 1 to 9") }
        }

        /// The photo's bytes, read before any server starts (a missing file is one clear error).
        private func photoBytes() throws -> [UInt8]? {
            guard let photo else { return nil }
            // At most what the cloud hides, checked on the file's size before anything is read.
            let largest = CoverLibrary.largestPayload - PeerSeal.overhead
            let bytes: [UInt8]
            do { bytes = try FileBytes.read(photo, limit: largest) } catch {
                throw CLIError("the photo to send: \(error.message)")
            }
            guard !bytes.isEmpty else { throw CLIError("the photo to send: \(photo) is empty") }
            return bytes
        }

        func run() async throws {
            let photo = try photoBytes()
            let progress = Progress()
            var cloud: LocalCluster?
            var folder: String?
            let config: ClusterConfig
            var bench = ClusterBench(clients: clients, requests: requests, interval: .milliseconds(intervalMs), fault: faults,
                                     balancing: balancing == "token", workload: workload, deadline: .milliseconds(deadlineMs))
            bench.clientEndpoints = 2
            if let photo, let name = self.photo { bench.photo = (name: (name as NSString).lastPathComponent, bytes: photo) }
            if let cluster {
                config = try ClusterFile.load(cluster)
            } else {
                let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("photocloud-bench-\(getpid())")
                folder = path
                var arguments = bench.serverArguments
                if let covers { arguments += ["--covers", (covers as NSString).standardizingPath] }
                let local = try LocalCluster(folder: path, servers: servers, serverArguments: arguments)
                cloud = local
                config = local.config
                progress.stage("starting \(servers) servers")
                try local.startAll()
                try await local.waitUntilReady()
            }
            defer {
                cloud?.stopAll()
                // PHOTOCLOUD_KEEP=1 keeps the cloud's folder (its servers' logs) to read after the run.
                if let folder {
                    if ProcessInfo.processInfo.environment["PHOTOCLOUD_KEEP"] == nil {
                        try? FileManager.default.removeItem(atPath: folder)
                    } else {
                        FileHandle.standardError.write(Data("kept the bench's cloud (cluster file, data, server logs) in \(folder)\n".utf8))
                    }
                }
            }
            let result = try await bench.run(config: config, cloud: cloud) { progress.stage($0) }
            progress.finish()
            let perServer = result.per_server.sorted { Int($0.key) ?? 0 < Int($1.key) ?? 0 }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            print("""
                cluster: \(result.clients) clients x \(result.requests_per_client) requests, \(result.interval_ms) ms apart, \(result.workload) workload (\(result.payload_bytes) bytes), balancing \(result.balancing), faults \(result.faults)
                  sent \(result.sent), answered \(result.answered), failed \(result.failed) (\(String(format: "%.2f", result.failure_rate * 100))%\(result.late > 0 ? ", \(result.late) of them answered late" : "")), wrong answers \(result.wrong_answers), retries \(result.retries)
                  latency from each request's scheduled send time: p50 \(String(format: "%.1f", result.p50_ms)) ms, p99 \(String(format: "%.1f", result.p99_ms)) ms, max \(String(format: "%.1f", result.max_ms)) ms (from the attempt's start: p99 \(String(format: "%.1f", result.service_p99_ms)) ms; the latest start \(String(format: "%.1f", result.start_lag_max_ms)) ms after its time)
                  throughput \(String(format: "%.0f", result.throughput_rps)) requests/s over \(String(format: "%.2f", result.seconds)) s
                  per server: \(perServer)\(result.balance_ratio.map { String(format: " (busiest / idlest = %.2f)", $0) } ?? "")
                """)
            if let killed = result.killed_server {
                let open = result.orphaned_requests ?? 0
                let takenOver = open == 0 ? "it had no request open" : "all \(open) of its open requests taken over by \(result.failover_all_ms.map { String(format: "%.0f ms", $0) } ?? "-")"
                print("  killed server \(killed): failover \(result.failover_ms.map { String(format: "%.0f ms", $0) } ?? "-") (\(takenOver)), serving again (it accepted a request) \(result.rejoin_ms.map { String(format: "%.0f ms", $0) } ?? "not within 10 s") after its restart")
            }
            for error in result.first_errors { print("  error: \(error)") }
            if let json { try JSONOutput.write(result, to: json) }
        }
    }
}
