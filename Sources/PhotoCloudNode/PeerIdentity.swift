import Crypto
import Foundation
import PhotoCloudProtocol

/// A user's keys: Ed25519 to sign (directory records, later grants) and X25519
/// to agree on keys (photos sealed for this user). Kept in
/// `HOME/USER/identity.key` (owner-only): the two 32-byte private keys.
public struct PeerIdentity: Sendable {
    public let user: String
    public let signing: Curve25519.Signing.PrivateKey
    public let agreement: Curve25519.KeyAgreement.PrivateKey

    public static let fileName = "identity.key"

    /// The user's keys from `home`, made and saved on first use. The name is
    /// checked before it becomes part of a path; a key file others can read
    /// is refused, as ssh refuses such a key.
    public static func loadOrCreate(user: String, home: String) throws -> PeerIdentity {
        guard Directory.Record.isValidName(user) else {
            throw NodeError(.io, "\"\(user.prefix(40))\" is not a valid user name (1-32 of a-z 0-9 - _ .)")
        }
        let folder = (home as NSString).appendingPathComponent(user)
        let path = (folder as NSString).appendingPathComponent(fileName)
        if FileManager.default.fileExists(atPath: path) {
            let bytes = try PrivateFile.read(path, what: "\(user)'s key file", limit: 1_024)
            guard bytes.count == 64,
                  let signing = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes[0..<32]),
                  let agreement = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes[32..<64]) else {
                throw NodeError(.io, "\(path) is damaged (expected two 32-byte keys); without it \(user)'s name cannot be used from here")
            }
            return PeerIdentity(user: user, signing: signing, agreement: agreement)
        }
        let identity = PeerIdentity(user: user, signing: .init(), agreement: .init())
        try PrivateFile.write(Array(identity.signing.rawRepresentation) + Array(identity.agreement.rawRepresentation), to: path,
                              what: "\(user)'s keys")
        return identity
    }
}
