import AsyncUDP
import Foundation
@testable import PhotoCloudNode
import PhotoCloudTestKit
import Synchronization
import Testing

@Suite("Local control channel: a daemon and its one-shot commands over a Unix socket")
struct LocalControlTests {
    /// Echoes the command and its arguments; `progress` reports three steps first;
    /// `slow` waits 50 ms; `wait` waits until cancelled, noting both in `events`.
    static func echo(events: Events? = nil) -> LocalControlServer.Handler {
        { request, progress in
            switch request.command {
            case "progress":
                for step in 1...3 { progress.report(label: "sending", done: Int64(step * 100), total: 300) }
            case "slow":
                events?.enter()
                try? await Task.sleep(for: .milliseconds(50))
                events?.leave()
            case "big":
                return .success(lines: [String(repeating: "x", count: 2_000)])
            case "wait":
                events?.note("started")
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(10)) }
                events?.note("cancelled")
                return .failure("cancelled")
            default:
                break
            }
            return .success(lines: [request.command] + request.list("photos") + [request.string("to") ?? "-"], json: "{\"n\":1}")
        }
    }

    final class Events: Sendable {
        private let seen = Mutex<Set<String>>([])
        private let running = Mutex<(now: Int, peak: Int)>((0, 0))
        func note(_ event: String) { _ = seen.withLock { $0.insert(event) } }
        func enter() { running.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
        func leave() { running.withLock { $0.now -= 1 } }
        /// The most handlers that ran at once.
        var peak: Int { running.withLock { $0.peak } }

        /// Waits up to 5 s for `event`.
        func await(_ event: String) async throws -> Bool {
            for _ in 0..<500 {
                if seen.withLock({ $0.contains(event) }) { return true }
                try await Task.sleep(for: .milliseconds(10))
            }
            return false
        }
    }

    static func server(_ home: String, limits: LocalControlServer.Limits = .init(),
                       handler: @escaping LocalControlServer.Handler = echo()) throws -> LocalControlServer {
        let server = LocalControlServer(path: LocalControl.socketPath(home: home, user: "alice"), limits: limits, handler: handler)
        try server.start()
        return server
    }

    static func call(_ home: String, _ command: String, progress: @escaping @Sendable (LocalProgress) -> Void = { _ in }) async throws -> LocalReply {
        try await LocalControlClient.call(path: LocalControl.socketPath(home: home, user: "alice"), user: "alice",
                                          request: LocalRequest(command: command), progress: progress)
    }

    /// Sends raw bytes as a client would and returns the first frame back (nil: closed without one).
    static func rawExchange(_ path: String, _ bytes: [UInt8], closeAfter: Bool = false) throws -> LocalFrame? {
        let socket = try LocalStreamSocket.connect(path: path)
        defer { socket.close() }
        if !bytes.isEmpty { try socket.write(bytes, deadline: .now + .seconds(5)) }
        if closeAfter { return nil }
        guard let json = try? LocalControl.readFrame(from: socket, deadline: .now + .seconds(5)) else { return nil }
        return try LocalControl.decode(LocalFrame.self, from: json, what: "frame")
    }

    @Test func aRequestGetsItsProgressFramesThenItsReply() async throws {
        try await withTemporaryFolder { home in
            let server = try Self.server(home)
            defer { server.stop() }
            let seen = Mutex<[LocalProgress]>([])
            let request = LocalRequest(command: "progress", arguments: ["photos": .list(["a.png", "b.png"]), "to": .string("bob")])
            let reply = try await LocalControlClient.call(path: server.path, user: "alice", request: request) { progress in
                seen.withLock { $0.append(progress) }
            }
            #expect(reply == LocalReply(ok: true, lines: ["progress", "a.png", "b.png", "bob"], json: "{\"n\":1}"))
            let progress = seen.withLock { $0 }
            // The daemon may drop a step the client had no time to read, never the last.
            #expect(!progress.isEmpty && progress.count <= 3)
            #expect(progress.last == LocalProgress(label: "sending", done: 300, total: 300))
        }
    }

    @Test func argumentsAndFramesHaveTheDocumentedJSONShape() throws {
        let json = #"{"command":"send","arguments":{"to":"bob","photos":["a","b"]}}"#
        let request = try LocalControl.decode(LocalRequest.self, from: Array(json.utf8), what: "request")
        #expect(request.string("to") == "bob" && request.list("photos") == ["a", "b"] && request.list("none") == [])
        let frame = try LocalControl.frame(LocalFrame.progress(LocalProgress(label: "x", done: 1, total: 2)))
        #expect(Array(frame.prefix(4)) == [0, 0, 0, UInt8(frame.count - 4)])
        #expect(String(decoding: frame.dropFirst(4), as: UTF8.self).contains(#""kind":"progress""#))
    }

    @Test func theSocketFileIsOwnerOnlyAndGoesAwayOnStop() async throws {
        try await withTemporaryFolder { home in
            let server = try Self.server(home)
            var info = stat()
            #expect(lstat(server.path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFSOCK)
            #expect(info.st_mode & 0o777 == 0o600)
            server.stop()
            #expect(!FileManager.default.fileExists(atPath: server.path))
        }
    }

    @Test func aSecondDaemonIsRefusedWhileTheFirstLivesAndTakesOverAfter() async throws {
        try await withTemporaryFolder { home in
            let first = try Self.server(home)
            #expect { try Self.server(home) } throws: { ($0 as? NodeError)?.message.contains("already running") == true }
            #expect(try await Self.call(home, "ping").ok, "the refused second server left the first's socket alone")
            first.stop()
            let second = try Self.server(home)
            #expect(try await Self.call(home, "ping").ok)
            second.stop()
            // A daemon that was killed leaves its socket file behind, with no one listening.
            try Self.leaveStaleSocket(at: second.path)
            #expect(FileManager.default.fileExists(atPath: second.path))
            let third = try Self.server(home)
            defer { third.stop() }
            #expect(try await Self.call(home, "ping").ok)
        }
    }

    @Test func aFileThatIsNotASocketIsLeftAlone() async throws {
        try await withTemporaryFolder { home in
            let path = LocalControl.socketPath(home: home, user: "alice")
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("precious".utf8).write(to: URL(fileURLWithPath: path))
            #expect { try Self.server(home) } throws: { ($0 as? NodeError)?.message.contains("not a socket") == true }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("precious".utf8))
        }
    }

    @Test func garbageGetsAnErrorOrAClosedConnectionAndTheDaemonServesOn() async throws {
        try await withTemporaryFolder { home in
            var limits = LocalControlServer.Limits()
            limits.requestTimeout = .milliseconds(300)
            let server = try Self.server(home, limits: limits)
            defer { server.stop() }
            let refusals: [(bytes: [UInt8], says: String)] = [
                ([0xFF, 0xFF, 0xFF, 0xFF], "16 MiB"),
                (try LocalControl.frame(["nope": 1]), "not a valid request"),
                ([0, 0, 0, 5] + Array("{nope".utf8), "not a valid request"),
                ([0, 0, 0, 0], "not a valid request"),
                ([0, 0, 0, 100] + Array("{\"command\"".utf8), "cut short"),   // then silence: the timeout ends it
                ([], "no complete"),                                           // nothing at all
            ]
            for refusal in refusals {
                let frame = try Self.rawExchange(server.path, refusal.bytes)
                guard case .reply(let reply)? = frame else {
                    Issue.record("no error reply to \(refusal.bytes.prefix(8))")
                    continue
                }
                #expect(!reply.ok && reply.error?.contains(refusal.says) == true, "\(reply.error ?? "")")
                #expect(try await Self.call(home, "ping").ok)
            }
            // A frame cut short by the client, and a client gone before its reply.
            _ = try Self.rawExchange(server.path, [0, 0, 0, 100, 1, 2], closeAfter: true)
            _ = try Self.rawExchange(server.path, try LocalControl.frame(LocalRequest(command: "progress")), closeAfter: true)
            _ = try Self.rawExchange(server.path, try LocalControl.frame(LocalRequest(command: "slow")), closeAfter: true)
            #expect(try await Self.call(home, "progress").ok)
        }
    }

    @Test func twentyClientsAtOnceAllGetTheirAnswers() async throws {
        try await withTemporaryFolder { home in
            let events = Events()
            let server = try Self.server(home, handler: Self.echo(events: events))
            defer { server.stop() }
            let answers = try await withThrowingTaskGroup(of: [String].self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let request = LocalRequest(command: "slow", arguments: ["to": .string("client-\(index)")])
                        return try await LocalControlClient.call(path: server.path, user: "alice", request: request).lines ?? []
                    }
                }
                return try await group.reduce(into: Set<String>()) { _ = $0.insert($1.last ?? "") }
            }
            #expect(answers == Set((0..<20).map { "client-\($0)" }))
            #expect(events.peak <= 16, "at most 16 served at once; the others waited their turn")
        }
    }

    @Test func aReplyTooLargeForAFrameBecomesAnErrorThatSaysSo() async throws {
        try await withTemporaryFolder { home in
            var limits = LocalControlServer.Limits()
            limits.maxFrame = 1_024
            let server = try Self.server(home, limits: limits)
            defer { server.stop() }
            let reply = try await Self.call(home, "big")
            #expect(!reply.ok && reply.error?.contains("too large") == true)
        }
    }

    @Test func pastTheWaitingRoomAClientIsToldTheDaemonIsBusy() async throws {
        try await withTemporaryFolder { home in
            var limits = LocalControlServer.Limits()
            limits.maxConnections = 1
            limits.maxWaiting = 0
            let events = Events()
            let server = try Self.server(home, limits: limits, handler: Self.echo(events: events))
            defer { server.stop() }
            let blocker = Task { try await Self.call(home, "wait") }
            try #require(try await events.await("started"))
            let busy = try await Self.call(home, "ping")
            #expect(!busy.ok && busy.error?.contains("busy") == true)
            // Cancelling the waiting command closes its connection; the daemon cancels its handler.
            blocker.cancel()
            await #expect { try await blocker.value } throws: { ($0 as? NodeError)?.message == "cancelled" }
            #expect(try await events.await("cancelled"))
            // The slot is released once the cancelled handler has returned, a moment after it said so.
            var freed = false
            let deadline = ContinuousClock.now + .seconds(5)
            while !freed, ContinuousClock.now < deadline {
                freed = try await Self.call(home, "ping").ok
                if !freed { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(freed, "the slot is free again")
        }
    }

    @Test func withNoDaemonTheCommandIsToldHowToStartOne() async throws {
        try await withTemporaryFolder { home in
            let expected = "no peer daemon for alice is running; start one with `photocloud peer --user alice`"
            await #expect { try await Self.call(home, "inbox") } throws: {
                ($0 as? NodeError) == NodeError(.noDaemon, expected)
            }
            let path = LocalControl.socketPath(home: home, user: "alice")
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Self.leaveStaleSocket(at: path)
            await #expect { try await Self.call(home, "inbox") } throws: { ($0 as? NodeError)?.message == expected }
        }
    }

    @Test func aPathLongerThanSunPathIsAClearError() async throws {
        let home = "/tmp/" + String(repeating: "h", count: 120)
        #expect { try Self.server(home) } throws: { ($0 as? NodeError)?.message.contains("holds at most 107") == true }
        await #expect { try await Self.call(home, "inbox") } throws: { ($0 as? NodeError)?.message.contains("holds at most 107") == true }
        #expect(!FileManager.default.fileExists(atPath: home))
    }

    /// What a killed daemon leaves: a socket file bound and closed, never unlinked.
    static func leaveStaleSocket(at path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
    }
}
