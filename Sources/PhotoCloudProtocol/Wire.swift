import CChecksum
import Crypto
import KeyedHash

/// How a datagram's tag is made.
public enum AuthScheme: UInt8, Sendable {
    /// A CRC-32C checksum every node can make: it detects damage, not forgery.
    /// For traffic between peers and servers, whose payloads carry their own
    /// signatures or end-to-end digests.
    case open = 0
    /// HMAC-SHA256 with the cluster secret: only servers of the cluster can make the tag.
    case cluster = 1
    /// A server's answer to a client: the CRC-32C tag, and an Ed25519 signature
    /// (64 bytes, after the body) by the sending server's key, which the
    /// cluster file publishes. Nobody but that server can make it.
    case signed = 2
    /// A server's answer to a client that sent its own X25519 key: HMAC-SHA256
    /// under the key both derive (`SessionKey`), which only the client and the
    /// servers (holders of the cluster's agreement key) can make. For the
    /// encryption service's answers: a signature check per answer was a fifth
    /// of the CPU of a loaded cloud and its clients.
    case session = 3
}

/// One decoded datagram.
public struct Envelope: Sendable, Equatable {
    public var type: MessageType
    public var sender: UInt64
    /// The sender's incarnation: a server's grows with every restart.
    public var boot: UInt64
    /// The message's number within the boot, never reused.
    public var counter: UInt64
    /// The receiver's boot as the sender last heard it (0: not known).
    public var echo: UInt64
    public var auth: AuthScheme
    public var payload: [UInt8]

    public init(type: MessageType, sender: UInt64, boot: UInt64 = 0, counter: UInt64 = 0, echo: UInt64 = 0,
                auth: AuthScheme = .open, payload: [UInt8] = []) {
        self.type = type
        self.sender = sender
        self.boot = boot
        self.counter = counter
        self.echo = echo
        self.auth = auth
        self.payload = payload
    }
}

/// A decoded datagram whose payload still lies in the received bytes (no copy).
public struct Frame: Sendable {
    public var type: MessageType
    public var sender: UInt64
    public var boot: UInt64
    public var counter: UInt64
    public var echo: UInt64
    public var auth: AuthScheme
    /// The body (for `signed`, without its signature, which was checked).
    public var payload: ArraySlice<UInt8>
}

/// The keys a node can tag, sign and verify with (the open scheme needs none).
public struct WireKeys: Sendable {
    public let cluster: SymmetricKey?
    /// HMAC already keyed with `cluster`: each datagram copies it instead of
    /// hashing the key's pads again (a third of the work for small messages).
    let clusterMAC: KeyedMAC?
    /// This node's signing key (a server's), for the `signed` scheme.
    public let signing: Curve25519.Signing.PrivateKey?
    /// The servers' public keys by server id, to check `signed` datagrams.
    public let servers: [UInt64: Curve25519.Signing.PublicKey]
    /// The HMAC of a session (`AuthScheme.session`), keyed.
    let sessionMAC: KeyedMAC?
    /// The session's key itself (to prove other things under it, as an answer).
    public let session: SymmetricKey?

    public init(clusterSecret: [UInt8]? = nil, signing: Curve25519.Signing.PrivateKey? = nil,
                servers: [UInt64: Curve25519.Signing.PublicKey] = [:], session: SymmetricKey? = nil) {
        cluster = clusterSecret.map { SymmetricKey(data: $0) }
        clusterMAC = cluster.map { KeyedMAC(key: $0) }
        self.signing = signing
        self.servers = servers
        sessionMAC = session.map { KeyedMAC(key: $0) }
        self.session = session
    }

    /// HMAC-SHA256 of `bytes` under the session's key (nil without one),
    /// from the keyed state: keying swift-crypto's HMAC anew walks the key's
    /// pads a byte at a time, which cost a client more than the rest of
    /// checking an answer's proof.
    public func sessionCode(for bytes: [UInt8]) -> [UInt8]? {
        guard var mac = sessionMAC else { return nil }
        mac.update(bytes)
        return Array(mac.finalize())
    }

    /// Whether `code` is the session's HMAC-SHA256 of `bytes` (in constant time).
    public func isValidSessionCode(_ code: [UInt8], for bytes: [UInt8]) -> Bool {
        guard let expected = sessionCode(for: bytes), expected.count == code.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(expected, code) { difference |= x ^ y }
        return difference == 0
    }

    /// These keys with a session's instead of any other.
    public func with(session: SymmetricKey) -> WireKeys {
        WireKeys(clusterSecret: nil, signing: signing, servers: servers, session: session)
    }
}

/// The datagram framing (docs/protocol.md, "Framing"):
///
///     0 magic "PC" | 2 version | 3 type | 4 auth scheme | 5 reserved (3 zero bytes)
///     8 sender id (u64) | 16 boot (u64) | 24 counter (u64) | 32 echo (u64)
///     40 payload length (u32) | 44 tag (16 bytes) | 60 payload
///
/// The tag covers bytes 0..<44 and the payload. Scheme `open`: CRC-32C in the
/// first 4 bytes, 12 zero bytes. Scheme `cluster`: HMAC-SHA256 with the
/// cluster secret, truncated to 16 bytes; `session`: the same under a
/// session's key. Scheme `signed`: as `open`, and the
/// payload ends with an Ed25519 signature over bytes 0..<44 and the body. All
/// integers big-endian. Decoding is total: any byte string decodes or throws
/// a `WireError`; no length is trusted before it is checked against the bytes
/// actually present.
public enum Wire {
    public static let magic: (UInt8, UInt8) = (0x50, 0x43)
    public static let version: UInt8 = 2
    public static let headerSize = 60
    public static let tagSize = 16
    static let tagOffset = 44
    public static let signatureSize = 64
    /// The largest payload that fits one UDP datagram with the header.
    public static let maxPayload = 65_507 - headerSize

    public static func encode(_ envelope: Envelope, keys: WireKeys) throws(WireError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headerSize + envelope.payload.count + signatureSize)
        try encode(into: &bytes, header: Header(envelope), auth: envelope.auth, keys: keys,
                   writePayload: { $0.append(contentsOf: envelope.payload) }, trailer: [])
        return bytes
    }

    /// The fields of a header that the sender chooses.
    public struct Header: Sendable, Equatable {
        public var type: MessageType
        public var sender: UInt64
        public var boot: UInt64
        public var counter: UInt64
        public var echo: UInt64

        public init(type: MessageType, sender: UInt64, boot: UInt64, counter: UInt64, echo: UInt64 = 0) {
            self.type = type
            self.sender = sender
            self.boot = boot
            self.counter = counter
            self.echo = echo
        }

        init(_ envelope: Envelope) {
            self.init(type: envelope.type, sender: envelope.sender, boot: envelope.boot, counter: envelope.counter, echo: envelope.echo)
        }
    }

    /// Frames a datagram whose payload is what `writePayload` appends to
    /// `bytes` followed by `trailer`, which stays where it is: the datagram is
    /// `bytes` then `trailer`, sent as two pieces (a chunk's data is not copied
    /// into the send buffer). Length and tag cover both.
    /// A signed datagram's trailer is its signature, so only the other schemes take one.
    public static func encode(into bytes: inout [UInt8], header: Header, auth: AuthScheme = .open,
                              keys: WireKeys, writePayload: (inout [UInt8]) -> Void, trailer: ArraySlice<UInt8> = []) throws(WireError) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(magic.0)
        bytes.append(magic.1)
        bytes.append(version)
        bytes.append(header.type.rawValue)
        bytes.append(auth.rawValue)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendBigEndian(header.sender)
        bytes.appendBigEndian(header.boot)
        bytes.appendBigEndian(header.counter)
        bytes.appendBigEndian(header.echo)
        bytes.appendBigEndian(UInt32(0))
        bytes.append(contentsOf: repeatElement(0, count: tagSize))
        writePayload(&bytes)
        let signature = auth == .signed ? signatureSize : 0
        guard auth != .signed || trailer.isEmpty else { throw WireError(.malformedBody, "a signed datagram carries no trailer") }
        let length = bytes.count - headerSize + trailer.count + signature
        guard length <= maxPayload else {
            throw WireError(.tooLarge, "a payload of \(length) bytes does not fit one datagram (at most \(maxPayload))")
        }
        bytes.replaceSubrange(40..<tagOffset, with: UInt32(length).bigEndianBytes)
        if auth == .signed {
            guard let key = keys.signing else { throw WireError(.missingKey, "a signed datagram needs this server's signing key") }
            var signed = Array(bytes[0..<tagOffset])
            signed += bytes[headerSize...]
            guard let made = try? key.signature(for: signed) else { throw WireError(.missingKey, "signing failed") }
            bytes.append(contentsOf: made)
        }
        let tag = try Self.tag(auth, header: bytes[0..<tagOffset], payload: bytes[headerSize...], trailer: trailer, keys: keys)
        bytes.replaceSubrange(tagOffset..<headerSize, with: tag)
    }

    public static func decode(_ bytes: [UInt8], keys: WireKeys) throws(WireError) -> Envelope {
        let frame = try decodeFrame(bytes, keys: keys)
        return Envelope(type: frame.type, sender: frame.sender, boot: frame.boot, counter: frame.counter, echo: frame.echo,
                        auth: frame.auth, payload: Array(frame.payload))
    }

    /// The message type a datagram says it is, checking only the magic and
    /// version (nothing is authenticated yet): for routing to a decoder.
    public static func type(of datagram: ArraySlice<UInt8>) -> MessageType? {
        let base = datagram.startIndex
        guard datagram.count >= headerSize, datagram[base] == magic.0, datagram[base + 1] == magic.1, datagram[base + 2] == version else { return nil }
        return MessageType(rawValue: datagram[base + 3])
    }

    /// Checks and decodes a datagram, leaving the payload in place.
    public static func decodeFrame(_ bytes: [UInt8], keys: WireKeys) throws(WireError) -> Frame {
        try decodeFrame(bytes[...], keys: keys)
    }

    /// Checks and decodes a datagram held in a slice (of a reused receive buffer).
    ///
    /// `checkingSignature: false` leaves a `signed` datagram's signature for
    /// `checkSignature` (its key must still be known): a receiver first looks
    /// at what the datagram says (is it the answer to a question it asked?)
    /// and pays for the signature check (tens of microseconds) only then, so
    /// that a flood of forged signatures costs it little.
    public static func decodeFrame(_ datagram: ArraySlice<UInt8>, keys: WireKeys, checkingSignature: Bool = true) throws(WireError) -> Frame {
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
        var reader = ByteReader(bytes[(base + 8)..<(base + tagOffset)])
        let sender = try reader.readUInt64()
        let boot = try reader.readUInt64()
        let counter = try reader.readUInt64()
        let echo = try reader.readUInt64()
        let length = try reader.readUInt32()
        guard UInt64(length) == UInt64(bytes.count - headerSize) else {
            throw WireError(.lengthMismatch, "header says \(length) payload bytes, datagram carries \(bytes.count - headerSize)")
        }
        let header = bytes[base..<(base + tagOffset)], payload = bytes[(base + headerSize)...]
        let expected = try Self.tag(auth, header: header, payload: payload, keys: keys)
        guard constantTimeEqual(expected, bytes[(base + tagOffset)..<(base + headerSize)]) else {
            throw WireError(.badTag, auth == .cluster || auth == .session
                ? "authentication tag does not match (damaged, forged, or another key)"
                : "checksum does not match (a damaged datagram)")
        }
        var body = payload
        if auth == .signed {
            guard payload.count >= signatureSize else { throw WireError(.truncated, "a signed datagram without its signature") }
            guard let key = keys.servers[sender] else {
                throw WireError(.missingKey, "a datagram signed by server \(sender), whose key this node does not know")
            }
            body = payload.dropLast(signatureSize)
            if checkingSignature { try checkSignature(of: datagram, key: key, sender: sender) }
        }
        return Frame(type: type, sender: sender, boot: boot, counter: counter, echo: echo, auth: auth, payload: body)
    }

    /// Checks the signature of a `signed` datagram that `decodeFrame` decoded
    /// with `checkingSignature: false` (it does nothing for other schemes).
    public static func checkSignature(of datagram: ArraySlice<UInt8>, keys: WireKeys) throws(WireError) {
        let frame = try decodeFrame(datagram, keys: keys, checkingSignature: false)
        guard frame.auth == .signed, let key = keys.servers[frame.sender] else { return }
        try checkSignature(of: datagram, key: key, sender: frame.sender)
    }

    private static func checkSignature(of datagram: ArraySlice<UInt8>, key: Curve25519.Signing.PublicKey, sender: UInt64) throws(WireError) {
        let base = datagram.startIndex
        let signed = Array(datagram[base..<(base + tagOffset)]) + Array(datagram[(base + headerSize)..<(datagram.endIndex - signatureSize)])
        guard key.isValidSignature(datagram.suffix(signatureSize), for: signed) else {
            throw WireError(.badTag, "the signature of server \(sender) does not verify (forged, or another cluster's key)")
        }
    }

    private static func tag(_ scheme: AuthScheme, header: ArraySlice<UInt8>, payload: ArraySlice<UInt8>, trailer: ArraySlice<UInt8> = [],
                            keys: WireKeys) throws(WireError) -> [UInt8] {
        switch scheme {
        case .open, .signed:
            var crc = header.withUnsafeBytes { cchecksum_crc32c(0, $0.baseAddress, $0.count) }
            crc = payload.withUnsafeBytes { cchecksum_crc32c(crc, $0.baseAddress, $0.count) }
            crc = trailer.withUnsafeBytes { cchecksum_crc32c(crc, $0.baseAddress, $0.count) }
            return crc.bigEndianBytes + [UInt8](repeating: 0, count: tagSize - 4)
        case .cluster, .session:
            guard var mac = scheme == .cluster ? keys.clusterMAC : keys.sessionMAC else {
                throw WireError(.missingKey, scheme == .cluster ? "datagram needs the cluster secret, which this node does not have"
                                                               : "datagram needs a session key, which this node does not have")
            }
            // Through raw buffers (`KeyedMAC`): the generic DataProtocol path cost more than the hashing of a heartbeat.
            header.withUnsafeBytes { mac.update($0) }
            payload.withUnsafeBytes { mac.update($0) }
            if !trailer.isEmpty { trailer.withUnsafeBytes { mac.update($0) } }
            return mac.finalize().withUnsafeBytes { Array($0.prefix(tagSize)) }
        }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }
}
