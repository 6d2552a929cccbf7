/// The encryption requests one server has seen and the ones it serves, as a
/// pure state machine. `Peer` is an address (a socket address in the server,
/// a number in simulations).
///
/// A request reaches every server; the work token decides which one accepts
/// it (`TokenRing`'s `.accept`). The acceptor tells the client, waits for the
/// payload on its data endpoint, has it embedded, keeps the answer and sends
/// it. Everything is idempotent: a retried request gets the acceptance again,
/// or the kept answer again; a payload that arrives twice is embedded once.
public struct EncryptionJobs<Peer: Hashable & Sendable>: Sendable {
    public struct Configuration: Sendable {
        /// An accepted request whose payload has not come by then is given up.
        public var payloadTimeout: Duration
        /// Answers kept for retries, in bytes at most (oldest forgotten first).
        public var answerCacheBytes: Int
        /// Payloads larger than this are refused.
        public var maxPayloadBytes: Int

        public init(payloadTimeout: Duration = .seconds(20), answerCacheBytes: Int = 256 << 20, maxPayloadBytes: Int = 32 << 20) {
            self.payloadTimeout = payloadTimeout
            self.answerCacheBytes = answerCacheBytes
            self.maxPayloadBytes = maxPayloadBytes
        }
    }

    public enum Directive: Sendable, Equatable {
        /// A control message to a client.
        case notify(Peer, EncryptionMessage)
        /// Hide `payload` for `request` (the server answers with `onEmbedded`).
        case embed(EncryptionMessage.Request, payload: [UInt8])
        /// Send the answer to the data endpoint of the client that asked last (the server reports with `onAnswerSent`).
        case sendAnswer(RequestID, png: [UInt8], to: Peer)
        /// The request is finished here (answered, refused or given up): tell the ring.
        case finished(RequestID)
    }

    private enum Phase: Sendable {
        case awaitingPayload(since: Instant)
        case working
        case answered(png: [UInt8], sending: Bool)
    }

    private struct Job: Sendable {
        var request: EncryptionMessage.Request
        var phase: Phase
    }

    public let server: UInt64
    public let configuration: Configuration
    /// Every request heard recently, with the control and data addresses of the client that sent it last.
    private var heard = BoundedMap<RequestID, Heard>(capacity: 131_072)
    private var jobs: [RequestID: Job] = [:]
    private var answerOrder: [RequestID] = []
    private var answerBytes = 0
    /// Requests this server has answered, in total.
    public private(set) var answered = 0

    private struct Heard: Sendable {
        var request: EncryptionMessage.Request
        var client: Peer
        var data: Peer
    }

    public init(server: UInt64, configuration: Configuration = Configuration()) {
        self.server = server
        self.configuration = configuration
    }

    /// Requests accepted here that are not answered yet.
    public var openCount: Int { jobs.values.count { if case .answered = $0.phase { false } else { true } } }

    // MARK: Events

    /// A request (or a retry) from `client`, whose data endpoint is `data`. Nil
    /// if it is acceptable (the ring, or `direct`, decides who serves it); else
    /// the refusal to send.
    public mutating func onRequest(_ request: EncryptionMessage.Request, from client: Peer, data: Peer) -> Directive? {
        if Int(request.payloadBytes) > configuration.maxPayloadBytes {
            return .notify(client, .refused(.init(id: request.id, reason: "a payload of \(request.payloadBytes) bytes is more than this cloud embeds (\(configuration.maxPayloadBytes))")))
        }
        if let known = heard[request.id], !known.request.isSameRequest(as: request) {
            return .notify(client, .refused(.init(id: request.id, reason: "request id \(request.id) was used for another payload or key; choose a new id")))
        }
        heard[request.id] = Heard(request: request, client: client, data: data)
        return nil
    }

    /// The ring (or a direct request) made this server the acceptor.
    public mutating func onAccepted(_ id: RequestID, now: Instant) -> [Directive] {
        guard let known = heard[id] else { return [] }   // never heard of: the client's retry will bring it
        guard let job = jobs[id] else {
            jobs[id] = Job(request: known.request, phase: .awaitingPayload(since: now))
            return [accepted(id, .awaitingPayload, to: known.client)]
        }
        switch job.phase {
        case .awaitingPayload: return [accepted(id, .awaitingPayload, to: known.client)]
        case .working: return [accepted(id, .working, to: known.client)]
        case .answered(let png, let sending):
            var out = [accepted(id, .answered, to: known.client)]
            if !sending {
                jobs[id]?.phase = .answered(png: png, sending: true)
                out.append(.sendAnswer(id, png: png, to: known.data))
            }
            return out
        }
    }

    /// Another server has the request: tell the client who (a retry after a lost acceptance).
    public func onClaimedElsewhere(_ id: RequestID, by owner: UInt64) -> [Directive] {
        guard let known = heard[id] else { return [] }
        return [.notify(known.client, .accepted(.init(id: id, server: owner, phase: .claimedElsewhere)))]
    }

    /// A payload object arrived on the data endpoint.
    public mutating func onPayload(_ id: RequestID, _ payload: [UInt8], digest: [UInt8]) -> [Directive] {
        guard let job = jobs[id], case .awaitingPayload = job.phase else { return [] }   // not ours, or had it already
        guard payload.count == Int(job.request.payloadBytes), digest == job.request.payloadDigest else {
            jobs[id] = nil
            let reason = "the payload that arrived for request \(id) is not the one the request announced (size or SHA-256 differ)"
            return [.finished(id)] + (heard[id].map { [.notify($0.client, .refused(.init(id: id, reason: reason)))] } ?? [])
        }
        jobs[id]?.phase = .working
        return [.embed(job.request, payload: payload)]
    }

    /// The embedding finished: the stego PNG, or why it could not be made.
    public mutating func onEmbedded(_ id: RequestID, _ result: Result<[UInt8], EmbeddingFailure>) -> [Directive] {
        guard let job = jobs[id], case .working = job.phase, let known = heard[id] else { return [] }
        switch result {
        case .success(let png):
            jobs[id]?.phase = .answered(png: png, sending: true)
            answered += 1
            answerOrder.append(id)
            answerBytes += png.count
            var out: [Directive] = [.sendAnswer(id, png: png, to: known.data), .finished(id)]
            evictAnswers(keeping: id, into: &out)
            return out
        case .failure(let failure):
            jobs[id] = nil
            return [.finished(id)] + (heard[id].map { [.notify($0.client, .refused(.init(id: id, reason: failure.message)))] } ?? [])
        }
    }

    /// Sending an answer ended (delivered or not); a retry can send it again.
    public mutating func onAnswerSent(_ id: RequestID) {
        guard let job = jobs[id], case .answered(let png, _) = job.phase else { return }
        jobs[id]?.phase = .answered(png: png, sending: false)
    }

    /// Gives up accepted requests whose payload never came.
    public mutating func onTimer(now: Instant) -> [Directive] {
        var out: [Directive] = []
        for (id, job) in jobs {
            if case .awaitingPayload(let since) = job.phase, now.since(since) >= configuration.payloadTimeout {
                jobs[id] = nil
                out.append(.finished(id))
            }
        }
        return out
    }

    public struct EmbeddingFailure: Error, Sendable, Equatable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    // MARK: Helpers

    private func accepted(_ id: RequestID, _ phase: EncryptionMessage.Accepted.Phase, to client: Peer) -> Directive {
        .notify(client, .accepted(.init(id: id, server: server, phase: phase)))
    }

    private mutating func evictAnswers(keeping newest: RequestID, into out: inout [Directive]) {
        while answerBytes > configuration.answerCacheBytes, let oldest = answerOrder.first, oldest != newest {
            answerOrder.removeFirst()
            if let job = jobs.removeValue(forKey: oldest), case .answered(let png, _) = job.phase { answerBytes -= png.count }
        }
    }
}

extension EncryptionMessage.Request {
    /// The same work asked for (a retry may come from another port, or another client process).
    func isSameRequest(as other: Self) -> Bool {
        id == other.id && direct == other.direct && bitsPerChannel == other.bitsPerChannel && payloadBytes == other.payloadBytes
            && payloadDigest == other.payloadDigest && key == other.key
    }
}
