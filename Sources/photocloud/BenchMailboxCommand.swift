import ArgumentParser
import Foundation
import PhotoCloudBench
import PhotoCloudNode

extension BenchCommand {
    struct Mailbox: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mailbox",
            abstract: "The mailbox: grants stored for an offline user, many messages picked up on return, a server restarted holding them.",
            discussion: """
                Starts its own local cloud of 3 server processes and two daemons (alice, bob) in the bench \
                process. bob receives a photo and goes offline; alice stores --grants grants for him one at a \
                time (each timed until a majority of the servers hold it, as the command waits), then fills his \
                mailbox to --queued messages; server 1 is killed and restarted (timed until it hands out its \
                mailbox again); bob comes back (timed until every message is applied and no server holds any). \
                Measure release builds.
                """
        )

        @Option(help: "Grants stored one at a time, each timed.") var grants: Int = 200
        @Option(help: "Messages queued for bob in all.") var queued: Int = 10_000
        @Option(help: "Also write the results as JSON to this file (- for stdout).") var json: String?

        func validate() throws {
            guard (1...10_000).contains(grants) else { throw ValidationError("--grants must be 1 to 10000") }
            guard (grants...100_000).contains(queued) else { throw ValidationError("--queued must be --grants to 100000") }
        }

        func run() async throws {
            let progress = Progress()
            let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("photocloud-bench-mailbox-\(getpid())")
            let cloud = try LocalCluster(folder: folder + "/cloud", servers: 3)
            progress.stage("starting 3 servers")
            try cloud.startAll()
            defer {
                cloud.stopAll()
                try? FileManager.default.removeItem(atPath: folder)
            }
            try await cloud.waitUntilReady()
            var bench = PhotoCloudBench.MailboxBench()
            bench.grants = grants
            bench.queued = queued
            let result = try await bench.run(config: cloud.config, cloud: cloud, folder: folder) { progress.stage($0) }
            progress.finish()
            func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "never" }
            print("""
                mailbox: a grant for an offline user stored on a majority: p50 \(String(format: "%.1f", result.grant_store_p50_ms)) ms, \
                p99 \(String(format: "%.1f", result.grant_store_p99_ms)) ms (\(result.grants_timed) grants)
                  \(result.queued) messages queued for bob in \(String(format: "%.1f", result.queue_seconds)) s; held by server \
                \(result.held_per_server.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
                  server 1 killed and restarted holding them: serving its mailbox after \(ms(result.restart_serving_ms))
                  bob back: all applied and deleted after \(result.delivery_seconds.map { String(format: "%.2f s", $0) } ?? "never (60 s)"); \
                views \(result.views_after_delivery.map(String.init) ?? "-") (expected \(result.views_expected)); left on the servers \
                \(result.left_on_servers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
                """)
            for error in result.first_errors { print("  error: \(error)") }
            if let json { try JSONOutput.write(result, to: json) }
        }
    }
}
