import AsyncUDP
import PhotoCloudProtocol

/// Asks every server of a cluster over one socket of its own, again every
/// 100 ms to those not yet done (a request or its answer can be lost), until
/// all are done or the deadline passes: the loop of `status` and `who`.
enum ClusterPoll {
    /// `ask` sends a server its request (the first, or the next page); every
    /// frame that arrives goes to `onReply` with its sender's address, which may
    /// `send` more; `isDone` says whom to stop asking.
    static func run(
        config: ClusterConfig, timeout: Duration, loop: EventLoop, keys: WireKeys,
        isDone: (ClusterConfig.Server) -> Bool,
        ask: (ClusterConfig.Server, _ send: (Envelope) -> Void) -> Void,
        onReply: (Frame, SocketAddress, _ send: (Envelope, SocketAddress) -> Void) -> Void
    ) async throws {
        let socket = try UDPSocket(bind: config.anyLocalAddress, loop: loop)
        defer { socket.close() }
        func send(_ envelope: Envelope, to address: SocketAddress) {
            if let bytes = try? Wire.encode(envelope, keys: keys) { _ = try? socket.trySend(bytes, to: address) }
        }
        let deadline = ContinuousClock.now + timeout
        var nextSend = ContinuousClock.now
        while ContinuousClock.now < deadline, !config.servers.allSatisfy(isDone) {
            if ContinuousClock.now >= nextSend {
                for server in config.servers where !isDone(server) {
                    ask(server) { send($0, to: server.control) }
                }
                nextSend = ContinuousClock.now + .milliseconds(100)
            }
            while let received = try socket.receiveNow() {
                guard let frame = try? Wire.decodeFrame(received.bytes, keys: keys) else { continue }
                onReply(frame, received.address, send)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
