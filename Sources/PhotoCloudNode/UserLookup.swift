import AsyncUDP
import PhotoCloudProtocol

/// Where a peer takes peer-to-peer traffic, as its directory record
/// publishes it: `HOST:CONTROL/DATA` (the control port for signed peer
/// messages, the data port for transfers). An empty endpoint: not reachable.
public struct PeerEndpoints: Sendable, Equatable, CustomStringConvertible {
    public var control: SocketAddress
    public var data: SocketAddress

    public init(control: SocketAddress, data: SocketAddress) {
        self.control = control
        self.data = data
    }

    public init?(parsing text: String) {
        guard let slash = text.lastIndex(of: "/"), let dataPort = UInt16(text[text.index(after: slash)...]), dataPort != 0,
              let control = try? SocketAddress(parsing: String(text[..<slash])), control.port != 0 else { return nil }
        self.control = control
        data = control.with(port: dataPort)
    }

    public var description: String { "\(control)/\(data.port)" }
}

/// Asks the servers for one user's record: the newest one its owner signed
/// that any of a majority of servers holds. The owner's signature is checked
/// here, so a server can withhold a record or give an older one, but cannot
/// make one up; the caller pins the signing key on first use.
public enum UserLookup {
    public struct Found: Sendable {
        public var record: Directory.Record
        public var online: Bool
        public var endpoints: PeerEndpoints? { record.leaving ? nil : PeerEndpoints(parsing: record.endpoint) }
    }

    /// Nil if no server that answered knows the user; throws if none answered.
    public static func run(name: String, config: ClusterConfig, timeout: Duration = .milliseconds(600),
                           loop: EventLoop = .shared) async throws -> Found? {
        var answered: Set<Int> = []
        var best: Found?
        let majority = config.servers.count / 2 + 1
        try await ClusterPoll.run(
            config: config, timeout: timeout, loop: loop,
            isDone: { server in answered.contains(server.id) || answered.count >= majority },
            ask: { _, _, send in send(.lookupRequest, lookupBody(name)) },
            onReply: { server, frame, nonce, _ in
                guard case .lookupReply(let replyNonce, let replyName, let record, let online)? =
                        try? DirectoryMessage.decode(type: frame.type, body: frame.payload),
                      replyNonce == nonce, replyName == name else { return }
                answered.insert(server.id)
                guard let record, record.name == name, record.hasValidSignature else { return }
                if let known = best, known.record.sequence >= record.sequence {
                    if known.record.sequence == record.sequence, online { best?.online = true }
                    return
                }
                best = Found(record: record, online: online && !record.leaving)
            })
        guard !answered.isEmpty else {
            throw NodeError(.network, "no server of \(config.source) answered; is the cloud running?")
        }
        return best
    }

    private static func lookupBody(_ name: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendString(name)
        return bytes
    }
}
