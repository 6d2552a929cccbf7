import Crypto

/// An owner's word on how many times a receiver may view a photo: signed by
/// the owner's Ed25519 key and versioned, so that a receiver applies only
/// the owner's own, newest word (a replayed older grant changes nothing).
/// Views 0 revokes.
public struct Grant: Sendable, Equatable {
    public var photo: PhotoID
    public var owner: String
    public var receiver: String
    public var views: UInt32
    /// Larger in every grant the owner makes for this photo and receiver.
    public var version: UInt64
    public var signature: [UInt8]

    public init(photo: PhotoID, owner: String, receiver: String, views: UInt32, version: UInt64, signature: [UInt8] = []) {
        self.photo = photo
        self.owner = owner
        self.receiver = receiver
        self.views = views
        self.version = version
        self.signature = signature
    }

    public var signedBytes: [UInt8] {
        var bytes = Array("photocloud grant v1".utf8)
        bytes += photo.bytes
        bytes.appendString(owner)
        bytes.appendString(receiver)
        bytes.appendBigEndian(views)
        bytes.appendBigEndian(version)
        return bytes
    }

    public func signed(with key: Curve25519.Signing.PrivateKey) throws(PeerError) -> Grant {
        var grant = self
        do {
            grant.signature = Array(try key.signature(for: signedBytes))
        } catch {
            throw PeerError(.crypto, "signing the grant failed")
        }
        return grant
    }

    public func isSigned(by ownerKey: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: ownerKey) else { return false }
        return key.isValidSignature(signature, for: signedBytes)
    }

    func append(to bytes: inout [UInt8]) {
        bytes += photo.bytes
        bytes.appendString(owner)
        bytes.appendString(receiver)
        bytes.appendBigEndian(views)
        bytes.appendBigEndian(version)
        bytes += signature
    }

    static func read(_ reader: inout ByteReader) throws(WireError) -> Grant {
        guard let photo = PhotoID(bytes: try reader.readBytes(PhotoID.size)) else { throw WireError(.malformedBody, "photo id") }
        let owner = try reader.readString(limit: 64), receiver = try reader.readString(limit: 64)
        let views = try reader.readUInt32(), version = try reader.readUInt64()
        return Grant(photo: photo, owner: owner, receiver: receiver, views: views, version: version, signature: try reader.readBytes(64))
    }
}

/// The receiver's side of access rights, as a pure value: what it holds for
/// one photo, and the two things that change it (a grant, a view).
public struct ViewRights: Sendable, Equatable {
    public var viewsLeft: UInt32
    /// The version of the grant last applied.
    public var version: UInt64

    public init(viewsLeft: UInt32, version: UInt64) {
        self.viewsLeft = viewsLeft
        self.version = version
    }

    public enum GrantOutcome: Sendable, Equatable {
        /// Newer and the owner's: the receiver now has `views`.
        case applied(ViewRights)
        /// Not newer than what is held (a replay, a late duplicate): nothing changes.
        case stale
        /// Not the owner's signature, or not for this receiver or photo.
        case refused(String)
    }

    /// What `grant` does to `current` (nil: nothing held yet), for
    /// `receiver`, checked against the owner's key `ownerKey`.
    public static func apply(_ grant: Grant, to current: ViewRights?, photo: PhotoID, owner: String, receiver: String,
                             ownerKey: [UInt8]) -> GrantOutcome {
        guard grant.photo == photo, grant.owner == owner, grant.receiver == receiver else {
            return .refused("a grant for another photo or user")
        }
        guard grant.views <= PeerLimits.maxViews else { return .refused("a grant of \(grant.views) views") }
        if let current, grant.version <= current.version { return .stale }
        guard grant.isSigned(by: ownerKey) else { return .refused("the grant is not signed by \(owner)") }
        return .applied(ViewRights(viewsLeft: grant.views, version: grant.version))
    }

    /// One view: the rights after it, or `noViewsLeft`.
    public func viewed(photo: PhotoID, owner: String) throws(PeerError) -> ViewRights {
        guard viewsLeft > 0 else { throw PeerError(.noViewsLeft, "no views left for \(photo) (ask \(owner) for more)") }
        return ViewRights(viewsLeft: viewsLeft - 1, version: version)
    }
}
