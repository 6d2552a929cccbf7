import Crypto

/// A message for a user who is offline, as the mailbox holds it: the signed
/// peer envelope its sender would have sent directly (a grant, a request, a
/// denial, or a photo's offer), and for a photo the stego PNG that goes with
/// it (the "object", kept as a file named by its SHA-256). The mailbox
/// reads neither: the envelope is signed by its sender, the photo sealed for
/// its receiver before the cloud hid it.
public struct MailItem: Sendable, Equatable {
    /// Names the item by what it carries (`MailID.of`): the same item stored
    /// twice, or by two servers, is one item, and no one can store other
    /// content under an item's id.
    public var id: MailID
    public var recipient: String
    public var sender: String
    /// A `PeerEnvelope`'s encoding, signed by `sender`, addressed to `recipient`.
    public var envelope: [UInt8]
    /// The object's size and SHA-256 (0 and empty: none).
    public var objectBytes: UInt64
    public var objectDigest: [UInt8]
    /// The sender's Ed25519 signature on the id (`signedBytes`): the object's
    /// digest is the sender's word too, so a captured item cannot be stored
    /// again with another object.
    public var signature: [UInt8]

    public static let maxEnvelope = 4_096
    /// The largest object an item carries: the largest stego PNG a peer takes.
    public static let maxObjectBytes: UInt64 = 192 << 20

    public init(recipient: String, sender: String, envelope: [UInt8], objectBytes: UInt64 = 0, objectDigest: [UInt8] = [],
                signature: [UInt8] = []) {
        self.recipient = recipient
        self.sender = sender
        self.envelope = envelope
        self.objectBytes = objectBytes
        self.objectDigest = objectDigest
        self.signature = signature
        id = MailID.of(envelope: envelope, objectDigest: objectDigest)
    }

    /// The item signed by its sender's `key`.
    public func signed(with key: Curve25519.Signing.PrivateKey) throws(PeerError) -> MailItem {
        var item = self
        do { item.signature = Array(try key.signature(for: signedBytes)) } catch { throw PeerError(.crypto, "signing failed") }
        return item
    }

    public var signedBytes: [UInt8] { Array("photocloud mail item v1 signed".utf8) + id.bytes }

    public func isSigned(by key: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
        return key.isValidSignature(signature, for: signedBytes)
    }

    public var hasObject: Bool { objectBytes > 0 }

    /// What it costs a mailbox: the envelope, the object, and a little for the row (an object is at most `maxObjectBytes`).
    public var heldBytes: UInt64 { UInt64(envelope.count) + min(objectBytes, Self.maxObjectBytes) + 128 }

    /// Whether the id is the one its content names, and the fields agree with each other.
    public var isWellFormed: Bool {
        id == MailID.of(envelope: envelope, objectDigest: objectDigest) && envelope.count <= Self.maxEnvelope
            && (objectBytes == 0) == objectDigest.isEmpty && (objectDigest.isEmpty || objectDigest.count == 32)
            && objectBytes <= Self.maxObjectBytes
    }

    public func append(to bytes: inout [UInt8]) {
        bytes += id.bytes
        bytes.appendString(recipient)
        bytes.appendString(sender)
        bytes.appendLengthPrefixed(Array(envelope.prefix(Self.maxEnvelope)))
        bytes.appendBigEndian(objectBytes)
        bytes.append(UInt8(objectDigest.count == 32 ? 32 : 0))
        if objectDigest.count == 32 { bytes += objectDigest }
        bytes.appendFixed(signature, count: 64)
    }

    public static func read(_ reader: inout ByteReader) throws(WireError) -> MailItem {
        let id = MailID(bytes: try reader.readBytes(MailID.size))!
        let recipient = try reader.readString(limit: 64), sender = try reader.readString(limit: 64)
        let envelope = try reader.readLengthPrefixed(limit: maxEnvelope)
        let objectBytes = try reader.readUInt64()
        let digestLength = try reader.readUInt8()
        guard digestLength == 0 || digestLength == 32 else { throw WireError(.malformedBody, "an object digest of \(digestLength) bytes") }
        let digest = try reader.readBytes(Int(digestLength))
        var item = MailItem(recipient: recipient, sender: sender, envelope: envelope, objectBytes: objectBytes, objectDigest: digest,
                            signature: try reader.readBytes(64))
        guard item.id == id else { throw WireError(.malformedBody, "a mail item whose id is not its content's") }
        item.id = id
        return item
    }
}

/// 16 bytes of SHA-256 of an item's envelope and object digest.
public struct MailID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let size = 16
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.bytes = bytes
    }

    public static func of(envelope: [UInt8], objectDigest: [UInt8]) -> MailID {
        var hash = SHA256()
        hash.update(data: Array("photocloud mail item v1".utf8))
        hash.update(data: UInt32(envelope.count).bigEndianBytes)
        hash.update(data: envelope)
        hash.update(data: objectDigest)
        return MailID(bytes: Array(Array(hash.finalize()).prefix(size)))!
    }

    public static func < (a: MailID, b: MailID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public var description: String { Hex.encode(bytes) }
}
