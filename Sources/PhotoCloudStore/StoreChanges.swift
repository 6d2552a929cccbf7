import PhotoCloudProtocol
import Synchronization

/// What changed in a user's store that a page showing it would want to know
/// at once: a photo or a request came in, a grant changed the views of a
/// photo held, a request made was answered. Posted after the change is
/// written, from whichever path made it (a peer directly, the mailbox, a
/// command); `photocloud peer --web` turns them into server-sent events.
public enum StoreChange: Sendable, Equatable {
    case photoReceived(PhotoID, from: String)
    case requestReceived(RequestKey, from: String)
    case viewsChanged(PhotoID)
    case requestAnswered(RequestKey, PeerStore.RequestState)

    /// The event's name on the wire (`event:` of a server-sent event).
    public var name: String {
        switch self {
        case .photoReceived: "photo"
        case .requestReceived: "request"
        case .viewsChanged: "grant"
        case .requestAnswered: "answer"
        }
    }
}

/// Everyone listening for `StoreChange`s. Each listener has a bounded buffer
/// (the newest 64 changes): a page that stops reading loses old news, never
/// the store's memory.
public final class StoreChanges: Sendable {
    private let listeners = Mutex<(next: Int, all: [Int: AsyncStream<StoreChange>.Continuation])>((0, [:]))

    public init() {}

    /// A stream of the changes from now on; it ends when the caller stops iterating it.
    public func listen() -> AsyncStream<StoreChange> {
        let (stream, continuation) = AsyncStream<StoreChange>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = listeners.withLock { state in
            let id = state.next
            state.next += 1
            state.all[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in self?.listeners.withLock { _ = $0.all.removeValue(forKey: id) } }
        return stream
    }

    public var listenerCount: Int { listeners.withLock { $0.all.count } }

    func post(_ change: StoreChange) {
        for continuation in listeners.withLock({ Array($0.all.values) }) { continuation.yield(change) }
    }
}
