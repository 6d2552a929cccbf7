import AsyncUDP
import Crypto
import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import Steganography
import Synchronization

/// The original experiment: N clients each send K encryption requests T ms
/// apart to a cloud, and every answer is checked (the hidden payload is
/// extracted with the client's key and compared). A request fails if no
/// correct stego PNG arrives before the deadline.
///
/// The clients are logical: each has its own client id, key, schedule and
/// requests; they share a few `EncryptionClient`s (one socket pair each), so
/// that thousands of clients cost the bench little. Sends are open-loop (on
/// schedule, not after the previous answer), as independent users would.
public struct ClusterBench: Sendable {
    public enum Fault: String, Sendable, CaseIterable { case none, offlineToken = "offline-token", kill }
    public enum Workload: String, Sendable, CaseIterable { case text, image }

    public var clients: Int
    public var requests: Int
    public var interval: Duration
    public var fault: Fault
    public var balancing: Bool
    public var workload: Workload
    public var deadline: Duration
    /// When the `kill` fault strikes, after the first request.
    public var killAfter: Duration = .milliseconds(300)
    /// How long the killed server stays down before it is restarted.
    public var restartAfter: Duration = .milliseconds(500)
    public var clientEndpoints = 2
    /// A photo sent as every request's payload (sealed as a peer seals it), instead of the workload's.
    public var photo: (name: String, bytes: [UInt8])?

    /// What the servers of a cloud of the bench's own are started with for it: the offline token's outages, and
    /// service without the token when balancing is off.
    public var serverArguments: [String] {
        (fault == .offlineToken ? ["--faults", "offline-token"] : []) + (balancing ? [] : ["--allow-direct"])
    }

    public init(clients: Int, requests: Int, interval: Duration, fault: Fault = .none, balancing: Bool = true,
                workload: Workload = .text, deadline: Duration = .seconds(5)) {
        self.clients = clients
        self.requests = requests
        self.interval = interval
        self.fault = fault
        self.balancing = balancing
        self.workload = workload
        self.deadline = deadline
    }

    public struct Result: Sendable, Encodable {
        public var clients: Int
        public var requests_per_client: Int
        public var interval_ms: Double
        public var workload: String
        public var balancing: String
        public var faults: String
        public var deadline_ms: Double
        public var payload_bytes: Int
        public var sent: Int
        public var answered: Int
        public var failed: Int
        /// Of the failed: answered correctly, but later than the deadline after their scheduled send time.
        public var late: Int
        public var failure_rate: Double
        public var wrong_answers: Int
        public var p50_ms: Double
        public var p99_ms: Double
        public var max_ms: Double
        /// The latency at each of `ClusterBench.plottedPercentiles`, from the scheduled send time (for the latency plot).
        public var latency_percentiles_ms: [Double]
        /// p99 from each attempt's start instead of its scheduled send time (what earlier builds reported).
        public var service_p99_ms: Double
        /// The latest any request started after its scheduled time.
        public var start_lag_max_ms: Double
        public var throughput_rps: Double
        public var seconds: Double
        public var per_server: [String: Int]
        public var balance_ratio: Double?
        public var retries: Int
        public var killed_server: Int?
        public var failover_ms: Double?
        public var failover_all_ms: Double?
        public var orphaned_requests: Int?
        /// From the killed server's restart until it accepted a request (only the token's holder accepts).
        public var rejoin_ms: Double?
        public var first_errors: [String]
    }

    /// The percentiles a run keeps for plotting its latency distribution (as HdrHistogram plots do: by nines).
    public static let plottedPercentiles: [Double] = [50, 75, 90, 95, 99, 99.9, 100]

    /// Drives the cloud of `config`; `cloud` (its processes) is needed for `kill`.
    public func run(config: ClusterConfig, cloud: LocalCluster?, progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        if fault == .kill && cloud == nil {
            throw NodeError(.io, "--faults kill needs the bench's own cloud (leave out --cluster)")
        }
        let attempt = EncryptionAttempt.Configuration(giveUpAfter: deadline)
        // Checking answers (the clients extract every payload) is the bench's own work: below the servers' event loops.
        let checkers = WorkerPool(name: "bench-check", threads: 2, nice: 10)
        var endpoints: [EncryptionClient] = []
        for index in 0..<max(1, clientEndpoints) {
            let loop = try EventLoop(name: "bench-client-\(index)")
            let client = try EncryptionClient(config: config, loop: loop, direct: !balancing, attempt: attempt, checkers: checkers)
            await client.start()
            endpoints.append(client)
        }
        // Probes after a kill's restart, on a client of their own: they are not the run's requests.
        let probe: EncryptionClient? = fault == .kill
            ? try EncryptionClient(config: config, loop: EventLoop(name: "bench-probe"), direct: !balancing, attempt: attempt, checkers: checkers)
            : nil
        await probe?.start()
        let payloads = try makePayloads()
        let start = ContinuousClock.now + .milliseconds(50)
        progress("\(clients) clients x \(requests) requests, \(interval) apart")

        let faultTask: Task<KillReport, Never>? = if fault == .kill, let cloud {
            Task { [killAfter, restartAfter] in
                try? await Task.sleep(until: start + killAfter)
                return await Self.killAndRestart(cloud: cloud, config: config, restartAfter: restartAfter, probe: probe!, progress: progress)
            }
        } else { nil }

        // One unstructured task per request, awaited in turn: a task group of 10,000 children costs the bench
        // O(children) per completion in the runtime (removeChildTask was 8% of the bench's CPU at 2,000 x 5,
        // taken from the cloud it measures on the same cores).
        var scheduled: [Task<Outcome, Never>] = []
        scheduled.reserveCapacity(clients * requests)
        for client in 0..<clients {
            let endpoint = endpoints[client % endpoints.count]
            let clientID = UInt64.random(in: 1...UInt64.max)
            let key = (0..<16).map { _ in UInt8.random(in: 0...255) }
            // Clients start spread over one interval, as independent users would.
            let offset = interval * (Double(client) / Double(max(1, clients)))
            for number in 0..<requests {
                let payload = payloads[(client + number) % payloads.count]
                let at = start + offset + interval * number
                scheduled.append(Task {
                    try? await Task.sleep(until: at)
                    return await Self.request(payload, key: key, id: RequestID(client: clientID, number: UInt64(number)), scheduled: at,
                                              via: endpoint)
                })
            }
        }
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(scheduled.count)
        for task in scheduled { outcomes.append(await task.value) }
        let kill = await faultTask?.value
        await probe?.close()
        var rejected = 0
        for endpoint in endpoints {
            rejected += await endpoint.rejectedAnswers
            await endpoint.close()
        }
        return summarize(outcomes, servers: balancing ? config.servers.map(\.id) : [config.servers[0].id], start: start,
                         kill: kill, payloadBytes: payloads[0].count, rejectedAnswers: rejected)
    }

    struct Outcome: Sendable {
        var id: RequestID
        /// From the request's scheduled send time to its checked answer: what
        /// its user waits, including any lateness of the bench in starting it
        /// (timing from the attempt's start would hide the queueing before it).
        var latency: Duration?
        /// From the attempt's start to its answer.
        var service: Duration?
        /// How late the attempt started after its scheduled time.
        var startLag: Duration
        var answeredAt: ContinuousClock.Instant?
        var server: UInt64?
        var correct: Bool
        var error: String?
        var acceptances: [(server: UInt64, at: ContinuousClock.Instant)]
        var retries: Int
    }

    struct KillReport: Sendable {
        var server: Int
        var at: ContinuousClock.Instant
        var rejoin: Duration?
    }

    private static func request(_ payload: [UInt8], key: [UInt8], id: RequestID, scheduled: ContinuousClock.Instant,
                                via client: EncryptionClient) async -> Outcome {
        let lag = max(.zero, ContinuousClock.now - scheduled)
        do {
            // The client returns an answer only once the payload came back out of it with the key.
            let answer = try await client.encrypt(payload, key: key, id: id)
            return Outcome(id: id, latency: answer.answeredAt - scheduled, service: answer.answeredAt - answer.startedAt, startLag: lag,
                           answeredAt: answer.answeredAt, server: answer.server,
                           correct: true, error: nil, acceptances: answer.acceptances, retries: answer.retries)
        } catch {
            return Outcome(id: id, latency: nil, service: nil, startLag: lag, answeredAt: nil, server: nil, correct: false, error: "\(error)",
                           acceptances: [], retries: 0)
        }
    }

    /// kill -9 of the server that holds the token (by status, else server 1),
    /// then its restart with the same data folder, and the time until it
    /// serves again: until it accepts a request, which only the token's
    /// holder does (answering `status` would show only that it runs). Probe
    /// requests, one every 25 ms from a client of their own and not counted
    /// in the run's figures, keep work coming until it does.
    private static func killAndRestart(cloud: LocalCluster, config: ClusterConfig, restartAfter: Duration, probe: EncryptionClient,
                                       progress: @Sendable (String) -> Void) async -> KillReport {
        let view = try? await StatusQuery.run(config: config, timeout: .milliseconds(100))
        let victim = view?.tokenHolder ?? config.servers[0].id
        cloud.kill(victim)
        let at = ContinuousClock.now
        progress("killed server \(victim) (kill -9)")
        try? await Task.sleep(for: restartAfter)
        guard (try? cloud.start(victim)) != nil else { return KillReport(server: victim, at: at, rejoin: nil) }
        let restarted = ContinuousClock.now
        final class Earliest: Sendable { let time = Mutex<ContinuousClock.Instant?>(nil) }
        let earliest = Earliest()
        let key = Array("bench rejoin probe".utf8), client = UInt64.random(in: 1...UInt64.max)
        var probes: [Task<Void, Never>] = []
        while earliest.time.withLock({ $0 == nil }), ContinuousClock.now - restarted < .seconds(10) {
            let id = RequestID(client: client, number: UInt64(probes.count))
            probes.append(Task {
                guard let answer = try? await probe.encrypt(Array("probe \(id.number)".utf8), key: key, id: id),
                      let accepted = answer.acceptances.first(where: { $0.server == UInt64(victim) && $0.at > restarted })?.at else { return }
                earliest.time.withLock { $0 = min($0 ?? accepted, accepted) }
            })
            try? await Task.sleep(for: .milliseconds(25))
        }
        for task in probes { await task.value }
        let rejoin = earliest.time.withLock { $0 }.map { $0 - restarted }
        progress("server \(victim) restarted" + (rejoin.map { ", serving again after \(Int($0.seconds * 1000)) ms" } ?? ", not serving within 10 s"))
        return KillReport(server: victim, at: at, rejoin: rejoin)
    }

    private func makePayloads() throws -> [[UInt8]] {
        let sealKey = SymmetricKey(size: .bits256)
        if let photo {
            // Sealed by alice for bob as a peer seals a photo it sends.
            let alice = Curve25519.KeyAgreement.PrivateKey(), bob = Curve25519.KeyAgreement.PrivateKey()
            return [try PeerSeal.seal(photo.bytes, purpose: .photo, parties: .init(sender: "alice", receiver: "bob"),
                                      context: Array(SHA256.hash(data: photo.bytes)), own: alice, other: Array(bob.publicKey.rawRepresentation))]
        }
        switch workload {
        case .text:
            // Short messages, sealed as a sender would seal them for the receiver.
            return try (0..<16).map { index in
                let text = "message \(index): meet at the old harbour at seven, bring the photos"
                return Array(try ChaChaPoly.seal(Array(text.utf8), using: sealKey).combined)
            }
        case .image:
            // A small photo (96x96 PNG), sealed.
            return try (0..<4).map { index in
                let png = try SyntheticPhoto.png(seed: UInt64(index + 100), width: 96, height: 96)
                return Array(try ChaChaPoly.seal(png, using: sealKey).combined)
            }
        }
    }

    private func summarize(_ outcomes: [Outcome], servers: [Int], start: ContinuousClock.Instant, kill: KillReport?, payloadBytes: Int,
                           rejectedAnswers: Int) -> Result {
        var latencies = LatencySamples(), service = LatencySamples()
        var perServer: [String: Int] = [:]
        for server in servers { perServer[String(server)] = 0 }
        var answered = 0, late = 0
        for outcome in outcomes {
            if outcome.correct, let latency = outcome.latency, latency > deadline { late += 1 }
            // Answered in time for its user: within the deadline of when it was due to be sent.
            if outcome.correct, let latency = outcome.latency, latency <= deadline, let server = outcome.server {
                answered += 1
                latencies.record(latency)
                if let time = outcome.service { service.record(time) }
                perServer[String(server), default: 0] += 1
            }
        }
        let wrong = rejectedAnswers
        let last = outcomes.compactMap(\.answeredAt).max() ?? start
        let seconds = max(1e-6, (last - start).seconds)
        let counts = perServer.values
        var failover: Double?, failoverAll: Double?, orphaned: Int?
        if let kill {
            let victim = UInt64(kill.server)
            // Requests the killed server had accepted but not answered: the times
            // until a surviving server accepted each of them.
            let takeovers = outcomes.filter { outcome in
                outcome.server != victim && outcome.acceptances.contains { $0.server == victim && $0.at <= kill.at }
            }.compactMap { outcome in
                outcome.acceptances.first { $0.server != victim && $0.at > kill.at }.map { ($0.at - kill.at).seconds * 1000 }
            }
            orphaned = takeovers.count
            if let first = takeovers.min(), let all = takeovers.max() {
                failover = first
                failoverAll = all
            } else {
                // The killed server had nothing open: the next acceptance anywhere.
                failover = outcomes.flatMap(\.acceptances).filter { $0.at > kill.at }.map { ($0.at - kill.at).seconds * 1000 }.min()
            }
        }
        return Result(
            clients: clients, requests_per_client: requests, interval_ms: interval.seconds * 1000,
            workload: photo.map { "photo \($0.name)" } ?? workload.rawValue,
            balancing: balancing ? "token" : "none", faults: fault.rawValue, deadline_ms: deadline.seconds * 1000, payload_bytes: payloadBytes,
            sent: outcomes.count, answered: answered, failed: outcomes.count - answered, late: late,
            failure_rate: outcomes.isEmpty ? 0 : Double(outcomes.count - answered) / Double(outcomes.count),
            wrong_answers: wrong, p50_ms: latencies.percentile(50) / 1000, p99_ms: latencies.percentile(99) / 1000,
            max_ms: latencies.percentile(100) / 1000,
            latency_percentiles_ms: Self.plottedPercentiles.map { latencies.percentile($0) / 1000 }, service_p99_ms: service.percentile(99) / 1000,
            start_lag_max_ms: (outcomes.map(\.startLag).max() ?? .zero).seconds * 1000, throughput_rps: Double(answered) / seconds, seconds: seconds,
            per_server: perServer,
            balance_ratio: counts.count > 1 && counts.min()! > 0 ? Double(counts.max()!) / Double(counts.min()!) : nil,
            retries: outcomes.map(\.retries).reduce(0, +), killed_server: kill?.server,
            failover_ms: failover, failover_all_ms: failoverAll, orphaned_requests: orphaned,
            rejoin_ms: kill?.rejoin.map { $0.seconds * 1000 },
            first_errors: Array(Set(outcomes.compactMap(\.error))).sorted().prefix(5).map { $0 })
    }
}
