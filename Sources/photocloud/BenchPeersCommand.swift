import ArgumentParser
import Foundation
import PNGCodec
import PhotoCloudBench
import PhotoCloudNode

extension BenchCommand {
    struct Peers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "peers",
            abstract: "Photos from peer to peer through the cloud: send to inbox, a large photo, a crowd sending at once.",
            discussion: """
                Without --cluster the bench starts its own local cloud of 3 server processes. Peers are \
                daemons (PeerActors) in the bench process, each with a home of its own in a temporary \
                folder. A send is timed until the receiver has stored the photo; every photo is then \
                viewed and compared with the original, byte for byte. The baseline, in the same run, is \
                an encryption request alone for a payload of the same size. Measure release builds.
                """
        )

        @Option(help: "Cluster file of running servers (default: a local cloud of the bench's own).") var cluster: String?
        @Option(help: "Sends of a 512x512 photo, one after the other.") var sends: Int = 10
        @Option(help: "Peers sending at once.") var peers: Int = 20
        @Option(name: .customLong("photos-each"), help: "Photos each of those peers sends (100-300 kB each).") var photosEach: Int = 5
        @Option(help: "A large photo to send once (PNG or JPEG; default: a 12-megapixel JPEG made for the run).") var large: String?
        @Flag(name: .customLong("no-large"), help: "Skip the large photo.") var noLarge = false
        @Option(help: "Also write the results as JSON to this file (- for stdout).") var json: String?

        func validate() throws {
            guard (1...1_000).contains(sends) else { throw ValidationError("--sends must be 1 to 1000") }
            guard (2...200).contains(peers) else { throw ValidationError("--peers must be 2 to 200") }
            guard (1...100).contains(photosEach) else { throw ValidationError("--photos-each must be 1 to 100") }
        }

        func run() async throws {
            let progress = Progress()
            let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("photocloud-bench-peers-\(getpid())")
            var cloud: LocalCluster?
            let config: ClusterConfig
            if let cluster {
                config = try ClusterFile.load(cluster)
            } else {
                let local = try LocalCluster(folder: folder + "/cloud", servers: 3)
                cloud = local
                config = local.config
                progress.stage("starting 3 servers")
                try local.startAll()
                try await local.waitUntilReady()
            }
            defer {
                cloud?.stopAll()
                try? FileManager.default.removeItem(atPath: folder)
            }
            var bench = PeerBench()
            bench.sends = sends
            bench.crowd = peers
            bench.photosEach = photosEach
            if let large {
                bench.large = (try FileBytes.read(large, limit: 64 << 20), (large as NSString).lastPathComponent)
            } else if !noLarge {
                progress.stage("making a 12-megapixel JPEG")
                let jpeg = try PeerBench.twelveMegapixelJPEG()
                bench.large = (jpeg, "a 4000x3000 JPEG")
            }
            let result = try await bench.run(config: config, cloud: cloud, folder: folder) { progress.stage($0) }
            progress.finish()
            func ms(_ value: Double?) -> String { value.map { String(format: "%.0f ms", $0) } ?? "-" }
            print("""
                peers: send to inbox, 512x512 photo (\(result.photo_512_bytes) bytes): p50 \(ms(result.send_512_p50_ms)), p99 \(ms(result.send_512_p99_ms)); \
                the cloud alone for that size: p50 \(ms(result.cloud_only_p50_ms)) (send / cloud alone = \(String(format: "%.2f", result.send_over_cloud_only)))
                """)
            if let label = result.large_label {
                print("  large photo \(label) (\(result.large_bytes ?? 0) bytes): send \(ms(result.large_send_ms)), view \(ms(result.large_view_ms))")
            }
            print("""
                  crowd: \(result.crowd_peers) peers, \(result.crowd_photos) photos at once: \(result.crowd_arrived_identical) arrived identical, \(result.crowd_failed) failed, \
                \(String(format: "%.2f", result.crowd_seconds)) s; per send p50 \(ms(result.crowd_p50_ms)), p99 \(ms(result.crowd_p99_ms))
                  peak memory: bench \(String(format: "%.0f", result.bench_peak_rss_mib)) MiB; servers \(result.server_peak_rss_mib.sorted { $0.key < $1.key }.map { "\($0.key): \(String(format: "%.0f", $0.value)) MiB" }.joined(separator: ", "))
                """)
            for error in result.first_errors { print("  error: \(error)") }
            if let json { try JSONOutput.write(result, to: json) }
        }
    }
}
