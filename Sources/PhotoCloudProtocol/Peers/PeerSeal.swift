import Crypto
import Foundation

/// End-to-end sealing between two users: X25519 agreement of the sender's
/// and the receiver's keys, HKDF-SHA256 to a key for this purpose and these
/// names, ChaCha20-Poly1305 with the purpose, both names and the context
/// (the photo id) as associated data. Only the two users can open what is
/// sealed, and opening proves it came from the other one: a server that
/// carries or hides it learns its size and nothing else.
///
/// The same agreement gives the steganographic embedding key of a photo
/// (`embeddingKey`): the cloud is told that key to hide the sealed bytes, so
/// the key reveals nothing it could not see anyway.
public enum PeerSeal {
    public enum Purpose: String, Sendable {
        /// A photo for its receiver (context: the photo id).
        case photo
        /// Previews of an album for the one who browses (context: the browse id).
        case previews
    }

    public static let version: UInt8 = 1
    /// Version, nonce and tag.
    public static let overhead = 1 + 12 + 16

    public struct Parties: Sendable {
        public var sender: String
        public var receiver: String
        public init(sender: String, receiver: String) {
            self.sender = sender
            self.receiver = receiver
        }
    }

    public static func seal(_ plaintext: [UInt8], purpose: Purpose, parties: Parties, context: [UInt8],
                            own: Curve25519.KeyAgreement.PrivateKey, other: [UInt8]) throws(PeerError) -> [UInt8] {
        let key = try derive(purpose: purpose, parties: parties, context: context, own: own, other: other)
        do {
            let box = try ChaChaPoly.seal(plaintext, using: key, authenticating: associatedData(purpose, parties, context))
            return [version] + Array(box.combined)
        } catch {
            throw PeerError(.crypto, "sealing failed: \(error)")
        }
    }

    /// Opens what `seal` made; a wrong key, other names or any changed byte is an error.
    public static func open(_ sealed: [UInt8], purpose: Purpose, parties: Parties, context: [UInt8],
                            own: Curve25519.KeyAgreement.PrivateKey, other: [UInt8]) throws(PeerError) -> [UInt8] {
        guard sealed.count >= overhead, sealed[0] == version else {
            throw PeerError(.sealBroken, "the sealed \(purpose.rawValue) is damaged or of an unknown version")
        }
        let key = try derive(purpose: purpose, parties: parties, context: context, own: own, other: other)
        do {
            let box = try ChaChaPoly.SealedBox(combined: sealed[1...])
            return Array(try ChaChaPoly.open(box, using: key, authenticating: associatedData(purpose, parties, context)))
        } catch {
            throw PeerError(.sealBroken, "the sealed \(purpose.rawValue) from \(parties.sender) does not open: damaged, or not made for \(parties.receiver)")
        }
    }

    /// The key the cloud embeds a photo's sealed bytes with (32 bytes): both
    /// users can derive it, nobody else can.
    public static func embeddingKey(parties: Parties, photo: PhotoID, own: Curve25519.KeyAgreement.PrivateKey,
                                    other: [UInt8]) throws(PeerError) -> [UInt8] {
        let shared = try agree(own: own, other: other)
        var info = Array("photocloud stego key v1".utf8)
        info.appendString(parties.sender)
        info.appendString(parties.receiver)
        info += photo.bytes
        let key = HKDF<SHA256>.deriveKey(inputKeyMaterial: shared, salt: Array("photocloud".utf8), info: info, outputByteCount: 32)
        return key.withUnsafeBytes { Array($0) }
    }

    private static func derive(purpose: Purpose, parties: Parties, context: [UInt8], own: Curve25519.KeyAgreement.PrivateKey,
                               other: [UInt8]) throws(PeerError) -> SymmetricKey {
        let shared = try agree(own: own, other: other)
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: shared, salt: Array("photocloud seal v1".utf8),
                                      info: associatedData(purpose, parties, context), outputByteCount: 32)
    }

    private static func agree(own: Curve25519.KeyAgreement.PrivateKey, other: [UInt8]) throws(PeerError) -> SymmetricKey {
        do {
            let key = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: other)
            let secret = try own.sharedSecretFromKeyAgreement(with: key)
            return SymmetricKey(data: secret.withUnsafeBytes { Array($0) })
        } catch {
            throw PeerError(.crypto, "no key agreement with that public key")
        }
    }

    private static func associatedData(_ purpose: Purpose, _ parties: Parties, _ context: [UInt8]) -> [UInt8] {
        var bytes = Array("photocloud \(purpose.rawValue)".utf8)
        bytes.appendString(parties.sender)
        bytes.appendString(parties.receiver)
        bytes.appendLengthPrefixed(context)
        return bytes
    }
}

/// What a sealed photo holds: its title and the file exactly as shared.
public struct PhotoContents: Sendable, Equatable {
    public var title: String
    public var file: [UInt8]

    public init(title: String, file: [UInt8]) {
        self.title = title
        self.file = file
    }

    static let magic = Array("PCP1".utf8)

    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendString(String(title.utf8Prefix(PeerLimits.titleBytes)))
        bytes.appendBigEndian(UInt64(file.count))
        bytes += file
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(PeerError) -> PhotoContents {
        do {
            var reader = ByteReader(bytes)
            guard try reader.readBytes(4) == magic else { throw PeerError(.malformed, "not a photocloud photo") }
            let title = try reader.readString(limit: PeerLimits.titleBytes)
            let length = try reader.readUInt64()
            guard length <= UInt64(PeerLimits.photoBytes) else { throw PeerError(.tooLarge, "a photo of \(length) bytes") }
            let file = try reader.readBytes(Int(length))
            try reader.expectEnd()
            return PhotoContents(title: title, file: file)
        } catch let error as PeerError {
            throw error
        } catch {
            throw PeerError(.malformed, "the photo's contents are malformed: \(error)")
        }
    }
}

/// Limits every peer applies to what others send it.
public enum PeerLimits {
    public static let titleBytes = 200
    /// The largest photo file (a 12-megapixel PNG is 20-40 MB; JPEGs far less).
    public static let photoBytes = 64 << 20
    /// At most this many previews in one album listing.
    public static let previewsPerAlbum = 200
    /// The largest preview PNG (256 x 256 x 4 plus headroom).
    public static let previewBytes = 300_000
    /// The largest grant of views.
    public static let maxViews: UInt32 = 1_000_000
}
