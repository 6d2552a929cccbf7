import AsyncUDP
import Crypto
import Foundation
import PhotoCloudProtocol
import TOMLKit

/// The servers of a cloud, their public keys and the secret they share (the
/// cluster file of docs/operations.md):
///
///     [cluster]
///     secret = "<64 hex digits>"      # servers only; a public file leaves it out
///     agreement = "<64 hex digits>"   # the cloud's X25519 public key (clients' session keys)
///     [[server]]
///     id = 1
///     control = "127.0.0.1:7101"
///     data    = "127.0.0.1:7201"
///     key     = "<64 hex digits>"     # the server's Ed25519 public key
///
/// Each server's signing key, and the cloud's agreement key, are derived from
/// the secret, so the servers need no other key file; clients check the
/// servers' answers with the public keys, and never need the secret.
public struct ClusterConfig: Sendable, Equatable {
    public struct Server: Sendable, Equatable {
        public var id: Int
        public var control: SocketAddress
        public var data: SocketAddress
        /// The Ed25519 public key the server signs its answers to clients with (32 bytes).
        public var key: [UInt8]

        public init(id: Int, control: SocketAddress, data: SocketAddress, key: [UInt8]) {
            self.id = id
            self.control = control
            self.data = data
            self.key = key
        }
    }

    /// 32 bytes that authenticate server-to-server traffic; nil in a public
    /// cluster file (enough for clients, not for a server).
    public var secret: [UInt8]?
    /// The cloud's X25519 public key (32 bytes): a client makes its session
    /// key with it (`SessionKey`).
    public var agreement: [UInt8]
    /// Sorted by id: the order of the token ring.
    public var servers: [Server]
    /// The mailbox's limits (`[mailbox]`: `max_messages_per_user`,
    /// `max_mib_per_user`, `max_total_mib`, `ttl_days`); the defaults when absent.
    public var mailbox = Mailbox.Limits()
    /// Where the configuration came from, for messages ("built-in local layout" or a path).
    public var source: String

    public static let secretLength = 32
    public static let maxServers = 99
    public static let defaultBasePort: UInt16 = 7100

    public init(secret: [UInt8]?, agreement: [UInt8]? = nil, servers: [Server], source: String) {
        self.secret = secret
        self.agreement = agreement ?? secret.flatMap { try? Array(Self.agreementKey(secret: $0).publicKey.rawRepresentation) } ?? []
        self.servers = servers.sorted { $0.id < $1.id }
        self.source = source
    }

    /// The cloud as a client sees one of its servers alone (to ask that server only).
    func only(_ server: Server) -> ClusterConfig {
        ClusterConfig(secret: nil, agreement: agreement, servers: [server], source: source)
    }

    /// The cloud's agreement key, derived from the secret (nil without it).
    public var agreementKey: Curve25519.KeyAgreement.PrivateKey? { secret.flatMap { try? Self.agreementKey(secret: $0) } }

    static func agreementKey(secret: [UInt8]) throws -> Curve25519.KeyAgreement.PrivateKey {
        try seed(from: secret, salt: "photocloud cluster agreement v1", info: []).withUnsafeBytes { try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: $0) }
    }

    /// The cloud's agreement public key, as a key.
    public var agreementPublicKey: Curve25519.KeyAgreement.PublicKey? { try? .init(rawRepresentation: agreement) }

    public func server(id: Int) -> Server? { servers.first { $0.id == id } }

    /// Server `id`'s signing key, derived from the secret (nil without it).
    public func signingKey(forServer id: Int) -> Curve25519.Signing.PrivateKey? {
        secret.flatMap { try? Self.signingKey(secret: $0, server: id) }
    }

    static func signingKey(secret: [UInt8], server id: Int) throws -> Curve25519.Signing.PrivateKey {
        try seed(from: secret, salt: "photocloud server key v1", info: UInt64(id).bigEndianBytes).withUnsafeBytes { try Curve25519.Signing.PrivateKey(rawRepresentation: $0) }
    }

    /// The keys a node of this cloud frames datagrams with: a client's, every
    /// server's public key (to check what servers tell it); server
    /// `asServer`'s, the secret and its signing key, and no public keys: a
    /// server is told nothing signed, so a datagram that claims to be is
    /// refused before any signature check (a flood of them would cost tens of
    /// microseconds each).
    public func wireKeys(asServer id: Int? = nil) -> WireKeys {
        guard let id else {
            var servers: [UInt64: Curve25519.Signing.PublicKey] = [:]
            for server in self.servers {
                if let key = try? Curve25519.Signing.PublicKey(rawRepresentation: server.key) { servers[UInt64(server.id)] = key }
            }
            return WireKeys(servers: servers)
        }
        return WireKeys(clusterSecret: secret, signing: signingKey(forServer: id))
    }

    /// The same cloud without its secret: what users of the cloud are given.
    public var publicFile: ClusterConfig { ClusterConfig(secret: nil, agreement: agreement, servers: servers, source: source) }

    /// A layout of `count` servers on 127.0.0.1: control at base+id, data at base+100+id.
    public static func local(servers count: Int, basePort: UInt16 = defaultBasePort, secret: [UInt8], source: String) throws(NodeError) -> ClusterConfig {
        guard (1...maxServers).contains(count) else {
            throw NodeError(.clusterFile, "a cluster has 1 to \(maxServers) servers, not \(count)")
        }
        return try layout(hosts: Array(repeating: "127.0.0.1", count: count), basePort: basePort, secret: secret, source: source)
    }

    /// A layout of one server on each host (an IPv4 or IPv6 address, in
    /// order): server i on hosts[i-1], control at base+i, data at base+100+i.
    public static func layout(hosts: [String], basePort: UInt16 = defaultBasePort, secret: [UInt8], source: String) throws(NodeError) -> ClusterConfig {
        let count = hosts.count
        guard (1...maxServers).contains(count) else {
            throw NodeError(.clusterFile, "a cluster has 1 to \(maxServers) servers, not \(count)")
        }
        guard Int(basePort) + 100 + count <= Int(UInt16.max), basePort > 0 else {
            throw NodeError(.clusterFile, "base port \(basePort) leaves no room for \(count) servers (ports base+1 ... base+100+\(count))")
        }
        var servers: [Server] = []
        for (index, host) in hosts.enumerated() {
            let id = index + 1
            guard let key = try? signingKey(secret: secret, server: id) else { throw NodeError(.clusterFile, "cannot derive server \(id)'s key") }
            let control: SocketAddress, data: SocketAddress
            do {
                control = try SocketAddress(host: host, port: basePort + UInt16(id))
                data = try SocketAddress(host: host, port: basePort + 100 + UInt16(id))
            } catch {
                throw NodeError(.clusterFile, "server \(id): \"\(host)\" is not an IPv4 or IPv6 address")
            }
            guard control.family == servers.first?.control.family ?? control.family else {
                throw NodeError(.clusterFile, "server \(id): \(host) is not of the same address family as server 1's")
            }
            servers.append(Server(id: id, control: control, data: data, key: Array(key.publicKey.rawRepresentation)))
        }
        return ClusterConfig(secret: secret, servers: servers, source: source)
    }

    public static let builtInSource = "built-in local layout"

    /// The built-in layout used when no cluster file is found: 3 servers on
    /// 127.0.0.1 at the default ports, with `secret` (which `ClusterFile`
    /// makes on first use and keeps in the user's home). Loopback only.
    public static func builtInLocal(secret: [UInt8]) throws(NodeError) -> ClusterConfig {
        try local(servers: 3, secret: secret, source: builtInSource)
    }

    /// Any local address of the servers' family, port 0: what a client binds so
    /// that the servers, remote ones too, can answer it.
    public var anyLocalAddress: SocketAddress {
        if case .v6 = servers.first?.control { .v6(host: .init([UInt8](repeating: 0, count: 16)), port: 0, scope: 0) } else { .v4(host: 0, port: 0) }
    }

    /// A fresh random secret.
    public static func randomSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<secretLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    // MARK: TOML

    private struct RawFile: Decodable {
        struct Cluster: Decodable { var secret: String?; var agreement: String? }
        struct Server: Decodable { var id: Int?; var control: String?; var data: String?; var key: String? }
        struct MailboxLimits: Decodable {
            var max_messages_per_user: Int?
            var max_mib_per_user: Int?
            var max_total_mib: Int?
            var ttl_days: Int?
        }
        var cluster: Cluster?
        var server: [Server]?
        var mailbox: MailboxLimits?
    }

    /// Parses the TOML text of a cluster file; `source` names it in errors.
    public static func parse(_ text: String, source: String) throws(NodeError) -> ClusterConfig {
        func fail(_ why: String) -> NodeError { NodeError(.clusterFile, "\(source): \(why)") }
        let raw: RawFile
        do {
            raw = try TOMLDecoder().decode(RawFile.self, from: text)
        } catch let error as TOMLParseError {
            throw fail("not valid TOML: \(error.description) at line \(error.source.begin.line)")
        } catch {
            throw fail("unexpected contents (\(Self.describe(error)))")
        }
        var secret: [UInt8]?
        if let secretText = raw.cluster?.secret {
            guard let bytes = Self.hexBytes(secretText), bytes.count == secretLength else {
                throw fail("secret must be \(secretLength * 2) hex digits (got \(secretText.count) characters); `photocloud cluster init` writes a fresh one")
            }
            secret = bytes
        }
        let agreement = try Self.publicKey(raw.cluster?.agreement, derived: secret.flatMap { try? Array(Self.agreementKey(secret: $0).publicKey.rawRepresentation) },
                                           what: "agreement", kind: "an X25519 public key", missing: "no [cluster] agreement key", fail: fail) { _ in true }
        guard let rawServers = raw.server, !rawServers.isEmpty else { throw fail("no [[server]] entries") }
        guard rawServers.count <= maxServers else { throw fail("\(rawServers.count) servers, at most \(maxServers) are supported") }
        var servers: [Server] = []
        var seen = Set<Int>()
        for (index, entry) in rawServers.enumerated() {
            let label = "server entry \(index + 1)"
            guard let id = entry.id else { throw fail("\(label) has no id") }
            guard (1...65_535).contains(id) else { throw fail("\(label): id \(id) is not between 1 and 65535") }
            guard seen.insert(id).inserted else { throw fail("duplicate server id \(id)") }
            guard let controlText = entry.control else { throw fail("server \(id) has no control address") }
            guard let dataText = entry.data else { throw fail("server \(id) has no data address") }
            let control: SocketAddress, data: SocketAddress
            do {
                control = try SocketAddress(parsing: controlText)
                data = try SocketAddress(parsing: dataText)
            } catch {
                throw fail("server \(id): \(error)")
            }
            guard control.port != 0, data.port != 0 else { throw fail("server \(id): port 0 is not a reachable address") }
            let key = try Self.publicKey(entry.key, derived: secret.flatMap { try? Array(Self.signingKey(secret: $0, server: id).publicKey.rawRepresentation) },
                                         what: "server \(id): key", kind: "an Ed25519 public key", missing: "server \(id) has no key", fail: fail) {
                (try? Curve25519.Signing.PublicKey(rawRepresentation: $0)) != nil
            }
            servers.append(Server(id: id, control: control, data: data, key: key))
        }
        let addresses = servers.flatMap { [$0.control, $0.data] }
        if let clash = Dictionary(grouping: addresses, by: { $0 }).first(where: { $0.value.count > 1 }) {
            throw fail("address \(clash.key) is used twice")
        }
        var config = ClusterConfig(secret: secret, agreement: agreement, servers: servers, source: source)
        if let limits = raw.mailbox {
            func positive(_ value: Int?, _ name: String, max: Int) throws(NodeError) -> Int? {
                guard let value else { return nil }
                guard (1...max).contains(value) else { throw fail("[mailbox] \(name) must be between 1 and \(max), not \(value)") }
                return value
            }
            if let value = try positive(limits.max_messages_per_user, "max_messages_per_user", max: 10_000_000) { config.mailbox.perUserItems = value }
            if let value = try positive(limits.max_mib_per_user, "max_mib_per_user", max: 1 << 24) { config.mailbox.perUserBytes = UInt64(value) << 20 }
            if let value = try positive(limits.max_total_mib, "max_total_mib", max: 1 << 24) { config.mailbox.totalBytes = UInt64(value) << 20 }
            if let value = try positive(limits.ttl_days, "ttl_days", max: 3_650) { config.mailbox.timeToLive = UInt64(value) * 86_400_000 }
        }
        return config
    }

    /// A public key as the file gives it, or as the secret derives it; both must agree.
    private static func publicKey(_ text: String?, derived: [UInt8]?, what: String, kind: String, missing: String,
                                  fail: (String) -> NodeError, isValid: ([UInt8]) -> Bool) throws(NodeError) -> [UInt8] {
        guard let text else {
            guard let derived else {
                throw fail("\(missing), and no secret to derive it from; `photocloud cluster public` writes a file with every key")
            }
            return derived
        }
        guard let bytes = hexBytes(text), bytes.count == 32, isValid(bytes) else { throw fail("\(what) must be 64 hex digits (\(kind))") }
        if let derived, derived != bytes { throw fail("\(what) does not belong to this file's secret (copy it from `photocloud cluster public`)") }
        return bytes
    }

    /// A 32-byte seed derived from the secret (HKDF-SHA256).
    private static func seed(from secret: [UInt8], salt: String, info: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), salt: Array(salt.utf8), info: info, outputByteCount: 32)
    }

    /// The TOML text of this configuration (without a secret if it has none).
    public func rendered() -> String {
        func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }
        var text: String
        if let secret {
            text = """
                # photocloud cluster file: the servers of one cloud.
                # Keep the secret private: it authenticates server-to-server traffic.
                # Give users the file without it (`photocloud cluster public`).
                [cluster]
                secret = "\(hex(secret))"
                agreement = "\(hex(agreement))"

                """
        } else {
            text = """
                # photocloud cluster file (public): the servers of one cloud and their keys.
                [cluster]
                agreement = "\(hex(agreement))"

                """
        }
        for server in servers {
            text += """

                [[server]]
                id = \(server.id)
                control = "\(server.control)"
                data = "\(server.data)"
                key = "\(hex(server.key))"

                """
        }
        if mailbox != Mailbox.Limits() {
            text += """

                [mailbox]
                max_messages_per_user = \(mailbox.perUserItems)
                max_mib_per_user = \(mailbox.perUserBytes >> 20)
                max_total_mib = \(mailbox.totalBytes >> 20)
                ttl_days = \(mailbox.timeToLive / 86_400_000)

                """
        }
        return text
    }

    static func hexBytes(_ text: String) -> [UInt8]? { Hex.decode(text) }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context):
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
