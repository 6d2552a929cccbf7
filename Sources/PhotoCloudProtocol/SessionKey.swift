import Crypto

/// The key a client and the cloud share for the answers to its requests
/// (`AuthScheme.session`), as the Noise NK pattern makes one: the client
/// makes an X25519 key for itself (per process), sends its public half in
/// every request, and combines its private half with the cluster's agreement
/// key, whose public half the cluster file publishes; every server derives
/// the same key from the cluster's private half (from the cluster secret) and
/// the client's public key. Nobody else can make it: an answer tagged with it
/// comes from a server of the cloud (the tag covers the sender id) and is
/// meant for this client. A server derives a client's key once and keeps it.
public enum SessionKey {
    static let salt = Array("photocloud session v1".utf8)

    /// The client's side.
    public static func client(_ own: Curve25519.KeyAgreement.PrivateKey, cluster: Curve25519.KeyAgreement.PublicKey) throws -> SymmetricKey {
        derive(try own.sharedSecretFromKeyAgreement(with: cluster), client: Array(own.publicKey.rawRepresentation))
    }

    /// The servers' side, from the client's public key as its request carried it.
    public static func server(_ cluster: Curve25519.KeyAgreement.PrivateKey, client: [UInt8]) throws -> SymmetricKey {
        let key = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: client)
        return derive(try cluster.sharedSecretFromKeyAgreement(with: key), client: client)
    }

    private static func derive(_ shared: SharedSecret, client: [UInt8]) -> SymmetricKey {
        shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: salt, sharedInfo: client, outputByteCount: 32)
    }
}
