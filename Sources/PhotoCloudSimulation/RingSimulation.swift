import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// A whole work-token cluster under `SimulatedNetwork`, deterministic from a
/// seed: N `TokenRing` servers and one client that sends requests to every
/// server and retries unanswered ones with the same id; servers crash (losing
/// everything but their persisted epoch) and restart, links are cut and
/// healed. After every step the invariants are checked; the outcome lists
/// any violation.
public struct RingSimulation {
    public struct Options: Sendable {
        public var servers = 3
        public var requests = 300
        public var requestInterval: Duration = .milliseconds(2)
        public var work: Duration = .milliseconds(1)
        public var clientRetry: Duration = .milliseconds(400)
        public var faults = FaultProfile(delay: .microseconds(200))
        /// Crash a random server this many times (each restarts later).
        public var crashes = 0
        /// Milliseconds a crashed server stays down (drawn at random); nil: it stays down.
        public var restartDelay: ClosedRange<Int>? = 200...800
        /// Cut a random link between two servers this many times (each heals later).
        public var partitions = 0
        /// The cloud's faults (server ids 1...servers), given to every world of one `simulate` run, in place of
        /// `crashes` and `partitions`; a cut of `.clients(a)` cuts the client off from server a.
        public var cloudFaults: CloudFaults?
        /// How long after the last request everything must be answered.
        public var settle: Duration = .seconds(4)
        /// A bound on the run, so a protocol that spins fails instead of hanging.
        public var maxSteps = 2_000_000
        /// A known bug to plant, so that one can watch the checker catch it:
        /// a server that keeps the token it passed on (once).
        public var keepPassedToken = false
        /// Another: a server draws an answer's nonce itself (here: from its own id, as a fresh random nonce would
        /// differ from server to server) instead of from the request (`AnswerDerivation`).
        public var serverChosenNonce = false

        public init() {}
    }

    public struct Outcome: Sendable {
        public var requests = 0
        public var answered = 0
        /// Requests accepted by more than one server (allowed: reopened or raced; the work is idempotent).
        public var acceptedTwice = 0
        /// Answers that reached the client after its first for the same request, each compared with the first.
        public var answersCompared = 0
        /// Of those, the ones from another server than the first answer.
        public var answersComparedAcrossServers = 0
        public var perServer: [UInt64: Int] = [:]
        public var epochs: Set<Epoch> = []
        public var violations: [String] = []
        public var steps = 0
        public var crashes = 0
        /// The step of the first violation, if any.
        public var firstViolationStep: Int?
    }

    private enum Message: Sendable {
        case ring(RingMessage)
        case request(RequestID)
        case answer(RequestID, result: [UInt8])
    }

    private struct Server {
        var ring: TokenRing?
        var deadline: Instant?
        var persisted: Epoch?
        var work: [(due: Instant, request: RequestID)] = []
    }

    private struct Scheduled {
        var at: Instant
        var action: Action
    }

    private enum Action {
        case send(RequestID)
        case crash(UInt64)
        case restart(UInt64)
        case cut(Int, Int)
        case heal(Int, Int)
    }

    public static func run(seed: UInt64, options: Options = Options()) -> Outcome {
        var simulation = RingSimulation(seed: seed, options: options)
        return simulation.run()
    }

    private let options: Options
    private let seed: UInt64
    private var random: SeededRandom
    private var network: SimulatedNetwork<Message>
    private var servers: [UInt64: Server] = [:]
    private var members: [UInt64]
    private var schedule: [Scheduled] = []
    private var unanswered: Set<RequestID> = []
    /// Each request's payload digest (drawn from the seed) and the first answer the client got, with its server.
    private var payloadDigests: [RequestID: [UInt8]] = [:]
    private var results: [RequestID: (result: [UInt8], from: Int)] = [:]
    private var accepted: [RequestID: Set<UInt64>] = [:]
    private var outcome = Outcome()
    private var now = Instant.zero
    private var planted = false

    private init(seed: UInt64, options: Options) {
        self.options = options
        self.seed = seed
        random = SeededRandom(seed: seed ^ 0x5EED)
        network = SimulatedNetwork(seed: seed, faults: options.faults)
        members = (1...UInt64(options.servers)).map { $0 }
    }

    private mutating func run() -> Outcome {
        for id in members { boot(id) }
        let span = options.requestInterval * options.requests
        for number in 0..<options.requests {
            let request = RequestID(client: 77, number: UInt64(number))
            unanswered.insert(request)
            // From the seed without drawing from `random`, so the run's other draws stay as they were.
            payloadDigests[request] = Array(SHA256.hash(data: seed.bigEndianBytes + request.number.bigEndianBytes))
            schedule.append(Scheduled(at: .zero + options.requestInterval * number, action: .send(request)))
        }
        outcome.requests = options.requests
        for entry in options.cloudFaults?.entries ?? [] {
            let action: Action = switch entry.event {
            case .crash(let server): .crash(UInt64(server))
            case .restart(let server): .restart(UInt64(server))
            case .cut(.servers(let a, let b)): .cut(a, b)
            case .cut(.clients(let a)): .cut(0, a)
            case .heal(.servers(let a, let b)): .heal(a, b)
            case .heal(.clients(let a)): .heal(0, a)
            }
            schedule.append(Scheduled(at: entry.at, action: action))
        }
        for _ in 0..<options.crashes {
            let victim = members[Int(random.next() % UInt64(members.count))]
            let at = Instant.zero + .nanoseconds(Int64(random.next() % span.nanoseconds))
            schedule.append(Scheduled(at: at, action: .crash(victim)))
            if let down = options.restartDelay {
                let span = UInt64(down.upperBound - down.lowerBound + 1)
                schedule.append(Scheduled(at: at + .milliseconds(Int64(down.lowerBound) + Int64(random.next() % span)), action: .restart(victim)))
            }
        }
        for _ in 0..<options.partitions {
            let a = Int(members[Int(random.next() % UInt64(members.count))])
            var b = a
            while b == a { b = Int(members[Int(random.next() % UInt64(members.count))]) }
            let at = Instant.zero + .nanoseconds(Int64(random.next() % span.nanoseconds))
            schedule.append(Scheduled(at: at, action: .cut(a, b)))
            schedule.append(Scheduled(at: at + .milliseconds(100 + Int64(random.next() % 500)), action: .heal(a, b)))
        }
        let end = Instant.zero + span + options.settle + .seconds(1)
        while let next = nextTime(), next <= end, !(unanswered.isEmpty && schedule.isEmpty && now > .zero + span) {
            now = max(now, next)
            step()
            outcome.steps += 1
            checkInvariants()
            if !outcome.violations.isEmpty, outcome.firstViolationStep == nil { outcome.firstViolationStep = outcome.steps }
            if outcome.steps >= options.maxSteps {
                outcome.violations.append("no end after \(outcome.steps) steps at \(now): something spins")
                break
            }
        }
        outcome.answered = options.requests - unanswered.count
        outcome.acceptedTwice = accepted.values.filter { $0.count > 1 }.count
        if !unanswered.isEmpty {
            // What each live server believes of the first one: who took it, and who accepted it.
            let first = unanswered.sorted()[0]
            let views = members.map { id -> String in
                guard let ring = servers[id]?.ring else { return "\(id): down" }
                let working = servers[id]!.work.contains { $0.request == first } ? ", working on it" : ""
                return "\(id): " + (ring.claims[first].map { "claimed by \($0)" } ?? "no claim") + working
            }
            outcome.violations.append("\(unanswered.count) requests never answered, e.g. \(unanswered.sorted().prefix(3)); \(first) was accepted by "
                                      + "\(accepted[first].map { $0.sorted().map(String.init).joined(separator: ", ") } ?? "nobody"); servers: "
                                      + views.joined(separator: "; "))
        }
        return outcome
    }

    private func nextTime() -> Instant? {
        var times: [Instant] = schedule.map(\.at)
        if let delivery = network.nextDeliveryTime { times.append(delivery) }
        for server in servers.values {
            if let deadline = server.deadline { times.append(deadline) }
            times.append(contentsOf: server.work.map(\.due))
        }
        return times.min()
    }

    private mutating func step() {
        if let index = schedule.firstIndex(where: { $0.at <= now }) {
            let action = schedule.remove(at: index).action
            perform(action)
            return
        }
        if let at = network.nextDeliveryTime, at <= now, let delivery = network.nextDelivery() {
            deliver(delivery)
            return
        }
        for id in members {
            if let index = servers[id]?.work.firstIndex(where: { $0.due <= now }) {
                let request = servers[id]!.work.remove(at: index).request
                guard servers[id]?.ring != nil else { continue }
                apply(servers[id]!.ring!.onCompleted([request], now: now), at: id)
                network.send(.answer(request, result: answer(to: request, at: id)), from: Int(id), to: 0, now: now)
                return
            }
            if let deadline = servers[id]?.deadline, deadline <= now, servers[id]?.ring != nil {
                servers[id]!.deadline = nil
                let before = plantArmed ? servers[id]!.ring : nil
                let directives = servers[id]!.ring!.onTimer(now: now)
                plantKeptToken(at: id, before: before, directives)
                apply(directives, at: id)
                return
            }
        }
    }

    private mutating func perform(_ action: Action) {
        switch action {
        case .send(let request):
            guard unanswered.contains(request) else { return }
            for id in members { network.send(.request(request), from: 0, to: Int(id), now: now) }
            schedule.append(Scheduled(at: now + options.clientRetry, action: .send(request)))
        case .crash(let id):
            guard servers[id]?.ring != nil else { return }
            servers[id]!.ring = nil
            servers[id]!.deadline = nil
            servers[id]!.work = []
            outcome.crashes += 1
        case .restart(let id):
            guard servers[id]?.ring == nil else { return }
            boot(id)
        case .cut(let a, let b): network.partition(a, b)
        case .heal(let a, let b): network.partition(a, b, cut: false)
        }
    }

    private mutating func boot(_ id: UInt64) {
        var server = servers[id] ?? Server()
        var ring = TokenRing(id: id, members: members, persisted: server.persisted, now: now)
        let directives = ring.start(now: now)
        server.ring = ring
        servers[id] = server
        apply(directives, at: id)
    }

    private mutating func deliver(_ delivery: SimulatedNetwork<Message>.Delivery) {
        if delivery.to == 0 {
            if case .answer(let request, let result) = delivery.message { received(result, for: request, from: delivery.from) }
            return
        }
        let id = UInt64(delivery.to)
        guard servers[id]?.ring != nil else { return }   // crashed: the datagram is lost
        switch delivery.message {
        case .ring(let message):
            let before = plantArmed ? servers[id]!.ring : nil
            let directives = servers[id]!.ring!.on(message, from: UInt64(delivery.from), now: now)
            plantKeptToken(at: id, before: before, directives)
            apply(directives, at: id)
        case .request(let request):
            apply(servers[id]!.ring!.onRequest(request, now: now), at: id)
        case .answer:
            break
        }
    }

    private mutating func apply(_ directives: [RingDirective], at id: UInt64) {
        for directive in directives {
            switch directive {
            case .send(let to, let message):
                network.send(.ring(message), from: Int(id), to: Int(to), now: now)
            case .broadcast(let message):
                for other in members where other != id { network.send(.ring(message), from: Int(id), to: Int(other), now: now) }
            case .accept(let request):
                if accepted[request, default: []].insert(id).inserted { outcome.perServer[id, default: 0] += 1 }
                if !(servers[id]?.work.contains { $0.request == request } ?? false) {
                    servers[id]?.work.append((now + options.work, request))
                }
            case .claimedElsewhere:
                break
            case .persist(let epoch):
                if let previous = servers[id]?.persisted, previous >= epoch {
                    outcome.violations.append("server \(id) persisted epoch \(epoch) after \(previous)")
                }
                servers[id]?.persisted = epoch
                outcome.epochs.insert(epoch)
            case .armTimer(let at):
                servers[id]?.deadline = at
            }
        }
    }

    /// What a server's work makes of a request: a stand-in for the embedding (`ServerActor.embed`), a digest of
    /// what decides the real answer's bytes besides the payload and the covers (the same on every server): the
    /// cover drawn and the nonce, from `AnswerDerivation`, and the payload.
    private func answer(to request: RequestID, at server: UInt64) -> [UInt8] {
        let digest = payloadDigests[request] ?? []
        var nonce = AnswerDerivation.nonce(for: request, payloadDigest: digest, bytes: 24)
        if options.serverChosenNonce { nonce = Array(SHA256.hash(data: nonce + server.bigEndianBytes).prefix(24)) }
        var hash = SHA256()
        hash.update(data: UInt64(AnswerDerivation.coverIndex(for: request, covers: 8)).bigEndianBytes)
        hash.update(data: nonce)
        hash.update(data: digest)
        return Array(hash.finalize())
    }

    /// The client takes the first answer; every later one must carry the same result.
    private mutating func received(_ result: [UInt8], for request: RequestID, from server: Int) {
        unanswered.remove(request)
        guard let first = results[request] else {
            results[request] = (result, server)
            return
        }
        outcome.answersCompared += 1
        if server != first.from { outcome.answersComparedAcrossServers += 1 }
        if result != first.result {
            outcome.violations.append("at \(now) request \(request) was answered twice with two different results: by server \(first.from), "
                                      + "then by server \(server)")
        }
    }

    /// Whether the planted bug is still to strike: only then is a server's state kept from before an event (a copy
    /// that the event's changes would otherwise make real, copying its tables, on every step).
    private var plantArmed: Bool { options.keepPassedToken && !planted }

    /// The planted bug: the server that just handed the token on forgets that it did (its state before the hand-off
    /// comes back), while the token still goes to the next server.
    private mutating func plantKeptToken(at id: UInt64, before: TokenRing?, _ directives: [RingDirective]) {
        guard plantArmed, before?.isHolding == true else { return }
        let handsOn = directives.contains { if case .send(_, .token) = $0 { true } else { false } }
        guard handsOn else { return }
        planted = true
        servers[id]!.ring = before
    }

    /// At most one live holder per epoch.
    private mutating func checkInvariants() {
        var holders: [Epoch: UInt64] = [:]
        for id in members {
            guard let position = servers[id]?.ring?.holdingPosition else { continue }
            if let other = holders[position.epoch] {
                outcome.violations.append("at \(now) servers \(other) and \(id) both hold epoch \(position.epoch)")
            }
            holders[position.epoch] = id
        }
    }
}
