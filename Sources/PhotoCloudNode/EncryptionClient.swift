import AsyncUDP
import Crypto
import Foundation
import PNGCodec
import PhotoCloudProtocol
import Steganography

/// Asks the cloud to hide payloads: the thin shell around `EncryptionAttempt`
/// state machines, many at once over one control socket and one data endpoint.
/// Server failures show only as latency: the attempt retries with the same
/// request id until some server answers.
///
/// Nothing a stranger sends is believed: control answers count only when
/// signed by the server they name (its key is in the cluster file); the data
/// endpoint takes only the answer transfer of a request in flight, announced
/// with a size bound that follows from the payload; and an answer is
/// returned only after the payload has been extracted from it with the
/// request's key and found identical (a wrong one is dropped, and the
/// attempt goes on).
public actor EncryptionClient {
    public struct Answer: Sendable {
        public var id: RequestID
        /// The stego PNG.
        public var png: [UInt8]
        /// The server whose answer arrived.
        public var server: UInt64
        public var startedAt: ContinuousClock.Instant
        /// When the answer arrived (the cloud's latency ends here).
        public var answeredAt: ContinuousClock.Instant
        /// When it was found to carry the payload (the client's own check ends here).
        public var checkedAt: ContinuousClock.Instant
        /// Each server that accepted (or was named as having) the request, first time heard.
        public var acceptances: [(server: UInt64, at: ContinuousClock.Instant)]
        public var retries: Int
    }

    private struct Entry {
        var attempt: EncryptionAttempt
        var payload: [UInt8]
        var continuation: CheckedContinuation<Answer, any Error>
        var progress: (@Sendable (Int, Int) -> Void)?
        /// An answer is being checked.
        var checking = false
    }

    public nonisolated let loop: EventLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
    public nonisolated let control: UDPSocket
    public nonisolated let data: TransferEndpoint
    public nonisolated let clock = ProtocolClock()
    private let config: ClusterConfig
    private let direct: Bool
    /// The attempts' configuration (`base`) and the cloud's pace as this client's attempts saw it: each new attempt's waits.
    private var timing: RetryTiming
    private let keys: WireKeys
    private let clientKey: [UInt8]
    private var origin = WireOrigin(sender: UInt64.random(in: 1...UInt64.max))
    private let maxAnswerBytes: Int
    /// Answers are checked (decoded, the payload extracted) here, off the loop.
    private let checkers: WorkerPool
    /// Answers that did not carry their payload, dropped.
    public private(set) var rejectedAnswers = 0
    private var entries: [RequestID: Entry] = [:]
    /// Payload transfers in flight to each server, at most `maxPayloadsInFlight`;
    /// the others wait their turn, in order (`payloadsWaiting`).
    private var payloadsInFlight: [UInt64: Int] = [:]
    private var payloadsWaiting: [UInt64: WaitingPayloads] = [:]
    /// The most payload transfers that were in flight to each server at once.
    public private(set) var mostPayloadsInFlight: [UInt64: Int] = [:]
    /// At 10x the original load with photos, 10,000 payload transfers of
    /// 14.5 kB started within a second: the servers' receive buffers
    /// overflowed (50,000 datagrams dropped in one run), and each transfer
    /// waited for its retransmission timeouts, so that payloads accepted in
    /// the first second arrived after the client's 5 s deadline. A server
    /// embeds a few hundred a second at most; 32 at once from one client
    /// keep it fed (HTTP/2 bounds its concurrent streams the same way).
    public static let maxPayloadsInFlight = 32
    /// The newest cookie each server sent this client's data endpoint (in an
    /// address check, which only that endpoint receives): small payloads go
    /// inline in requests to that server.
    private var cookies: [UInt64: [UInt8]] = [:]
    private nonisolated let addressChecks: AsyncStream<([UInt8], SocketAddress)>
    /// Answers that came in one datagram, from a server's data endpoint.
    private nonisolated let inlineAnswers: AsyncStream<([UInt8], SocketAddress)>
    private var receiveBuffer = [UInt8](repeating: 0, count: UDPSocket.maxDatagramSize)
    private var tasks: [Task<Void, Never>] = []
    private var ticking = false
    private var timers = TimerQueue<RequestID>()

    /// `direct`: every request to server 1 only, served without the token (the
    /// original's baseline without load balancing; servers honour it only
    /// when started with `--allow-direct`). `checkers` check answers (a
    /// pool of its own if not given).
    public init(config: ClusterConfig, loop: EventLoop = .shared, direct: Bool = false,
                attempt: EncryptionAttempt.Configuration = .init(), maxAnswerBytes: Int = 512 << 20, checkers: WorkerPool? = nil) throws {
        guard !config.servers.isEmpty else { throw NodeError(.clusterFile, "\(config.source) lists no servers") }
        self.loop = loop
        self.config = config
        self.direct = direct
        self.maxAnswerBytes = maxAnswerBytes
        timing = RetryTiming(attempt)
        // A key of its own for this process: the servers tag their answers with the session key it makes with the cloud's.
        let own = Curve25519.KeyAgreement.PrivateKey()
        clientKey = Array(own.publicKey.rawRepresentation)
        guard let cluster = config.agreementPublicKey, let session = try? SessionKey.client(own, cluster: cluster) else {
            throw NodeError(.clusterFile, "\(config.source) has no valid [cluster] agreement key")
        }
        keys = config.wireKeys().with(session: session)
        self.checkers = checkers ?? WorkerPool(name: "photocloud-check", threads: 1)
        let any = config.anyLocalAddress
        let options = UDPSocket.Options(receiveBufferSize: 8 << 20, sendBufferSize: 8 << 20)
        control = try UDPSocket(bind: any, options: options, loop: loop)
        let dataSocket = try UDPSocket(bind: any, options: options, loop: loop)
        // Answers are announced one by one; nothing else is taken. The servers' cookies for the endpoint come here too.
        // A server's check comes under this client's session key (a tag in the header).
        let (checks, hook) = TransferEndpoint.addressCheckStream(size: Wire.headerSize + AddressCheck.size,
                                                                 from: Set(config.servers.map(\.control)), buffer: 64)
        addressChecks = checks
        // Inline answers only from the servers' data endpoints, and of a size one can have; the newest 1,024 wait
        // (60 MiB at most: more than one drain of the socket brings, and a bound on what a flood of forged ones holds).
        let smallest = Wire.headerSize + EncryptionObject.resultOverhead(proof: 32) + 8
        let (answers, answerHook) = TransferEndpoint.handOffStream(sizes: smallest...(Wire.headerSize + EncryptionMessage.maxInlineAnswer),
                                                                   from: Set(config.servers.map(\.data)), buffer: 1_024)
        inlineAnswers = answers
        data = TransferEndpoint(socket: dataSocket, loop: loop, admission: .announcedOnly(inFlightTotal: maxAnswerBytes), addressChecks: hook,
                                answers: answerHook)
    }

    /// The largest answer a payload of `bytes` can have: a cover the payload
    /// fills at least an eighth of (a half at most, and covers come in sizes a
    /// quarter apart), at under 4 bytes a pixel, with room for small payloads.
    static func answerBound(payloadBytes bytes: Int, cap: Int) -> Int {
        min(cap, 128 * bytes + (4 << 20))
    }

    /// Starts reading both sockets (call once).
    public func start() async {
        guard tasks.isEmpty else { return }
        let socket = control
        tasks.append(Task(executorPreference: loop) { [weak self] in
            await socket.drainWhenReadable { await self?.drain() ?? .stopped }
        })
        let checks = addressChecks
        tasks.append(Task(executorPreference: loop) { [weak self] in
            for await (bytes, from) in checks {
                guard let self else { return }
                await self.addressChecked(bytes, from: from)
            }
        })
        let answers = inlineAnswers
        tasks.append(Task(executorPreference: loop) { [weak self] in
            for await (bytes, from) in answers {
                guard let self else { return }
                await self.receivedInline(bytes, from: from)
            }
        })
        let endpoint = data
        await endpoint.start()
        tasks.append(Task(executorPreference: loop) { [weak self] in
            for await delivery in endpoint.deliveries {
                guard let self else { return }
                await self.received(delivery)
            }
        })
    }

    public func close() async {
        for task in tasks { task.cancel() }
        control.close()
        await data.close()
        for (_, entry) in entries { entry.continuation.resume(throwing: NodeError(.network, "the encryption client was closed")) }
        entries = [:]
    }

    /// Has the cloud hide `payload` with the stego key material `key` (1-64 bytes,
    /// `StegoKey.material(parsing:)`);
    /// returns the stego PNG. `progress` sees the payload's upload (bytes, total).
    public func encrypt(_ payload: [UInt8], key: [UInt8], id: RequestID, bitsPerChannel: Int = 1,
                        progress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> Answer {
        guard EncryptionMessage.keyBytes.contains(key.count) else {
            throw NodeError(.io, "a stego key for the cloud has 1 to 64 bytes, not \(key.count)")
        }
        guard payload.count <= Int(UInt32.max) else { throw NodeError(.io, "a payload of \(payload.count) bytes is too large") }
        guard entries[id] == nil else { throw NodeError(.io, "request \(id) is already in progress") }
        let request = EncryptionMessage.Request(id: id, direct: direct, bitsPerChannel: UInt8(clamping: bitsPerChannel),
                                                payloadBytes: UInt32(payload.count), payloadDigest: Array(SHA256.hash(data: payload)), key: key,
                                                dataPort: data.socket.localAddress.port, clientKey: clientKey)
        expectAnswers(id, payloadBytes: payload.count)
        return try await withCheckedThrowingContinuation { continuation in
            var attempt = EncryptionAttempt(request: request, configuration: timing.configuration, now: now())
            let directives = attempt.start()
            entries[id] = Entry(attempt: attempt, payload: payload, continuation: continuation, progress: progress)
            apply(directives, id: id)
        }
    }

    // MARK: Events

    private func drain() -> UDPSocket.Drained {
        // No time budget: answers already queued are read before the retry timers fire (yielding to them
        // mid-burst resent requests whose acceptances sat unread, and doubled the retries under load).
        control.receiveEach(into: &receiveBuffer, budget: .seconds(3_600)) { bytes, address in
            handle(bytes, from: address)
            return true
        }
    }

    private func handle(_ bytes: ArraySlice<UInt8>, from address: SocketAddress) {
        // Only the cluster's servers answer requests, each tagging what it says with this client's session key (or
        // signing it); a signature is checked only once the rest says the message is about a request in flight.
        guard let server = config.servers.first(where: { $0.control == address }),
              let frame = try? Wire.decodeFrame(bytes, keys: keys, checkingSignature: false), frame.auth == .session || frame.auth == .signed,
              frame.sender == UInt64(server.id),
              let message = try? EncryptionMessage.decode(type: frame.type, body: frame.payload), let entry = entries[message.requestID],
              frame.auth == .session || (try? Wire.checkSignature(of: bytes, keys: keys)) != nil else { return }
        switch message {
        case .accepted(let accepted):
            // Whoever it names must be a server of this cloud (the id came from the wire).
            guard let named = Int(exactly: accepted.server), config.server(id: named) != nil else { return }
            timing.onFirstAcceptance(of: entry.attempt, now: now())
            apply(entries[accepted.id]!.attempt.on(accepted, now: now()), id: accepted.id)
        case .refused(let refused):
            // Only a refusal of the very request sent (a stranger's variant of it is refused to this address too).
            guard refused.request == entry.attempt.request.digest else { return }
            apply(entries[refused.id]!.attempt.onRefused(refused.reason), id: refused.id)
        case .request, .answerReceived:
            return
        }
    }

    /// A server's cookie for the data endpoint, sent there (only that
    /// endpoint receives it): under this client's session key, from the
    /// server's control endpoint.
    private func addressChecked(_ bytes: [UInt8], from address: SocketAddress) {
        guard let server = config.servers.first(where: { $0.control == address }),
              let frame = try? Wire.decodeFrame(bytes[...], keys: keys, checkingSignature: false), frame.auth == .session,
              frame.type == .addressCheck, frame.sender == UInt64(server.id),
              let check = try? AddressCheck.decode(frame.payload),
              // The answer to a request of this client's that is in flight (the nonce is its number): a captured
              // check replayed later does not replace a newer cookie.
              entries.keys.contains(where: { $0.number == check.nonce }) else { return }
        cookies[UInt64(server.id)] = check.cookie
    }

    /// Whether `proof` shows that server `server` made this answer: under this client's session key, or its signature.
    private func proves(_ proof: EncryptionObject.AnswerProof, _ id: RequestID, server: UInt64, png: [UInt8]) -> Bool {
        let statement = EncryptionObject.statement(id, server: server, png: png)
        switch proof {
        case .session(let mac):
            return keys.isValidSessionCode(mac, for: statement)
        case .signature(let signature):
            return keys.servers[server]?.isValidSignature(signature, for: statement) ?? false
        }
    }

    private func received(_ delivery: TransferEndpoint.Delivery) {
        // An answer comes from a server's data endpoint, under that server's transfer id, with its proof.
        guard case .result(let id, let server, let proof, let png)? = try? EncryptionObject.decode(delivery.bytes),
              delivery.transferID == id.answerTransfer(from: server) else { return }
        take(id, server: server, proof: proof, png: png, from: delivery.from)
    }

    /// An answer in one datagram: said to have arrived (to the server's
    /// control endpoint, from this data endpoint, where it went), then taken
    /// as one that came by transfer.
    private func receivedInline(_ bytes: [UInt8], from address: SocketAddress) {
        guard let frame = try? Wire.decodeFrame(bytes[...], keys: keys), frame.type == .encryptAnswer, frame.auth == .open,
              case .result(let id, let server, let proof, let png)? = try? EncryptionObject.decodeAnswer(frame.payload),
              let named = Int(exactly: server), let servers = config.server(id: named), servers.data == address else { return }
        // Said even for a request already answered (a resend whose predecessor's receipt was lost): small, and only
        // to the server whose data endpoint sent it.
        if let receipt = encode(.answerReceived(.init(id: id, server: server))) { _ = try? data.socket.trySend(receipt, to: servers.control) }
        take(id, server: server, proof: proof, png: png, from: address)
    }

    private func take(_ id: RequestID, server: UInt64, proof: EncryptionObject.AnswerProof, png: [UInt8], from address: SocketAddress) {
        guard let named = Int(exactly: server), config.server(id: named)?.data == address,
              let entry = entries[id], !entry.checking else { return }
        guard proves(proof, id, server: server, png: png) else {
            rejectedAnswers += 1
            expectAnswers(id, payloadBytes: entry.payload.count)   // the server's own may still come
            return
        }
        let arrived = ContinuousClock.now
        timing.onAnswer(of: entry.attempt, from: server, now: now())
        entries[id]?.checking = true
        entries[id]?.attempt.onAnswer()   // no retries while it is checked
        timers.cancel(id)
        let payload = entry.payload, key = entry.attempt.request.key
        Task(executorPreference: loop) { [weak self, checkers] in
            // The payload must come back out with the request's key.
            let carries = await checkers.run {
                // A small answer on one thread: checks run side by side (a bench's many, a daemon's), and its
                // random reads split over two cores only bounce its cache lines between them.
                let stego = StegoPNG(codec: PNGCodec(encoder: PNGEncoder(threads: 1)), threads: png.count < 1 << 20 ? 1 : ProcessorCount.online)
                return (try? stego.extract(from: png, key: StegoKey(material: key))) == payload
            }
            await self?.checked(id, png: png, server: server, arrived: arrived, carriesPayload: carries)
        }
    }

    /// The answer may come from any server of the cloud (the acceptor may die): one announcement each.
    private func expectAnswers(_ id: RequestID, payloadBytes: Int) {
        data.expect(config.servers.map { id.answerTransfer(from: UInt64($0.id)) },
                    maxBytes: Self.answerBound(payloadBytes: payloadBytes, cap: maxAnswerBytes), within: timing.base.giveUpAfter)
    }

    private func checked(_ id: RequestID, png: [UInt8], server: UInt64, arrived: ContinuousClock.Instant, carriesPayload: Bool) {
        guard carriesPayload else {
            rejectedAnswers += 1
            guard entries[id] != nil else { return }
            entries[id]?.checking = false
            // Take the answer transfer again and ask again: the right answer may still come.
            expectAnswers(id, payloadBytes: entries[id]?.payload.count ?? 0)
            apply(entries[id]!.attempt.onAnswerRejected(now: now()), id: id)
            return
        }
        guard var entry = entries.removeValue(forKey: id) else { return }
        timers.cancel(id)
        entry.attempt.onAnswerAccepted()
        let answer = Answer(
            id: id, png: png, server: server, startedAt: clock.real(entry.attempt.startedAt), answeredAt: arrived, checkedAt: .now,
            acceptances: entry.attempt.acceptances.map { ($0.server, clock.real($0.at)) }, retries: entry.attempt.retries)
        entry.continuation.resume(returning: answer)
    }

    private func payloadSent(_ id: RequestID, to server: UInt64, ok: Bool) {
        payloadsInFlight[server, default: 1] -= 1
        // The next waiting payload for that server whose request still waits for an answer.
        while payloadsInFlight[server, default: 0] < Self.maxPayloadsInFlight, let next = payloadsWaiting[server]?.takeFirst() {
            if entries[next] != nil { startPayload(next, to: server) }
        }
        guard entries[id] != nil else { return }
        apply(entries[id]!.attempt.onPayloadSent(to: server, delivered: ok, now: now()), id: id)
    }

    /// Starts the payload transfer of `id` to `server`'s data endpoint.
    private func startPayload(_ id: RequestID, to server: UInt64) {
        guard let entry = entries[id], let named = Int(exactly: server), let address = config.server(id: named)?.data else { return }
        payloadsInFlight[server, default: 0] += 1
        mostPayloadsInFlight[server] = max(mostPayloadsInFlight[server] ?? 0, payloadsInFlight[server]!)
        let object = EncryptionObject.payload(id, entry.payload).encoded()
        let endpoint = data
        let progress = entry.progress
        Task(executorPreference: loop) { [weak self] in
            let ok = (try? await endpoint.send(object, to: address, transferID: id.payloadTransfer(to: server), progress: progress)) != nil
            await self?.payloadSent(id, to: server, ok: ok)
        }
    }

    // MARK: Directives

    private func apply(_ directives: [EncryptionAttempt.Directive], id: RequestID) {
        for directive in directives {
            guard let entry = entries[id] else { return }
            switch directive {
            case .sendRequest:
                sendRequest(entry.attempt.request, payload: entry.payload)
            case .sendPayload(let server):
                guard let named = Int(exactly: server), config.server(id: named) != nil else {
                    apply(entries[id]!.attempt.onPayloadSent(to: server, delivered: false, now: now()), id: id)
                    continue
                }
                if payloadsInFlight[server, default: 0] < Self.maxPayloadsInFlight {
                    startPayload(id, to: server)
                } else {
                    payloadsWaiting[server, default: WaitingPayloads()].ids.append(id)
                }
            case .armTimer(let at):
                timers.arm(id, at: at)
                startTicking()
            case .fail(let reason):
                entries[id] = nil
                timers.cancel(id)
                entry.continuation.resume(throwing: NodeError(.network, reason))
            }
        }
    }

    /// Sends the request to the servers: to each with the cookie it gave this
    /// client's data endpoint, and then, if the payload is small, the payload
    /// inline (that server then needs no payload transfer).
    private func sendRequest(_ request: EncryptionMessage.Request, payload: [UInt8]) {
        let targets = direct ? Array(config.servers.prefix(1)) : config.servers
        var plain: [UInt8]?
        for server in targets {
            var bytes: [UInt8]
            if let cookie = cookies[UInt64(server.id)], payload.count <= EncryptionMessage.maxInlinePayload {
                var carrying = request
                carrying.cookie = cookie
                carrying.inline = payload
                guard let encoded = encode(.request(carrying)) else { continue }
                bytes = encoded
            } else {
                if plain == nil { plain = encode(.request(request)) }
                guard let plain else { continue }
                bytes = plain
            }
            _ = try? control.trySend(bytes, to: server.control)
        }
    }

    private func encode(_ message: EncryptionMessage) -> [UInt8]? {
        var bytes: [UInt8] = []
        guard (try? Wire.encode(into: &bytes, header: origin.next(message.type), keys: keys,
                                writePayload: { $0.append(contentsOf: message.encoded()) })) != nil else { return nil }
        return bytes
    }

    // MARK: Timers

    private func startTicking() {
        guard !ticking else { return }
        ticking = true
        Task(executorPreference: loop) { [weak self] in
            while let self, await self.tick() {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// Fires due retries; false when no attempt is left.
    private func tick() -> Bool {
        let at = now()
        for id in timers.popDue(now: at) where entries[id] != nil {
            let directives = entries[id]!.attempt.onTimer(now: at)
            if directives.contains(.sendRequest), entries[id]!.attempt.acceptances.isEmpty { timing.onRetryBeforeAcceptance() }
            apply(directives, id: id)
        }
        if entries.isEmpty { ticking = false }
        return !entries.isEmpty
    }

    private func now() -> Instant { clock.now() }
}

/// Requests whose payload waits for a transfer slot to one server, oldest
/// first from `head` (thousands may wait: taking the first is not a copy of
/// the rest).
private struct WaitingPayloads {
    var ids: [RequestID] = []
    var head = 0

    mutating func takeFirst() -> RequestID? {
        guard head < ids.count else { return nil }
        let first = ids[head]
        head += 1
        if head == ids.count {
            ids.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1_024, head * 2 >= ids.count {
            ids.removeFirst(head)
            head = 0
        }
        return first
    }
}
