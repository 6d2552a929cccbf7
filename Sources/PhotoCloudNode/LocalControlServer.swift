import AsyncUDP
import Foundation
import Logging
import Synchronization

/// The daemon's end of the local control channel (see `LocalControl`): it
/// listens on the user's socket, reads one request per connection, runs the
/// handler, and sends the handler's progress and reply back.
///
/// Threads, not the event loop (see `LocalStreamSocket`): one thread accepts,
/// and each connection being served has a thread of its own that reads the
/// request, then waits for the handler's progress and reply and writes them.
/// At most `maxConnections` are served at once; later ones wait, unread and
/// with no clock running, and past `maxWaiting` are refused with a reply that
/// says the daemon is busy.
public final class LocalControlServer: Sendable {
    public struct Limits: Sendable {
        /// The largest request taken and reply sent.
        public var maxFrame = LocalControl.maxFrame
        /// A connection must deliver its whole request within this time after it is taken up.
        public var requestTimeout: Duration = .seconds(10)
        /// A client that reads nothing for this long while a frame is due is dropped.
        public var writeTimeout: Duration = .seconds(10)
        public var maxConnections = 16
        public var maxWaiting = 64

        public init() {}
    }

    /// Answers one request; it may report progress on the way. The task it
    /// runs in is cancelled if the client goes away.
    public typealias Handler = @Sendable (LocalRequest, ProgressSink) async -> LocalReply

    public let path: String
    private let limits: Limits
    private let handler: Handler
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var listener: LocalStreamListener?
        var stopped = false
        var active: [UInt64: LocalStreamSocket] = [:]
        var waiting: [LocalStreamSocket] = []
        var nextID: UInt64 = 0
    }

    public init(path: String, limits: Limits = .init(), logger: Logger = Logger(label: "photocloud.local-control"),
                handler: @escaping Handler) {
        self.path = path
        self.limits = limits
        self.logger = logger
        self.handler = handler
    }

    /// Listens on `path` (its folder is made owner-only if missing). Throws if
    /// a live daemon already answers there; a socket file left by a dead one
    /// is replaced. A server starts once: after `stop()`, make a new one.
    public func start() throws(NodeError) {
        let listener: LocalStreamListener
        do { listener = try listen() } catch {
            throw Self.listenError(error, path: path)
        }
        let started = state.withLock { state in
            guard state.listener == nil, !state.stopped else { return false }
            state.listener = listener
            return true
        }
        guard started else {
            listener.close()
            throw NodeError(.localControl, "the control server on \(path) was started before; make a new one")
        }
        let thread = Thread { [self] in acceptLoop(listener) }
        thread.name = "photocloud-control"
        thread.start()
    }

    /// The listener, making the socket's folder (owner-only) only when it is
    /// missing, after the path itself passed the listener's checks.
    private func listen() throws -> LocalStreamListener {
        do { return try LocalStreamListener(path: path) } catch let error as UDPError where error.errno == ENOENT {
            let folder = (path as NSString).deletingLastPathComponent
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw NodeError(.io, "cannot create \(folder) for the control socket: \(error.localizedDescription)")
            }
            return try LocalStreamListener(path: path)
        }
    }

    static func listenError(_ error: any Error, path: String) -> NodeError {
        if let error = error as? NodeError { return error }
        guard let error = error as? UDPError else { return NodeError(.localControl, "cannot listen on \(path): \(error)") }
        switch error.code {
        case .addressInUse:
            return NodeError(.localControl, "a daemon is already running on \(path) (\(error.message)); stop it before starting another")
        case .invalidAddress:
            return NodeError(.localControl, "\(error.message) (use a shorter --home)")
        default:
            return NodeError(.localControl, "cannot listen on \(path): \(error.message)")
        }
    }

    /// Stops listening and removes the socket file; connections being served
    /// are shut (their handlers cancelled), waiting ones closed.
    public func stop() {
        let (listener, active, waiting) = state.withLock { state in
            state.stopped = true
            defer {
                state.listener = nil
                state.waiting = []
            }
            return (state.listener, Array(state.active.values), state.waiting)
        }
        listener?.close()
        for socket in waiting { socket.close() }
        for socket in active { socket.shutdown() }
    }

    private func acceptLoop(_ listener: LocalStreamListener) {
        while true {
            let socket: LocalStreamSocket
            do { socket = try listener.accept() } catch {
                if (error as? UDPError)?.code == .closed { return }
                logger.warning("accepting on \(path) failed: \(error)")
                Thread.sleep(forTimeInterval: 0.1)   // out of descriptors, say: no busy loop
                continue
            }
            admit(socket)
        }
    }

    private enum Admission { case serve(UInt64), wait, refuse, stopped }

    private func admit(_ socket: LocalStreamSocket) {
        let admission = state.withLock { state -> Admission in
            if state.stopped { return .stopped }
            if state.active.count < limits.maxConnections {
                state.nextID += 1
                state.active[state.nextID] = socket
                return .serve(state.nextID)
            }
            if state.waiting.count < limits.maxWaiting {
                state.waiting.append(socket)
                return .wait
            }
            return .refuse
        }
        switch admission {
        case .serve(let id):
            let thread = Thread { [self] in serveInTurn(id, socket) }
            thread.name = "photocloud-control-\(id)"
            thread.start()
        case .wait:
            break
        case .refuse:
            logger.notice("refused a local command: \(limits.maxConnections) running and \(limits.maxWaiting) waiting")
            let busy = "the peer daemon is busy with \(limits.maxConnections + limits.maxWaiting) commands; try again in a moment"
            send(.reply(.failure(busy)), to: socket, within: .milliseconds(100))
            socket.close()
        case .stopped:
            socket.close()
        }
    }

    /// Serves `socket`, then any connections that waited, until none is left.
    private func serveInTurn(_ id: UInt64, _ socket: LocalStreamSocket) {
        var current = (id: id, socket: socket)
        while true {
            serve(current.socket)
            current.socket.close()
            let next = state.withLock { state -> (id: UInt64, socket: LocalStreamSocket)? in
                state.active[current.id] = nil
                guard !state.stopped, !state.waiting.isEmpty else { return nil }
                let socket = state.waiting.removeFirst()
                state.nextID += 1
                state.active[state.nextID] = socket
                return (state.nextID, socket)
            }
            guard let next else { return }
            current = next
        }
    }

    private func serve(_ socket: LocalStreamSocket) {
        let request: LocalRequest
        do {
            let deadline = ContinuousClock.now + limits.requestTimeout
            guard let json = try LocalControl.readFrame(from: socket, deadline: deadline, limit: limits.maxFrame) else { return }
            request = try LocalControl.decode(LocalRequest.self, from: json, what: "request")
        } catch {
            logger.debug("bad local request on \(path): \(error.message)")
            send(.reply(.failure("the peer daemon refused the request: \(error.message)")), to: socket, within: .seconds(1))
            return
        }
        let mailbox = ReplyMailbox()
        let handler = handler
        let task = Task {
            let reply = await handler(request, ProgressSink { mailbox.post(progress: $0) })
            mailbox.post(reply: reply)
        }
        var clientGone = false
        while true {
            switch mailbox.next(within: .seconds(1)) {
            case .idle:
                if !clientGone, socket.otherEndClosed() {
                    clientGone = true
                    task.cancel()
                }
            case .progress(let progress):
                if !clientGone, !send(.progress(progress), to: socket, within: limits.writeTimeout) {
                    clientGone = true
                    task.cancel()
                }
            case .reply(let reply):
                // Waited for even when the client is gone: a slot is free only when its handler is done.
                if !clientGone { send(.reply(reply), to: socket, within: limits.writeTimeout) }
                return
            }
        }
    }

    /// Writes `frame`; false if the client is gone or reads too slowly. A
    /// reply too large for a frame is replaced by one that says so; such a
    /// progress frame is left out.
    @discardableResult
    private func send(_ frame: LocalFrame, to socket: LocalStreamSocket, within time: Duration) -> Bool {
        let bytes: [UInt8]
        do { bytes = try LocalControl.frame(frame, limit: limits.maxFrame) } catch {
            guard case .reply = frame else { return true }
            logger.warning("a local reply was too large: \(error.message)")
            guard let failure = try? LocalControl.frame(LocalFrame.reply(.failure("the peer daemon's answer is too large to send: \(error.message)"))) else {
                return false
            }
            bytes = failure
        }
        do {
            try socket.write(bytes, deadline: .now + time)
            return true
        } catch {
            logger.debug("a local client on \(path) went away: \(error)")
            return false
        }
    }
}

/// What a handler has posted and the serving thread has not sent yet: the
/// latest progress (older ones are dropped, never queued) and the reply.
final class ReplyMailbox: Sendable {
    enum Event { case progress(LocalProgress), reply(LocalReply), idle }

    private let slots = Mutex<(progress: LocalProgress?, reply: LocalReply?)>((nil, nil))
    private let posted = DispatchSemaphore(value: 0)

    func post(progress: LocalProgress) {
        slots.withLock { $0.progress = progress }
        posted.signal()
    }

    func post(reply: LocalReply) {
        slots.withLock { $0.reply = reply }
        posted.signal()
    }

    /// The next thing to send (progress before the reply), or `.idle` after `time` without any.
    func next(within time: Duration) -> Event {
        for attempt in 0..<2 {
            let event = slots.withLock { slots -> Event? in
                if let progress = slots.progress {
                    slots.progress = nil
                    return .progress(progress)
                }
                return slots.reply.map { .reply($0) }
            }
            if let event { return event }
            if attempt == 0 {
                let (seconds, attoseconds) = time.components
                _ = posted.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)))
            }
        }
        return .idle
    }
}
