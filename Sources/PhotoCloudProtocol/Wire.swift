import Crypto

/// How a datagram's tag is keyed.
public enum AuthScheme: UInt8, Sendable {
    /// A key every node knows: the tag detects damage, not forgery. For traffic
    /// between peers and servers, whose payloads carry their own signatures.
    case open = 0
    /// The cluster secret: only servers of the cluster can make the tag.
    case cluster = 1
}

/// One decoded datagram.
public struct Envelope: Sendable, Equatable {
    public var type: MessageType
    public var sender: UInt64
    public var messageID: UInt64
    public var auth: AuthScheme
    public var payload: [UInt8]

    public init(type: MessageType, sender: UInt64, messageID: UInt64, auth: AuthScheme = .open, payload: [UInt8] = []) {
        self.type = type
        self.sender = sender
        self.messageID = messageID
        self.auth = auth
        self.payload = payload
    }
}

/// The keys a node can tag and verify with.
public struct WireKeys: Sendable {
    public let open: SymmetricKey
    public let cluster: SymmetricKey?

    public static let openKey = SymmetricKey(data: SHA256.hash(data: Array("photocloud open wire key v1".utf8)))

    public init(clusterSecret: [UInt8]? = nil) {
        open = Self.openKey
        cluster = clusterSecret.map { SymmetricKey(data: $0) }
    }
}

/// The datagram framing (docs/protocol.md, "Framing"):
///
///     0 magic "PC" | 2 version | 3 type | 4 auth scheme | 5 reserved (3 zero bytes)
///     8 sender id (u64) | 16 message id (u64) | 24 payload length (u32)
///     28 tag (16 bytes: HMAC-SHA256 over bytes 0..<28 and the payload, truncated)
///     44 payload
///
/// All integers big-endian. `decode` is total: any byte string decodes or
/// throws a `WireError`; no length is trusted before it is checked against
/// the bytes actually present.
public enum Wire {
    public static let magic: (UInt8, UInt8) = (0x50, 0x43)
    public static let version: UInt8 = 1
    public static let headerSize = 44
    public static let tagSize = 16
    /// The largest payload that fits one UDP datagram with the header.
    public static let maxPayload = 65_507 - headerSize

    public static func encode(_ envelope: Envelope, keys: WireKeys) throws(WireError) -> [UInt8] {
        guard envelope.payload.count <= maxPayload else {
            throw WireError(.tooLarge, "a payload of \(envelope.payload.count) bytes does not fit one datagram (at most \(maxPayload))")
        }
        let key = try Self.key(for: envelope.auth, in: keys)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + envelope.payload.count)
        bytes.append(magic.0)
        bytes.append(magic.1)
        bytes.append(version)
        bytes.append(envelope.type.rawValue)
        bytes.append(envelope.auth.rawValue)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendBigEndian(envelope.sender)
        bytes.appendBigEndian(envelope.messageID)
        bytes.appendBigEndian(UInt32(envelope.payload.count))
        let tag = Self.tag(header: bytes[0..<28], payload: envelope.payload[...], key: key)
        bytes.append(contentsOf: tag)
        bytes.append(contentsOf: envelope.payload)
        return bytes
    }

    public static func decode(_ bytes: [UInt8], keys: WireKeys) throws(WireError) -> Envelope {
        guard bytes.count >= headerSize else {
            throw WireError(.truncated, "datagram of \(bytes.count) bytes is shorter than the \(headerSize)-byte header")
        }
        guard bytes[0] == magic.0, bytes[1] == magic.1 else {
            throw WireError(.badMagic, "not a photocloud datagram (bad magic)")
        }
        guard bytes[2] == version else {
            throw WireError(.unsupportedVersion, "wire version \(bytes[2]) is not supported (this build speaks \(version))")
        }
        guard let type = MessageType(rawValue: bytes[3]) else {
            throw WireError(.unknownType, "unknown message type \(bytes[3])")
        }
        guard let auth = AuthScheme(rawValue: bytes[4]) else {
            throw WireError(.unknownAuthScheme, "unknown authentication scheme \(bytes[4])")
        }
        guard bytes[5] == 0, bytes[6] == 0, bytes[7] == 0 else {
            throw WireError(.reservedBitsSet, "reserved header bytes are not zero")
        }
        var reader = ByteReader(bytes[8..<28])
        let sender = try reader.readUInt64()
        let messageID = try reader.readUInt64()
        let length = try reader.readUInt32()
        guard Int(length) == bytes.count - headerSize else {
            throw WireError(.lengthMismatch, "header says \(length) payload bytes, datagram carries \(bytes.count - headerSize)")
        }
        let key = try Self.key(for: auth, in: keys)
        let expected = Self.tag(header: bytes[0..<28], payload: bytes[headerSize...], key: key)
        guard constantTimeEqual(expected, bytes[28..<headerSize]) else {
            throw WireError(.badTag, "authentication tag does not match (damaged, forged, or a different cluster secret)")
        }
        return Envelope(type: type, sender: sender, messageID: messageID, auth: auth, payload: Array(bytes[headerSize...]))
    }

    private static func key(for scheme: AuthScheme, in keys: WireKeys) throws(WireError) -> SymmetricKey {
        switch scheme {
        case .open: return keys.open
        case .cluster:
            guard let key = keys.cluster else {
                throw WireError(.missingKey, "datagram needs the cluster secret, which this node does not have")
            }
            return key
        }
    }

    private static func tag(header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>, key: SymmetricKey) -> [UInt8] {
        var mac = HMAC<SHA256>(key: key)
        mac.update(data: header)
        mac.update(data: payload)
        return Array(Array(mac.finalize()).prefix(tagSize))
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
