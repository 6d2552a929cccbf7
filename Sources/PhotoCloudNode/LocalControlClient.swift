import AsyncUDP
import Foundation
import Synchronization

/// The one-shot command's end of the local control channel (see `LocalControl`).
public enum LocalControlClient {
    /// How long the request may take to write; the answer has no deadline
    /// (sending a photo takes as long as it takes; progress frames show it moving).
    static let requestTimeout: Duration = .seconds(10)

    /// Sends `request` to the daemon of `user` listening at `path` and
    /// returns its reply; `progress` hears each progress frame before it, on
    /// a thread of its own. Throws `NodeError` with code `.noDaemon` when no
    /// daemon listens there (the command may then do the work itself).
    /// Cancelling the task closes the connection, which cancels the
    /// daemon's handler.
    public static func call(path: String, user: String, request: LocalRequest,
                            progress: @escaping @Sendable (LocalProgress) -> Void = { _ in }) async throws(NodeError) -> LocalReply {
        let connection = Connection()
        let result: Result<LocalReply, NodeError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: exchange(path: path, user: user, request: request, progress: progress, connection: connection))
                }
                thread.name = "photocloud-control-client"
                thread.start()
            }
        } onCancel: {
            connection.cancel()
        }
        return try result.get()
    }

    /// The exact words when nobody listens: they name the user and the command that fixes it.
    public static func noDaemon(user: String) -> NodeError {
        NodeError(.noDaemon, "no peer daemon for \(user) is running; start one with `photocloud peer --user \(user)`")
    }

    private static func exchange(path: String, user: String, request: LocalRequest,
                                 progress: @Sendable (LocalProgress) -> Void, connection: Connection) -> Result<LocalReply, NodeError> {
        let socket: LocalStreamSocket
        do { socket = try LocalStreamSocket.connect(path: path) } catch {
            return .failure(connectError(error, path: path, user: user))
        }
        defer { socket.close() }
        guard connection.attach(socket) else { return .failure(NodeError(.localControl, "cancelled")) }
        do {
            let frame = try LocalControl.frame(request)
            do { try socket.write(frame, deadline: .now + requestTimeout) } catch {
                // A daemon that refused (busy, say) closes at once; its reason may be waiting to be read.
                if let json = try? LocalControl.readFrame(from: socket, deadline: .now + .milliseconds(200)),
                   case .reply(let reply)? = try? LocalControl.decode(LocalFrame.self, from: json, what: "answer") {
                    return .success(reply)
                }
                throw NodeError(.localControl, "cannot send the request to the peer daemon for \(user): \(error)")
            }
            while true {
                guard let json = try LocalControl.readFrame(from: socket, deadline: nil) else {
                    if connection.isCancelled { return .failure(NodeError(.localControl, "cancelled")) }
                    throw NodeError(.localControl, "the peer daemon for \(user) closed the connection without answering; see its log")
                }
                switch try LocalControl.decode(LocalFrame.self, from: json, what: "answer from the peer daemon") {
                case .progress(let report): progress(report)
                case .reply(let reply): return .success(reply)
                }
            }
        } catch {
            if connection.isCancelled { return .failure(NodeError(.localControl, "cancelled")) }
            return .failure(error as? NodeError ?? NodeError(.localControl, "the peer daemon for \(user): \(error)"))
        }
    }

    private static func connectError(_ error: any Error, path: String, user: String) -> NodeError {
        guard let error = error as? UDPError else { return NodeError(.localControl, "cannot reach the peer daemon for \(user): \(error)") }
        switch (error.code, error.errno) {
        case (.system, ENOENT?), (.system, ECONNREFUSED?), (.system, ENOTDIR?):
            return noDaemon(user: user)
        case (.system, EACCES?), (.system, EPERM?):
            return NodeError(.localControl, "cannot reach the peer daemon for \(user) at \(path): permission denied (is it another user's home?)")
        case (.invalidAddress, _):
            return NodeError(.localControl, "\(error.message) (use a shorter --home)")
        default:
            return NodeError(.localControl, "cannot reach the peer daemon for \(user) at \(path): \(error.message)")
        }
    }

    /// The socket of a call in progress, so that cancelling the task can shut it from another thread.
    private final class Connection: Sendable {
        private let state = Mutex<(socket: LocalStreamSocket?, cancelled: Bool)>((nil, false))

        var isCancelled: Bool { state.withLock { $0.cancelled } }

        /// False if the call was cancelled before the socket was connected.
        func attach(_ socket: LocalStreamSocket) -> Bool {
            state.withLock { state in
                state.socket = socket
                return !state.cancelled
            }
        }

        func cancel() {
            let socket = state.withLock { state in
                state.cancelled = true
                return state.socket
            }
            socket?.shutdown()
        }
    }
}
