import AsyncUDP
import Foundation

/// The local control channel: one-shot commands (`photocloud send --user
/// alice`, `inbox`, ...) ask the user's running daemon over a Unix socket in
/// the user's home, `HOME/USER/peer.sock`, readable by its owner only.
///
/// Each message is a frame: a 4-byte big-endian length, then that many bytes
/// of JSON. The client sends one `LocalRequest`; the daemon answers with any
/// number of `progress` frames and one `reply` frame, then closes. Frames
/// over `maxFrame` are refused. See docs/architecture.md.
public enum LocalControl {
    public static let socketName = "peer.sock"
    /// The largest frame either side accepts (16 MiB).
    public static let maxFrame = 16 << 20

    /// `HOME/USER/peer.sock`, beside the user's keys.
    public static func socketPath(home: String, user: String) -> String {
        ((home as NSString).appendingPathComponent(user) as NSString).appendingPathComponent(socketName)
    }

    /// `value` as a frame: its length, then its JSON.
    static func frame(_ value: some Encodable, limit: Int = maxFrame) throws(NodeError) -> [UInt8] {
        let json: Data
        do { json = try JSONEncoder().encode(value) } catch {
            throw NodeError(.localControl, "cannot encode a local control message: \(error)")
        }
        guard json.count <= limit else {
            throw NodeError(.localControl, "a local control message of \(json.count) bytes is over the \(limit >> 20) MiB limit")
        }
        let length = UInt32(json.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + json
    }

    /// The next frame's JSON, or nil if the other end closed the connection
    /// cleanly before a frame began. A length over `limit` is refused before
    /// anything of that size is allocated.
    static func readFrame(from socket: LocalStreamSocket, deadline: ContinuousClock.Instant?,
                          limit: Int = maxFrame) throws(NodeError) -> [UInt8]? {
        let header: [UInt8]
        do {
            guard let read = try socket.read(exactly: 4, deadline: deadline) else { return nil }
            header = read
        } catch {
            throw NodeError(.localControl, "no complete local control frame: \(error)")
        }
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= limit else {
            throw NodeError(.localControl, "a local control frame of \(length) bytes is over the \(limit >> 20) MiB limit")
        }
        do {
            guard let json = try socket.read(exactly: length, deadline: deadline) else {
                throw UDPError(.endOfStream, "the other end closed the connection after the length")
            }
            return json
        } catch {
            throw NodeError(.localControl, "a local control frame of \(length) bytes was cut short: \(error)")
        }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from json: [UInt8], what: String) throws(NodeError) -> Value {
        do { return try JSONDecoder().decode(type, from: Data(json)) } catch {
            throw NodeError(.localControl, "not a valid \(what) (\(json.count) bytes of JSON): \(String(describing: error).prefix(200))")
        }
    }
}

/// One argument of a request: a single value (`--to bob`) or several (photo names).
public enum LocalArgument: Codable, Sendable, Equatable {
    case string(String)
    case list([String])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            self = .list(try container.decode([String].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .list(let values): try container.encode(values)
        }
    }
}

/// What a one-shot command asks the daemon: `{"command": "send", "arguments":
/// {"photo": "beach.png", "to": "bob", "views": "3"}}`. Which arguments a
/// command takes is the handler's business.
public struct LocalRequest: Codable, Sendable, Equatable {
    public var command: String
    public var arguments: [String: LocalArgument]

    public init(command: String, arguments: [String: LocalArgument] = [:]) {
        self.command = command
        self.arguments = arguments
    }

    /// A single-valued argument (the only element of a one-element list counts).
    public func string(_ name: String) -> String? {
        switch arguments[name] {
        case .string(let value)?: value
        case .list(let values)? where values.count == 1: values[0]
        default: nil
        }
    }

    /// A list argument (a single value is a list of one; missing, an empty list).
    public func list(_ name: String) -> [String] {
        switch arguments[name] {
        case .string(let value)?: [value]
        case .list(let values)?: values
        case nil: []
        }
    }

    /// A flag (`--json`): present with the value "true".
    public func flag(_ name: String) -> Bool { string(name) == "true" }
}

/// How far long work has come: `done` of `total` units (bytes) under `label`;
/// `total` 0 is a stage without a measure ("waiting for bob").
public struct LocalProgress: Codable, Sendable, Equatable {
    public var label: String
    public var done: Int64
    public var total: Int64

    public init(label: String, done: Int64 = 0, total: Int64 = 0) {
        self.label = label
        self.done = done
        self.total = total
    }
}

/// The daemon's answer, printed by the command: `lines` on stdout, or `json`
/// (one JSON document) with `--json`; with `ok` false, `error` is the one
/// line after `error:` and the command exits 1.
public struct LocalReply: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var lines: [String]?
    public var json: String?

    public init(ok: Bool, error: String? = nil, lines: [String]? = nil, json: String? = nil) {
        self.ok = ok
        self.error = error
        self.lines = lines
        self.json = json
    }

    public static func success(lines: [String] = [], json: String? = nil) -> LocalReply {
        LocalReply(ok: true, lines: lines, json: json)
    }

    public static func failure(_ message: String) -> LocalReply {
        LocalReply(ok: false, error: message)
    }
}

/// Where a handler reports progress. The daemon's sink sends progress frames
/// to the client (the latest only, if the client reads slower than work
/// advances); a command doing the work itself can draw it directly.
public struct ProgressSink: Sendable {
    private let sink: @Sendable (LocalProgress) -> Void

    public init(_ sink: @escaping @Sendable (LocalProgress) -> Void) { self.sink = sink }

    public static let ignored = ProgressSink { _ in }

    public func report(_ progress: LocalProgress) { sink(progress) }

    public func report(label: String, done: Int64, total: Int64) {
        sink(LocalProgress(label: label, done: done, total: total))
    }
}

/// A daemon-to-client frame: `{"kind": "progress", "progress": {...}}` or
/// `{"kind": "reply", "reply": {...}}`.
enum LocalFrame: Codable, Equatable {
    case progress(LocalProgress)
    case reply(LocalReply)

    private enum Kind: String, Codable { case progress, reply }
    private enum Keys: String, CodingKey { case kind, progress, reply }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .progress: self = .progress(try container.decode(LocalProgress.self, forKey: .progress))
        case .reply: self = .reply(try container.decode(LocalReply.self, forKey: .reply))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .progress(let progress):
            try container.encode(Kind.progress, forKey: .kind)
            try container.encode(progress, forKey: .progress)
        case .reply(let reply):
            try container.encode(Kind.reply, forKey: .kind)
            try container.encode(reply, forKey: .reply)
        }
    }
}
