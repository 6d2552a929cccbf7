import Crypto

/// The encryption requests one server has seen and the ones it serves, as a
/// pure state machine. `Peer` is an address (a socket address in the server,
/// a number in simulations).
///
/// A request reaches every server; the work token decides which one accepts
/// it (`TokenRing`'s `.accept`). The acceptor tells the client, announces the
/// payload to its data endpoint (nothing else may make it allocate), waits
/// for it, has it embedded, keeps the answer and sends it. Everything is
/// idempotent: a retried request gets the acceptance again, or the kept
/// answer again; a payload that arrives twice is embedded once.
///
/// The answer goes only to a data endpoint that has shown it receives: the
/// one that delivered the payload (a transfer's end proves that its source
/// receives), or the one a request carrying its payload inline names with a
/// valid cookie (`AddressCookies`; the server sends one to the data endpoint
/// a small request names, so only that endpoint has it):
/// a request anyone can forge never points a large answer at an address that
/// did not ask. A retry whose data endpoint is another one is asked for the
/// payload again, from there. Inline payloads (small ones, in the request
/// itself) save the payload transfer: one datagram instead of four and a
/// round trip.
public struct EncryptionJobs<Peer: Hashable & Sendable>: Sendable {
    public struct Configuration: Sendable {
        /// An accepted request whose payload has not come by then is given up.
        public var payloadTimeout: Duration
        /// Answers kept for retries, in bytes at most (oldest forgotten first).
        public var answerCacheBytes: Int
        /// Payloads larger than this are refused.
        public var maxPayloadBytes: Int
        /// Accepted requests not answered yet, at most; beyond, a new one is let go
        /// (the ring forgets it, and the client's retry brings it back).
        public var maxOpenJobs: Int

        public init(payloadTimeout: Duration = .seconds(20), answerCacheBytes: Int = 256 << 20, maxPayloadBytes: Int = 32 << 20,
                    maxOpenJobs: Int = 16_384) {
            self.payloadTimeout = payloadTimeout
            self.answerCacheBytes = answerCacheBytes
            self.maxPayloadBytes = maxPayloadBytes
            self.maxOpenJobs = maxOpenJobs
        }
    }

    public enum Directive: Sendable, Equatable {
        /// A control message to a client.
        case notify(Peer, EncryptionMessage)
        /// Tell the data endpoint to take the payload transfer of `request` (`RequestID.payloadTransfer(to:)` this server), of `bytes` at most, for `within`.
        case expectPayload(RequestID, bytes: Int, within: Duration)
        /// The payload of `request` is no longer wanted: drop its announcement, and its transfer if one is under way.
        case abandonPayload(RequestID)
        /// Hide `payload` for `request` (the server answers with `onEmbedded`).
        case embed(EncryptionMessage.Request, payload: [UInt8])
        /// Send the answer to the data endpoint that delivered the payload (the server reports with `onAnswerSent`).
        case sendAnswer(RequestID, png: [UInt8], to: Peer)
        /// The request is finished here (answered, refused or given up): tell the ring.
        case finished(RequestID)
        /// A retry of a request whose answer is still being sent: the client has
        /// not got it, so send it again now if it goes in one datagram (a
        /// transfer retransmits by itself).
        case resendAnswer(RequestID)
    }

    private enum Phase: Sendable {
        case awaitingPayload(since: Instant)
        case working
        case answered(png: [UInt8], sending: Bool)
    }

    private struct Job: Sendable {
        var request: EncryptionMessage.Request
        var phase: Phase
        /// The data endpoint that delivered the payload: the only one answers go to.
        var answerTo: Peer?
    }

    public let server: UInt64
    public let configuration: Configuration
    /// Every request heard recently, with the control and (claimed) data addresses of the client that sent it last.
    private var heard = BoundedMap<RequestID, Heard>(capacity: 131_072)
    /// Inline payloads of requests whose data endpoint was validated, until
    /// the ring decides who serves them: 16,384 of at most 960 bytes (15 MiB).
    private var inlinePayloads = BoundedMap<RequestID, InlinePayload>(capacity: 16_384)
    private var jobs: [RequestID: Job] = [:]
    /// Answers kept, oldest first from `answerHead`.
    private var answerOrder: [RequestID] = []
    private var answerHead = 0
    private var answerBytes = 0
    /// Requests this server has answered, in total.
    public private(set) var answered = 0
    /// Requests served from a payload that came inline (no payload transfer), in total.
    public private(set) var servedInline = 0

    private struct Heard: Sendable {
        var request: EncryptionMessage.Request
        var client: Peer
        var data: Peer
    }

    private struct InlinePayload: Sendable {
        var payload: [UInt8]
        /// The validated data endpoint it came for.
        var data: Peer
    }

    public init(server: UInt64, configuration: Configuration = Configuration()) {
        self.server = server
        self.configuration = configuration
    }

    /// The client key the request `id` came with, as last heard (what its answers are tagged for).
    public func clientKey(of id: RequestID) -> [UInt8]? { heard[id]?.request.clientKey }

    /// Requests accepted here that are not answered yet.
    public private(set) var openCount = 0
    /// Jobs let go because `maxOpenJobs` were open.
    public private(set) var shedCount = 0

    /// The bytes of the payload object (`EncryptionObject.payload`) of `request`.
    public static func payloadObjectBytes(_ request: EncryptionMessage.Request) -> Int {
        EncryptionObject.payloadOverhead + Int(request.payloadBytes)
    }

    // MARK: Events

    /// A request (or a retry) from `client`, whose data endpoint is `data`;
    /// `dataValidated` when the request's cookie shows that `data` receives
    /// (only then is an inline payload taken). Nil if it is acceptable (the
    /// ring, or `direct`, decides who serves it); else the refusal to send.
    public mutating func onRequest(_ request: EncryptionMessage.Request, from client: Peer, data: Peer, dataValidated: Bool = false) -> Directive? {
        if Int(request.payloadBytes) > configuration.maxPayloadBytes {
            return .notify(client, .refused(.init(request, reason: "a payload of \(request.payloadBytes) bytes is more than this cloud embeds (\(configuration.maxPayloadBytes))")))
        }
        if let known = heard[request.id], !known.request.isSameRequest(as: request) {
            return .notify(client, .refused(.init(request, reason: "request id \(request.id) was used for another payload or key; choose a new id")))
        }
        heard[request.id] = Heard(request: request.identity, client: client, data: data)
        if dataValidated, let inline = request.inline, inline.count == Int(request.payloadBytes),
           Array(SHA256.hash(data: inline)) == request.payloadDigest {
            inlinePayloads[request.id] = InlinePayload(payload: inline, data: data)
        }
        return nil
    }

    /// The inline payload of `id` that came for data endpoint `data`, taken
    /// (nil if none; one that came for another endpoint stays).
    private mutating func takeInline(_ id: RequestID, for data: Peer) -> [UInt8]? {
        guard let inline = inlinePayloads[id], inline.data == data else { return nil }
        inlinePayloads[id] = nil
        servedInline += 1
        return inline.payload
    }

    /// The ring (or a direct request) made this server the acceptor.
    public mutating func onAccepted(_ id: RequestID, now: Instant) -> [Directive] {
        // Never heard of (or forgotten under a flood): let the ring forget the claim too, or
        // it would stay open forever and count against the server's open claims; the
        // client's retry brings the request back.
        guard let known = heard[id] else { return jobs[id] == nil ? [.finished(id)] : [] }
        guard let job = jobs[id] else {
            guard openCount < configuration.maxOpenJobs else {
                shedCount += 1
                return [.finished(id)]
            }
            openCount += 1
            if let payload = takeInline(id, for: known.data) {
                // The payload came with the request, to a validated endpoint: to work at once.
                jobs[id] = Job(request: known.request, phase: .working, answerTo: known.data)
                return [accepted(id, .working, to: known.client), .embed(known.request, payload: payload)]
            }
            jobs[id] = Job(request: known.request, phase: .awaitingPayload(since: now))
            return [expectPayload(known.request), accepted(id, .awaitingPayload, to: known.client)]
        }
        switch job.phase {
        case .awaitingPayload:
            if let payload = takeInline(id, for: known.data) {
                jobs[id]?.phase = .working
                jobs[id]?.answerTo = known.data
                return [.abandonPayload(id), accepted(id, .working, to: known.client), .embed(job.request, payload: payload)]
            }
            return [expectPayload(job.request), accepted(id, .awaitingPayload, to: known.client)]
        case .working: return [accepted(id, .working, to: known.client)]
        case .answered(let png, let sending):
            if job.answerTo != known.data, takeInline(id, for: known.data) != nil {
                // A retry from a new data endpoint, validated, with the payload: the kept answer goes there now.
                jobs[id]?.answerTo = known.data
            }
            guard let answerTo = jobs[id]?.answerTo, answerTo == known.data else {
                // Asked from another data endpoint: it shows it receives by sending the payload again.
                return [expectPayload(job.request), accepted(id, .awaitingPayload, to: known.client), .finished(id)]
            }
            // Answered already: the ring, which may have claimed it again (its memory of completed
            // requests is bounded), is told it is finished, or the claim would stay open.
            var out = [accepted(id, .answered, to: known.client), .finished(id)]
            if !sending {
                jobs[id]?.phase = .answered(png: png, sending: true)
                out.append(.sendAnswer(id, png: png, to: answerTo))
            } else {
                out.append(.resendAnswer(id))
            }
            return out
        }
    }

    /// Another server has the request: tell the client who (a retry after a lost acceptance).
    public mutating func onClaimedElsewhere(_ id: RequestID, by owner: UInt64) -> [Directive] {
        inlinePayloads[id] = nil   // another server serves it
        guard let known = heard[id] else { return [] }
        return [.notify(known.client, .accepted(.init(id: id, server: owner, phase: .claimedElsewhere)))]
    }

    /// A payload object arrived on the data endpoint, from `source` (validated by the transfer).
    public mutating func onPayload(_ id: RequestID, _ payload: [UInt8], digest: [UInt8], from source: Peer) -> [Directive] {
        guard let job = jobs[id] else { return [] }   // not ours
        let matches = payload.count == Int(job.request.payloadBytes) && digest == job.request.payloadDigest
        switch job.phase {
        case .working:
            return []   // had it already
        case .answered(let png, let sending):
            // The client, from a new data endpoint: the kept answer goes there now.
            guard matches else { return [] }
            jobs[id]?.answerTo = source
            guard !sending else { return [] }
            jobs[id]?.phase = .answered(png: png, sending: true)
            return [.sendAnswer(id, png: png, to: source)]
        case .awaitingPayload:
            guard matches else {
                jobs[id] = nil
                openCount -= 1
                let reason = "the payload that arrived for request \(id) is not the one the request announced (size or SHA-256 differ)"
                return [.finished(id)] + (heard[id].map { [.notify($0.client, .refused(.init($0.request, reason: reason)))] } ?? [])
            }
            jobs[id]?.phase = .working
            jobs[id]?.answerTo = source
            return [.embed(job.request, payload: payload)]
        }
    }

    /// The embedding finished: the stego PNG, or why it could not be made.
    public mutating func onEmbedded(_ id: RequestID, _ result: Result<[UInt8], EmbeddingFailure>) -> [Directive] {
        guard let job = jobs[id], case .working = job.phase, let answerTo = job.answerTo else { return [] }
        openCount -= 1
        switch result {
        case .success(let png):
            jobs[id]?.phase = .answered(png: png, sending: true)
            answered += 1
            answerOrder.append(id)
            answerBytes += png.count
            var out: [Directive] = [.sendAnswer(id, png: png, to: answerTo), .finished(id)]
            evictAnswers(keeping: id, into: &out)
            return out
        case .failure(let failure):
            jobs[id] = nil
            return [.finished(id)] + (heard[id].map { [.notify($0.client, .refused(.init($0.request, reason: failure.message)))] } ?? [])
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
            if case .awaitingPayload(let since) = job.phase, now.since(since) >= payloadTimeout(job.request) {
                jobs[id] = nil
                openCount -= 1
                out.append(.abandonPayload(id))
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

    private func expectPayload(_ request: EncryptionMessage.Request) -> Directive {
        .expectPayload(request.id, bytes: Self.payloadObjectBytes(request), within: payloadTimeout(request))
    }

    /// How long an accepted request waits for its payload: five seconds and a
    /// second a megabyte, up to `payloadTimeout`. A client sends its payload
    /// as soon as it hears `accepted`; a stranger who asks and never sends
    /// holds a claim (one of the server's open claims) only that long.
    public func payloadTimeout(_ request: EncryptionMessage.Request) -> Duration {
        min(configuration.payloadTimeout, .seconds(5) + .seconds(Double(request.payloadBytes) / 1_048_576))
    }

    private mutating func evictAnswers(keeping newest: RequestID, into out: inout [Directive]) {
        while answerBytes > configuration.answerCacheBytes, answerHead < answerOrder.count, answerOrder[answerHead] != newest {
            let oldest = answerOrder[answerHead]
            answerHead += 1
            if let job = jobs.removeValue(forKey: oldest), case .answered(let png, _) = job.phase { answerBytes -= png.count }
        }
        if answerHead > 1_024, answerHead * 2 > answerOrder.count {
            answerOrder.removeFirst(answerHead)
            answerHead = 0
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
