import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol

/// Photos from peer to peer through a cloud: each send is the whole path a
/// user waits for (seal, the cloud hides it, the stego PNG goes to the
/// receiver, which extracts, opens, checks and stores it), measured until
/// the receiver confirms. The baseline, in the same run, is the cloud's part
/// alone: an encryption request for a payload of the same size.
///
/// The peers are `PeerActor`s in this process, each with a home of its own;
/// the cloud is real server processes (`LocalCluster`) or a running one.
public struct PeerBench: Sendable {
    /// Sends of the 512x512 photo, one after the other, from alice to bob.
    public var sends = 10
    /// Peers of the crowd, each sending `photosEach` photos of 100-300 kB to random others at once.
    public var crowd = 20
    public var photosEach = 5
    /// The large photo, if any: (bytes, what it is).
    public var large: (file: [UInt8], label: String)?

    public init() {}

    public struct Result: Sendable, Encodable {
        public var send_512_p50_ms: Double
        public var send_512_p99_ms: Double
        public var photo_512_bytes: Int
        public var cloud_only_p50_ms: Double
        public var send_over_cloud_only: Double
        public var large_label: String?
        public var large_bytes: Int?
        public var large_send_ms: Double?
        public var large_view_ms: Double?
        public var crowd_peers: Int
        public var crowd_photos: Int
        public var crowd_arrived_identical: Int
        public var crowd_failed: Int
        public var crowd_seconds: Double
        public var crowd_p50_ms: Double
        public var crowd_p99_ms: Double
        public var bench_peak_rss_mib: Double
        public var server_peak_rss_mib: [String: Double]
        public var first_errors: [String]
    }

    public func run(config: ClusterConfig, cloud: LocalCluster?, folder: String,
                    progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let names = ["alice", "bob"] + (0..<max(0, crowd - 2)).map { "peer\($0)" }
        var peers: [String: PeerActor] = [:]
        var runs: [Task<Void, Never>] = []
        for name in names.prefix(max(2, crowd)) {
            let home = (folder as NSString).appendingPathComponent("home-\(name)")
            let peer = try PeerActor(identity: try PeerIdentity.loadOrCreate(user: name, home: home), config: config, home: home)
            peers[name] = peer
            runs.append(Task { try? await peer.run() })
        }
        defer { for run in runs { run.cancel() } }
        progress("registering \(peers.count) peers")
        try await waitOnline(Array(peers.keys), config: config)
        var errors: [String] = []

        // 1. A 512x512 photo, alice -> bob, against the cloud alone.
        progress("sending \(sends) photos of 512x512")
        var sendTimes = LatencySamples(), cloudTimes = LatencySamples()
        let alice = peers["alice"]!, bob = peers["bob"]!
        let probe = try EncryptionClient(config: config)
        await probe.start()
        var photoBytes = 0
        for index in 0..<sends {
            let photo = try SyntheticPhoto.png(seed: UInt64(1_000 + index), width: 512, height: 512)
            photoBytes = photo.count
            let start = ContinuousClock.now
            do {
                let id = try await alice.send(file: photo, title: "bench \(index)", to: "bob", views: 1).photo
                sendTimes.record(.now - start)
                if try await bob.view(id).file != photo { errors.append("photo \(index) did not arrive identical") }
            } catch { errors.append("send \(index): \(error)") }
            // The cloud's part alone: a payload of the same size, a key, a check of the answer.
            let cloudStart = ContinuousClock.now
            let payload = [UInt8](repeating: UInt8(index), count: photo.count + 60)
            if (try? await probe.encrypt(payload, key: Array("bench key \(index)".utf8), id: RequestID(client: .random(in: 1...UInt64.max), number: 1))) != nil {
                cloudTimes.record(.now - cloudStart)
            }
        }
        await probe.close()

        // 2. The large photo.
        var largeSend: Double?, largeView: Double?
        if let large {
            progress("sending \(large.label)")
            let start = ContinuousClock.now
            do {
                let id = try await alice.send(file: large.file, title: large.label, to: "bob", views: 1).photo
                largeSend = (ContinuousClock.now - start).seconds * 1_000
                let viewStart = ContinuousClock.now
                if try await bob.view(id).file != large.file { errors.append("the large photo did not arrive identical") }
                largeView = (ContinuousClock.now - viewStart).seconds * 1_000
            } catch { errors.append("large photo: \(error)") }
        }

        // 3. The crowd: everyone sends to random others at once.
        progress("\(peers.count) peers sending \(photosEach) photos each at once")
        var generator = SeededRandom(seed: 42)
        var jobs: [(from: String, to: String, photo: [UInt8])] = []
        for (number, name) in peers.keys.sorted().enumerated() {
            for index in 0..<photosEach {
                let others = peers.keys.filter { $0 != name }.sorted()
                let side = Int.random(in: 180...300, using: &generator)
                let photo = try SyntheticPhoto.png(seed: UInt64(number) << 8 | UInt64(index), width: side, height: side)
                jobs.append((name, others.randomElement(using: &generator)!, photo))
            }
        }
        let crowdStart = ContinuousClock.now
        let outcomes = await withTaskGroup(of: (Duration?, Bool, String?).self) { group in
            for job in jobs {
                let sender = peers[job.from]!, receiver = peers[job.to]!
                group.addTask {
                    do {
                        let id = try await sender.send(file: job.photo, title: "crowd", to: job.to, views: 1).photo
                        // From when every send was due (all at once): a send's wait for its task to start counts.
                        let took = ContinuousClock.now - crowdStart
                        let same = try await receiver.view(id).file == job.photo
                        return (took, same, same ? nil : "\(job.from) -> \(job.to): not identical")
                    } catch {
                        return (nil, false, "\(job.from) -> \(job.to): \(error)")
                    }
                }
            }
            var all: [(Duration?, Bool, String?)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let crowdSeconds = (ContinuousClock.now - crowdStart).seconds
        var crowdTimes = LatencySamples()
        for outcome in outcomes { if let took = outcome.0 { crowdTimes.record(took) } }
        errors += outcomes.compactMap(\.2)

        for peer in peers.values { await peer.leave() }
        var serverPeaks: [String: Double] = [:]
        if let cloud {
            for server in config.servers { if let pid = cloud.pid(of: server.id) { serverPeaks["\(server.id)"] = Self.peakRSS(of: "\(pid)") } }
        }
        let cloudP50 = cloudTimes.percentile(50) / 1_000, sendP50 = sendTimes.percentile(50) / 1_000
        return Result(
            send_512_p50_ms: sendP50, send_512_p99_ms: sendTimes.percentile(99) / 1_000, photo_512_bytes: photoBytes,
            cloud_only_p50_ms: cloudP50, send_over_cloud_only: cloudP50 > 0 ? sendP50 / cloudP50 : 0,
            large_label: large?.label, large_bytes: large?.file.count, large_send_ms: largeSend, large_view_ms: largeView,
            crowd_peers: peers.count, crowd_photos: jobs.count, crowd_arrived_identical: outcomes.filter(\.1).count,
            crowd_failed: outcomes.filter { !$0.1 }.count, crowd_seconds: crowdSeconds,
            crowd_p50_ms: crowdTimes.percentile(50) / 1_000, crowd_p99_ms: crowdTimes.percentile(99) / 1_000,
            bench_peak_rss_mib: Self.peakRSS(of: "self"), server_peak_rss_mib: serverPeaks, first_errors: Array(errors.prefix(5)))
    }

    private func waitOnline(_ names: [String], config: ClusterConfig) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        for name in names {
            while try await UserLookup.run(name: name, config: config)?.online != true {
                guard ContinuousClock.now < deadline else { throw NodeError(.network, "\(name) did not come online within 20 s") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// A phone-like photo: 4000x3000, photograph-like light and shapes with
    /// sensor grain, as a JPEG of quality 97 without chroma subsampling (about 4 MB, as phones make).
    public static func twelveMegapixelJPEG() throws -> [UInt8] {
        let image = try PNGCodec().decode(try SyntheticPhoto.png(seed: 12, width: 4_000, height: 3_000))
        return try JPEGEncoder(quality: 97, subsampled: false).encode(image)
    }

    /// VmHWM of /proc/`pid`/status, in MiB.
    static func peakRSS(of pid: String) -> Double { Double(PeakMemory.kibibytes(of: pid)) / 1_024 }
}

/// A process's peak resident set, VmHWM in /proc/PID/status (0 if unreadable).
enum PeakMemory {
    static func kibibytes(of pid: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}
