import AsyncUDP
import PhotoCloudProtocol

/// Asks every server who is online and merges the answers: a user is online
/// if any server that answered says so.
public enum WhoQuery {
    public struct Answer: Sendable {
        public var online: [String]
        public var offline: [String]
        public var answered: [Int]
    }

    public static func run(config: ClusterConfig, timeout: Duration = .milliseconds(500), loop: EventLoop = .shared) async throws -> Answer {
        var pages: [Int: [UInt32: [DirectoryMessage.User]]] = [:]
        var totals: [Int: UInt32] = [:]
        func have(_ id: Int) -> Int { pages[id]?.values.map(\.count).reduce(0, +) ?? 0 }
        func complete(_ id: Int) -> Bool {
            guard let total = totals[id] else { return false }
            return have(id) >= Int(total)
        }
        func ask(offset: Int, _ send: (MessageType, [UInt8]) -> Void) {
            send(.whoRequest, UInt32(clamping: offset).bigEndianBytes)
        }
        try await ClusterPoll.run(
            config: config, timeout: timeout, loop: loop,
            isDone: { complete($0.id) },
            // The first page, or the next one missing.
            ask: { server, _, send in ask(offset: have(server.id), send) },
            onReply: { server, frame, nonce, send in
                guard case .whoReply(let answered, let total, let offset, let users)? = try? DirectoryMessage.decode(type: frame.type, body: frame.payload),
                      answered == nonce, Int(offset) + users.count <= Int(total) else { return }
                totals[server.id] = total
                pages[server.id, default: [:]][offset] = users
                if !complete(server.id) { ask(offset: Int(offset) + users.count, send) }
            })
        var online: Set<String> = [], known: Set<String> = []
        for users in pages.values.flatMap(\.values) {
            for user in users {
                known.insert(user.name)
                if user.online { online.insert(user.name) }
            }
        }
        return Answer(online: online.sorted(), offline: known.subtracting(online).sorted(), answered: totals.keys.sorted())
    }
}
