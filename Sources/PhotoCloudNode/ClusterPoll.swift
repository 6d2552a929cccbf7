import AsyncUDP
import PhotoCloudProtocol

/// Asks every server of a cluster over one socket of its own, again every
/// 100 ms to those not yet done (a request or its answer can be lost), until
/// all are done or the deadline passes: the loop of `status` and `who`.
///
/// Only answers signed by the server they claim to be from (its key is in the
/// cluster file), from its control address, that repeat this poll's nonce
/// are taken: a forged or replayed answer is dropped, and the signature is
/// checked only once the rest says the answer is for this poll. A server whose answer
/// would be more than three times the question first sends a cookie
/// (`addressCheck`); the poll asks that server again at once with it.
enum ClusterPoll {
    /// `ask` sends a server its query (the first, or the next page) with the
    /// header to put in front; every signed answer of that server goes to
    /// `onReply`, which may ask again with `send`; `isDone` says whom to stop asking.
    static func run(
        config: ClusterConfig, timeout: Duration, loop: EventLoop,
        isDone: (ClusterConfig.Server) -> Bool,
        ask: (ClusterConfig.Server, QueryHeader, _ send: (MessageType, [UInt8]) -> Void) -> Void,
        onReply: (ClusterConfig.Server, Frame, _ nonce: UInt64, _ send: (MessageType, [UInt8]) -> Void) -> Void
    ) async throws {
        let socket = try UDPSocket(bind: config.anyLocalAddress, loop: loop)
        defer { socket.close() }
        let keys = config.wireKeys()
        var origin = WireOrigin(sender: 0)
        let nonce = UInt64.random(in: 1...UInt64.max)
        var cookies: [Int: [UInt8]] = [:]
        func sender(for server: ClusterConfig.Server) -> (MessageType, [UInt8]) -> Void {
            { type, body in
                var bytes: [UInt8] = []
                let header = QueryHeader(nonce: nonce, cookie: cookies[server.id] ?? [])
                guard (try? Wire.encode(into: &bytes, header: origin.next(type), keys: keys, writePayload: {
                    header.append(to: &$0)
                    $0.append(contentsOf: body)
                })) != nil else { return }
                _ = try? socket.trySend(bytes, to: server.control)
            }
        }
        func askAgain(_ server: ClusterConfig.Server) {
            ask(server, QueryHeader(nonce: nonce, cookie: cookies[server.id] ?? []), sender(for: server))
        }
        let deadline = ContinuousClock.now + timeout
        var nextSend = ContinuousClock.now
        while ContinuousClock.now < deadline, !config.servers.allSatisfy(isDone) {
            if ContinuousClock.now >= nextSend {
                for server in config.servers where !isDone(server) { askAgain(server) }
                nextSend = ContinuousClock.now + .milliseconds(100)
            }
            // A batch at most between checks of the deadline: a flood cannot keep the poll past it.
            var read = 0
            while read < 256, ContinuousClock.now < deadline, let received = try socket.receiveNow() {
                read += 1
                // Every answer to a query begins with its nonce: checked before the signature (tens of microseconds).
                guard let server = config.servers.first(where: { $0.control == received.address }),
                      let frame = try? Wire.decodeFrame(received.bytes[...], keys: keys, checkingSignature: false),
                      frame.auth == .signed, frame.sender == UInt64(server.id), frame.payload.starts(with: nonce.bigEndianBytes),
                      (try? Wire.checkSignature(of: received.bytes[...], keys: keys)) != nil else { continue }
                if frame.type == .addressCheck {
                    guard let check = try? AddressCheck.decode(frame.payload), check.nonce == nonce, cookies[server.id] != check.cookie else { continue }
                    cookies[server.id] = check.cookie
                    if !isDone(server) { askAgain(server) }
                    continue
                }
                onReply(server, frame, nonce, sender(for: server))
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
