import AsyncUDP
import PhotoCloudProtocol

/// Asks every server of a cluster for its view (`statusRequest`) and merges
/// the answers: a server is alive if it answered or another live server hears
/// its heartbeats; the token position and holder come from the answer that
/// has seen the token furthest.
public enum StatusQuery {
    public struct Server: Sendable {
        public var id: Int
        public var alive: Bool
        public var answered: Bool
        public var control: SocketAddress
        public var data: SocketAddress
        public var handled: UInt64
        public var queued: UInt32
        /// Its mailbox, if it answered: items held for offline users, and their bytes.
        public var mail: (items: UInt32, bytes: UInt64)?
    }

    public struct View: Sendable {
        public var servers: [Server]
        public var tokenHolder: Int?
        public var position: TokenPosition
    }

    public static func run(config: ClusterConfig, timeout: Duration = .milliseconds(500), loop: EventLoop = .shared) async throws -> View {
        var replies: [UInt64: ClusterStatus] = [:]
        try await ClusterPoll.run(
            config: config, timeout: timeout, loop: loop,
            isDone: { replies[UInt64($0.id)] != nil },
            ask: { _, _, send in send(.statusRequest, []) },
            onReply: { server, frame, nonce, _ in
                guard frame.type == .statusReply, let (answered, status) = try? ClusterStatus.decode(frame.payload),
                      answered == nonce, status.reporter == UInt64(server.id) else { return }
                replies[UInt64(server.id)] = status
            })
        return merge(replies, config: config)
    }

    static func merge(_ replies: [UInt64: ClusterStatus], config: ClusterConfig) -> View {
        let furthest = replies.values.map(\.seen).max()
        let best = replies.values.filter { $0.seen == furthest }.sorted { $0.reporter < $1.reporter }
        let holder = best.lazy.compactMap(\.holder).first
        var servers: [Server] = []
        for server in config.servers {
            let id = UInt64(server.id)
            let own = replies[id]?.servers.first { $0.id == id }
            let heard = replies.values.compactMap { $0.servers.first { $0.id == id } }
            let alive = own != nil || heard.contains { $0.alive }
            let entry = own ?? heard.filter(\.alive).max { $0.accepted < $1.accepted }
            servers.append(Server(id: server.id, alive: alive, answered: own != nil, control: server.control, data: server.data,
                                  handled: entry?.accepted ?? 0, queued: entry?.pending ?? 0,
                                  mail: replies[id].map { ($0.mailItems, $0.mailBytes) }))
        }
        // A holder the cluster file does not list is no holder (ids come from the wire).
        let listed = holder.flatMap { id in config.servers.first { UInt64($0.id) == id }?.id }
        return View(servers: servers, tokenHolder: listed, position: furthest ?? .none)
    }
}
