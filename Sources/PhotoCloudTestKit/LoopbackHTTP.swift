import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A plain HTTP/1.1 client for tests of the web album: one request per
/// connection, every header as given (no cookie jar, no redirects followed,
/// no Origin added), so that a test says exactly what a browser or an
/// attacker would send. Bounded: each read waits at most `timeout`.
public struct LoopbackHTTP: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    public let port: Int
    /// The Host header, unless a request names another (the client always connects to 127.0.0.1).
    public let host: String
    public var timeout: Duration = .seconds(60)

    public init(port: Int, host: String? = nil) {
        self.port = port
        self.host = host ?? "127.0.0.1:\(port)"
    }

    /// Sends one request; `host` is the Host header (default: `self.host`).
    public func send(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = [], host: String? = nil) throws -> Response {
        let socket = try connect()
        defer { close(socket) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host ?? self.host)\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        try write(Array((head + "\r\n").utf8) + body, to: socket)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(socket, &buffer, buffer.count)
            guard count > 0 else {
                if count < 0 { throw Failure("reading the response from port \(port): errno \(errno)") }
                break
            }
            received += buffer[..<count]
        }
        return try Self.parse(received)
    }

    /// Opens a server-sent event stream and reads it until `wanted` appears in it (true) or `within` passes (false).
    public func awaitEvent(containing wanted: String, headers: [String: String], within: Duration, afterOpening: () throws -> Void) throws -> Bool {
        let socket = try connect(readTimeout: .milliseconds(200))
        defer { close(socket) }
        var head = "GET /events HTTP/1.1\r\nHost: \(host)\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        try write(Array((head + "\r\n").utf8), to: socket)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        var opened = false
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            let count = read(socket, &buffer, buffer.count)
            if count > 0 { received += buffer[..<count] } else if count == 0 { return false }
            let text = String(decoding: received, as: UTF8.self)
            if !opened, text.contains("retry:") {
                opened = true
                try afterOpening()
            }
            if opened, text.contains(wanted) { return true }
        }
        return false
    }

    private func connect(readTimeout: Duration? = nil) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure("socket: errno \(errno)") }
        let wait = readTimeout ?? timeout
        var limit = timeval(tv_sec: Int(wait.components.seconds), tv_usec: Int(wait.components.attoseconds / 1_000_000_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw Failure("connecting to 127.0.0.1:\(port): errno \(errno)")
        }
        return socket
    }

    private func write(_ bytes: [UInt8], to socket: Int32) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.write(socket, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure("writing to port \(port): errno \(errno)") }
            sent += count
        }
    }

    static func parse(_ bytes: [UInt8]) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            throw Failure("no complete response head in \(bytes.count) bytes")
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure("not a status line: \(lines[0])") }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = Array(bytes[(end + 4)...])
        if headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) { body = try dechunk(body) }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = [], index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
                  let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";")[0], radix: 16) else {
                throw Failure("a chunk without its size")
            }
            if size == 0 { break }
            let start = lineEnd + 2
            guard start + size <= bytes.count else { throw Failure("a chunk cut short") }
            out += bytes[start..<start + size]
            index = start + size + 2
        }
        return out
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
