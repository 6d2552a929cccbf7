import Crypto
import Foundation
import PNGCodec

/// A user's keys: Ed25519 to sign (directory records, later grants) and X25519
/// to agree on keys (photos sealed for this user). Kept in
/// `HOME/USER/identity.key` (owner-only): the two 32-byte private keys.
public struct PeerIdentity: Sendable {
    public let user: String
    public let signing: Curve25519.Signing.PrivateKey
    public let agreement: Curve25519.KeyAgreement.PrivateKey

    public static let fileName = "identity.key"

    /// The user's keys from `home`, made and saved on first use.
    public static func loadOrCreate(user: String, home: String) throws -> PeerIdentity {
        let folder = (home as NSString).appendingPathComponent(user)
        let path = (folder as NSString).appendingPathComponent(fileName)
        if FileManager.default.fileExists(atPath: path) {
            let bytes: [UInt8]
            do { bytes = try FileBytes.read(path, limit: 1_024) } catch { throw NodeError(.io, "cannot read \(path): \(error.message)") }
            guard bytes.count == 64,
                  let signing = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes[0..<32]),
                  let agreement = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes[32..<64]) else {
                throw NodeError(.io, "\(path) is damaged (expected two 32-byte keys); without it \(user)'s name cannot be used from here")
            }
            return PeerIdentity(user: user, signing: signing, agreement: agreement)
        }
        let identity = PeerIdentity(user: user, signing: .init(), agreement: .init())
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileBytes.writeAtomically(Array(identity.signing.rawRepresentation) + Array(identity.agreement.rawRepresentation), to: path, mode: 0o600)
        } catch let error as PNGError {
            throw NodeError(.io, "cannot save \(user)'s keys in \(path): \(error.message)")
        } catch {
            throw NodeError(.io, "cannot save \(user)'s keys in \(folder): \(error.localizedDescription)")
        }
        return identity
    }
}
