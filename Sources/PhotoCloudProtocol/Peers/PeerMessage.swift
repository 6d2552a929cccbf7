import Crypto

/// What peers say to each other on their control endpoints (docs/protocol.md,
/// "Peers"). Every message travels in a `PeerEnvelope` signed by its sender;
/// a call is answered by a reply naming the call's nonce.
public enum PeerMessage: Sendable, Equatable {
    // Calls
    /// "Send me your previews, sealed for me, as transfer `transfer` to my data endpoint."
    case browse(transfer: UInt64)
    /// "I ask for `views` views of your photo."
    case request(id: RequestKey, photo: PhotoID, views: UInt32)
    /// The owner turned a request down.
    case deny(id: RequestKey)
    /// "I would send you this photo; pull it if you take it."
    case offer(Offer)
    /// "Did you store what I sent under offer `offer`?"
    case status(offer: UInt64)
    /// A new word on views of a photo the receiver holds.
    case grant(Grant)
    // Replies
    /// Done (or already done).
    case ok
    /// Not done, and why.
    case refused(String)
    /// "Send the offer's stego PNG as transfer `transfer`."
    case pull(transfer: UInt64)
    /// Still working on it: ask again.
    case pending

    /// A photo on its way: the owner, the size of the stego PNG to come, and the grant that goes with it.
    public struct Offer: Sendable, Equatable {
        public var id: UInt64
        public var photo: PhotoID
        public var stegoBytes: UInt64
        public var grant: Grant
        /// The request this answers, if any.
        public var request: RequestKey?

        public init(id: UInt64, photo: PhotoID, stegoBytes: UInt64, grant: Grant, request: RequestKey? = nil) {
            self.id = id
            self.photo = photo
            self.stegoBytes = stegoBytes
            self.grant = grant
            self.request = request
        }
    }

    /// A refusal's reason at most, in bytes.
    public static let maxReason = 120

    public var isReply: Bool {
        switch self {
        case .ok, .refused, .pull, .pending: true
        default: false
        }
    }

    private var tag: UInt8 {
        switch self {
        case .browse: 1
        case .request: 2
        case .deny: 3
        case .offer: 4
        case .status: 5
        case .grant: 6
        case .ok: 64
        case .refused: 65
        case .pull: 66
        case .pending: 67
        }
    }

    func append(to bytes: inout [UInt8]) {
        bytes.append(tag)
        switch self {
        case .browse(let transfer): bytes.appendBigEndian(transfer)
        case .request(let id, let photo, let views):
            bytes += id.bytes + photo.bytes
            bytes.appendBigEndian(views)
        case .deny(let id): bytes += id.bytes
        case .offer(let offer):
            bytes.appendBigEndian(offer.id)
            bytes += offer.photo.bytes
            bytes.appendBigEndian(offer.stegoBytes)
            offer.grant.append(to: &bytes)
            bytes.append(offer.request == nil ? 0 : 1)
            if let request = offer.request { bytes += request.bytes }
        case .status(let offer): bytes.appendBigEndian(offer)
        case .grant(let grant): grant.append(to: &bytes)
        case .ok, .pending: break
        // Short: a reply stays within three times the smallest call.
        case .refused(let reason): bytes.appendString(String(reason.utf8Prefix(PeerMessage.maxReason)))
        case .pull(let transfer): bytes.appendBigEndian(transfer)
        }
    }

    static func read(_ reader: inout ByteReader) throws(WireError) -> PeerMessage {
        func photo() throws(WireError) -> PhotoID {
            guard let id = PhotoID(bytes: try reader.readBytes(PhotoID.size)) else { throw WireError(.malformedBody, "photo id") }
            return id
        }
        func request() throws(WireError) -> RequestKey { RequestKey(bytes: try reader.readBytes(RequestKey.size))! }
        switch try reader.readUInt8() {
        case 1: return .browse(transfer: try reader.readUInt64())
        case 2:
            let id = try request(), photo = try photo()
            return .request(id: id, photo: photo, views: try reader.readUInt32())
        case 3: return .deny(id: try request())
        case 4:
            let id = try reader.readUInt64(), photo = try photo(), size = try reader.readUInt64()
            let grant = try Grant.read(&reader)
            let answers = try DirectoryMessage.readFlag(&reader, "request") ? try request() : nil
            return .offer(Offer(id: id, photo: photo, stegoBytes: size, grant: grant, request: answers))
        case 5: return .status(offer: try reader.readUInt64())
        case 6: return .grant(try Grant.read(&reader))
        case 64: return .ok
        case 65: return .refused(try reader.readString(limit: maxReason))
        case 66: return .pull(transfer: try reader.readUInt64())
        case 67: return .pending
        case let other: throw WireError(.malformedBody, "peer message kind \(other)")
        }
    }
}

/// A request for a photo, named by 8 random bytes (16 hex digits).
public struct RequestKey: Sendable, Hashable, CustomStringConvertible {
    public static let size = 8
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.bytes = bytes
    }

    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == Self.size * 2, let bytes = Hex.decode(text) else { return nil }
        self.bytes = bytes
    }

    public static func random() -> RequestKey {
        RequestKey(bytes: (0..<size).map { _ in UInt8.random(in: 0...255) })!
    }

    public var description: String { Hex.encode(bytes) }
}

/// A peer message with who sent it to whom, when, under which nonce (and,
/// for a reply, the nonce of the call), signed by the sender's key.
public struct PeerEnvelope: Sendable, Equatable {
    public var from: String
    public var to: String
    /// The sender's clock, milliseconds since 1970.
    public var sentAt: UInt64
    public var nonce: UInt64
    /// The call this answers (0: it is a call).
    public var replyTo: UInt64
    public var message: PeerMessage
    public var signature: [UInt8]

    public init(from: String, to: String, sentAt: UInt64, nonce: UInt64, replyTo: UInt64 = 0, message: PeerMessage, signature: [UInt8] = []) {
        self.from = from
        self.to = to
        self.sentAt = sentAt
        self.nonce = nonce
        self.replyTo = replyTo
        self.message = message
        self.signature = signature
    }

    public var signedBytes: [UInt8] {
        var bytes = Array("photocloud peer v1".utf8)
        appendFields(to: &bytes)
        return bytes
    }

    private func appendFields(to bytes: inout [UInt8]) {
        bytes.appendString(from)
        bytes.appendString(to)
        bytes.appendBigEndian(sentAt)
        bytes.appendBigEndian(nonce)
        bytes.appendBigEndian(replyTo)
        message.append(to: &bytes)
    }

    public func signed(with key: Curve25519.Signing.PrivateKey) throws(PeerError) -> PeerEnvelope {
        var envelope = self
        do {
            envelope.signature = Array(try key.signature(for: signedBytes))
        } catch {
            throw PeerError(.crypto, "signing failed")
        }
        return envelope
    }

    public func isSigned(by key: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
        return key.isValidSignature(signature, for: signedBytes)
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        appendFields(to: &bytes)
        bytes += signature
        return bytes
    }

    /// Total: any bytes decode or throw.
    public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> PeerEnvelope {
        var reader = ByteReader(body)
        let from = try reader.readString(limit: 64), to = try reader.readString(limit: 64)
        let sentAt = try reader.readUInt64(), nonce = try reader.readUInt64(), replyTo = try reader.readUInt64()
        let message = try PeerMessage.read(&reader)
        let signature = try reader.readBytes(64)
        try reader.expectEnd()
        return PeerEnvelope(from: from, to: to, sentAt: sentAt, nonce: nonce, replyTo: replyTo, message: message, signature: signature)
    }
}
