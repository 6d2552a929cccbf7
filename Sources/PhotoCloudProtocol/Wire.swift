import CChecksum
import Crypto

/// How a datagram's tag is made.
public enum AuthScheme: UInt8, Sendable {
    /// A CRC-32C checksum every node can make: it detects damage, not forgery.
    /// For traffic between peers and servers, whose payloads carry their own
    /// signatures or end-to-end digests.
    case open = 0
    /// HMAC-SHA256 with the cluster secret: only servers of the cluster can make the tag.
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

/// A decoded datagram whose payload still lies in the received bytes (no copy).
public struct Frame: Sendable {
    public var type: MessageType
    public var sender: UInt64
    public var messageID: UInt64
    public var auth: AuthScheme
    public var payload: ArraySlice<UInt8>
}

/// The keys a node can tag and verify with (the open scheme needs none).
public struct WireKeys: Sendable {
    public let cluster: SymmetricKey?
    /// HMAC already keyed with `cluster`: each datagram copies it instead of
    /// hashing the key's pads again (a third of the work for small messages).
    let clusterMAC: HMAC<SHA256>?

    public init(clusterSecret: [UInt8]? = nil) {
        cluster = clusterSecret.map { SymmetricKey(data: $0) }
        clusterMAC = cluster.map { HMAC<SHA256>(key: $0) }
    }
}

/// The datagram framing (docs/protocol.md, "Framing"):
///
///     0 magic "PC" | 2 version | 3 type | 4 auth scheme | 5 reserved (3 zero bytes)
///     8 sender id (u64) | 16 message id (u64) | 24 payload length (u32)
///     28 tag (16 bytes) | 44 payload
///
/// The tag covers bytes 0..<28 and the payload. Scheme `open`: CRC-32C in the
/// first 4 bytes, 12 zero bytes. Scheme `cluster`: HMAC-SHA256 with the
/// cluster secret, truncated to 16 bytes. All integers big-endian. Decoding
/// is total: any byte string decodes or throws a `WireError`; no length is
/// trusted before it is checked against the bytes actually present.
public enum Wire {
    public static let magic: (UInt8, UInt8) = (0x50, 0x43)
    public static let version: UInt8 = 1
    public static let headerSize = 44
    public static let tagSize = 16
    /// The largest payload that fits one UDP datagram with the header.
    public static let maxPayload = 65_507 - headerSize

    public static func encode(_ envelope: Envelope, keys: WireKeys) throws(WireError) -> [UInt8] {
        try encode(type: envelope.type, sender: envelope.sender, messageID: envelope.messageID, auth: envelope.auth,
                   keys: keys, payloadCapacity: envelope.payload.count) { $0.append(contentsOf: envelope.payload) }
    }

    /// Frames the payload that `writePayload` appends, with no intermediate copy.
    public static func encode(type: MessageType, sender: UInt64, messageID: UInt64, auth: AuthScheme = .open, keys: WireKeys,
                              payloadCapacity: Int = 0, writePayload: (inout [UInt8]) -> Void) throws(WireError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + payloadCapacity)
        try encode(into: &bytes, type: type, sender: sender, messageID: messageID, auth: auth, keys: keys, writePayload: writePayload)
        return bytes
    }

    /// Frames into `bytes`, replacing what it held but keeping its storage (a
    /// sender's reusable buffer).
    public static func encode(into bytes: inout [UInt8], type: MessageType, sender: UInt64, messageID: UInt64, auth: AuthScheme = .open,
                              keys: WireKeys, writePayload: (inout [UInt8]) -> Void) throws(WireError) {
        try encode(into: &bytes, type: type, sender: sender, messageID: messageID, auth: auth, keys: keys,
                   writePayload: writePayload, trailer: [])
    }

    /// Frames a datagram whose payload is what `writePayload` appends to
    /// `bytes` followed by `trailer`, which stays where it is: the datagram is
    /// `bytes` then `trailer`, sent as two pieces (a chunk's data is not copied
    /// into the send buffer). Length and tag cover both.
    public static func encode(into bytes: inout [UInt8], type: MessageType, sender: UInt64, messageID: UInt64, auth: AuthScheme = .open,
                              keys: WireKeys, writePayload: (inout [UInt8]) -> Void, trailer: ArraySlice<UInt8>) throws(WireError) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(magic.0)
        bytes.append(magic.1)
        bytes.append(version)
        bytes.append(type.rawValue)
        bytes.append(auth.rawValue)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendBigEndian(sender)
        bytes.appendBigEndian(messageID)
        bytes.appendBigEndian(UInt32(0))
        bytes.append(contentsOf: repeatElement(0, count: tagSize))
        writePayload(&bytes)
        let length = bytes.count - headerSize + trailer.count
        guard length <= maxPayload else {
            throw WireError(.tooLarge, "a payload of \(length) bytes does not fit one datagram (at most \(maxPayload))")
        }
        bytes.replaceSubrange(24..<28, with: UInt32(length).bigEndianBytes)
        let tag = try Self.tag(auth, header: bytes[0..<28], payload: bytes[headerSize...], trailer: trailer, keys: keys)
        bytes.replaceSubrange(28..<headerSize, with: tag)
    }

    public static func decode(_ bytes: [UInt8], keys: WireKeys) throws(WireError) -> Envelope {
        let frame = try decodeFrame(bytes, keys: keys)
        return Envelope(type: frame.type, sender: frame.sender, messageID: frame.messageID, auth: frame.auth, payload: Array(frame.payload))
    }

    /// Checks and decodes a datagram, leaving the payload in place.
    public static func decodeFrame(_ bytes: [UInt8], keys: WireKeys) throws(WireError) -> Frame {
        try decodeFrame(bytes[...], keys: keys)
    }

    /// Checks and decodes a datagram held in a slice (of a reused receive buffer).
    public static func decodeFrame(_ datagram: ArraySlice<UInt8>, keys: WireKeys) throws(WireError) -> Frame {
        let bytes = datagram, base = datagram.startIndex   // offsets below are from the datagram's start
        guard bytes.count >= headerSize else {
            throw WireError(.truncated, "datagram of \(bytes.count) bytes is shorter than the \(headerSize)-byte header")
        }
        guard bytes[base + 0] == magic.0, bytes[base + 1] == magic.1 else {
            throw WireError(.badMagic, "not a photocloud datagram (bad magic)")
        }
        guard bytes[base + 2] == version else {
            throw WireError(.unsupportedVersion, "wire version \(bytes[base + 2]) is not supported (this build speaks \(version))")
        }
        guard let type = MessageType(rawValue: bytes[base + 3]) else {
            throw WireError(.unknownType, "unknown message type \(bytes[base + 3])")
        }
        guard let auth = AuthScheme(rawValue: bytes[base + 4]) else {
            throw WireError(.unknownAuthScheme, "unknown authentication scheme \(bytes[base + 4])")
        }
        guard bytes[base + 5] == 0, bytes[base + 6] == 0, bytes[base + 7] == 0 else {
            throw WireError(.reservedBitsSet, "reserved header bytes are not zero")
        }
        var reader = ByteReader(bytes[(base + 8)..<(base + 28)])
        let sender = try reader.readUInt64()
        let messageID = try reader.readUInt64()
        let length = try reader.readUInt32()
        guard Int(length) == bytes.count - headerSize else {
            throw WireError(.lengthMismatch, "header says \(length) payload bytes, datagram carries \(bytes.count - headerSize)")
        }
        let expected = try Self.tag(auth, header: bytes[base..<(base + 28)], payload: bytes[(base + headerSize)...], keys: keys)
        guard constantTimeEqual(expected, bytes[(base + 28)..<(base + headerSize)]) else {
            throw WireError(.badTag, auth == .open
                ? "checksum does not match (a damaged datagram)"
                : "authentication tag does not match (damaged, forged, or a different cluster secret)")
        }
        return Frame(type: type, sender: sender, messageID: messageID, auth: auth, payload: bytes[(base + headerSize)...])
    }

    private static func tag(_ scheme: AuthScheme, header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>, trailer: ArraySlice<UInt8> = [],
                            keys: WireKeys) throws(WireError) -> [UInt8] {
        switch scheme {
        case .open:
            var crc = header.withUnsafeBytes { cchecksum_crc32c(0, $0.baseAddress, $0.count) }
            crc = payload.withUnsafeBytes { cchecksum_crc32c(crc, $0.baseAddress, $0.count) }
            crc = trailer.withUnsafeBytes { cchecksum_crc32c(crc, $0.baseAddress, $0.count) }
            return crc.bigEndianBytes + [UInt8](repeating: 0, count: tagSize - 4)
        case .cluster:
            guard var mac = keys.clusterMAC else {
                throw WireError(.missingKey, "datagram needs the cluster secret, which this node does not have")
            }
            mac.update(data: header)
            mac.update(data: payload)
            mac.update(data: trailer)
            return Array(Array(mac.finalize()).prefix(tagSize))
        }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
