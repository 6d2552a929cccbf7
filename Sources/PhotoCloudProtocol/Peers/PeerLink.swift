/// The peer-to-peer conversation as a pure state machine (time injected):
/// calls that are retried until answered or out of time, and the checks on
/// what comes in, in the order that costs an attacker most and the node
/// least (to whom, when, then the signature in the shell, then whether it
/// was seen before).
///
/// A call that arrives again (the caller did not hear the reply) is not
/// handled again: the reply already given is sent again, so a handler runs
/// once per call. Every table is bounded.
public struct PeerLink<Address: Hashable & Sendable>: Sendable {
    public struct Configuration: Sendable {
        /// First retry after this; each later one after twice the one before, up to `maxRetryInterval`.
        public var retryAfter: Duration = .milliseconds(250)
        public var maxRetryInterval: Duration = .seconds(1)
        /// A call not answered within this fails.
        public var callTimeout: Duration = .seconds(5)
        /// How far a sender's clock may be from ours (milliseconds).
        public var clockTolerance: UInt64 = 60_000
        /// Calls open at once.
        public var maxCalls = 256
        /// Calls remembered (nonce and reply) to recognise a repeat.
        public var memory = 4_096
        public init() {}
    }

    public enum Directive: Sendable, Equatable {
        case send([UInt8], to: Address)
        /// The call `nonce` was answered.
        case answered(nonce: UInt64, PeerEnvelope)
        /// The call `nonce` got no answer in time.
        case failed(nonce: UInt64, String)
    }

    /// What to do with an envelope whose signature the shell checked.
    public enum Inbound: Sendable, Equatable {
        /// A new call: handle it and `reply`.
        case call(PeerEnvelope)
        /// A repeat of a call: these directives send the reply again (none while it is being handled).
        case repeated([Directive])
        /// A reply to a call of ours.
        case reply([Directive])
        case dropped(String)
    }

    private struct Call: Sendable {
        var to: Address
        var bytes: [UInt8]
        var peer: String
        var deadline: Instant
        var nextSend: Instant
        var interval: Duration
    }

    private struct Seen: Sendable {
        /// Nil while the call is being handled.
        var reply: [UInt8]?
    }

    public let me: String
    public let configuration: Configuration
    private var calls: [UInt64: Call] = [:]
    /// Calls heard lately, with the reply given; the oldest are forgotten.
    private var seen: BoundedMap<SeenKey, Seen>

    private struct SeenKey: Hashable, Sendable {
        var from: String
        var nonce: UInt64
    }

    public init(me: String, configuration: Configuration = .init()) {
        self.me = me
        self.configuration = configuration
        seen = BoundedMap(capacity: configuration.memory)
    }

    public var openCalls: Int { calls.count }

    /// Starts a call: `bytes` (the signed envelope, framed) go to `address` now and again until answered.
    public mutating func call(nonce: UInt64, peer: String, bytes: [UInt8], to address: Address, now: Instant) throws(PeerError) -> [Directive] {
        guard calls.count < configuration.maxCalls else { throw PeerError(.tooLarge, "too many calls to other peers open at once; try again") }
        guard calls[nonce] == nil else { throw PeerError(.malformed, "nonce \(nonce) is in use") }
        calls[nonce] = Call(to: address, bytes: bytes, peer: peer, deadline: now + configuration.callTimeout,
                            nextSend: now + configuration.retryAfter, interval: configuration.retryAfter)
        return [.send(bytes, to: address)]
    }

    /// Stops waiting for a call (the shell gave up on it).
    public mutating func cancel(nonce: UInt64) { calls[nonce] = nil }

    /// The cheap checks, before the shell spends a signature check: for us, and of now.
    public func precheck(_ envelope: PeerEnvelope, wallClock: UInt64) -> String? {
        guard envelope.to == me else { return "addressed to \(envelope.to.utf8Prefix(40)), not \(me)" }
        let skew = wallClock > envelope.sentAt ? wallClock - envelope.sentAt : envelope.sentAt - wallClock
        guard skew <= configuration.clockTolerance else { return "sent \(skew / 1_000) s from this clock (a replay, or a wrong clock)" }
        if envelope.replyTo != 0 {
            guard let call = calls[envelope.replyTo] else { return "a reply to no open call" }
            guard call.peer == envelope.from else { return "a reply from \(envelope.from.utf8Prefix(40)) to a call to \(call.peer)" }
        }
        return nil
    }

    /// An envelope that passed `precheck` and whose signature is its sender's.
    public mutating func accept(_ envelope: PeerEnvelope, from address: Address, now: Instant) -> Inbound {
        if envelope.replyTo != 0 {
            guard calls.removeValue(forKey: envelope.replyTo) != nil else { return .dropped("a reply to no open call") }
            return .reply([.answered(nonce: envelope.replyTo, envelope)])
        }
        let key = SeenKey(from: envelope.from, nonce: envelope.nonce)
        if let known = seen[key] {
            guard let reply = known.reply else { return .repeated([]) }
            return .repeated([.send(reply, to: address)])
        }
        seen[key] = Seen(reply: nil)
        return .call(envelope)
    }

    /// The reply to a call handled: sent now, and again if the call repeats.
    public mutating func reply(_ bytes: [UInt8], toCall envelope: PeerEnvelope, at address: Address) -> [Directive] {
        let key = SeenKey(from: envelope.from, nonce: envelope.nonce)
        seen[key]?.reply = bytes
        return [.send(bytes, to: address)]
    }

    /// Retries due, calls out of time.
    public mutating func tick(now: Instant) -> [Directive] {
        var directives: [Directive] = []
        // In nonce order: what goes out, and in which order, depends on the calls alone (a simulation replays it).
        for nonce in calls.keys.sorted() {
            let call = calls[nonce]!
            if now >= call.deadline {
                calls[nonce] = nil
                directives.append(.failed(nonce: nonce, "\(call.peer) did not answer"))
            } else if now >= call.nextSend {
                let interval = min(call.interval * 2, configuration.maxRetryInterval)
                calls[nonce]?.interval = interval
                calls[nonce]?.nextSend = now + interval
                directives.append(.send(call.bytes, to: call.to))
            }
        }
        return directives
    }
}
