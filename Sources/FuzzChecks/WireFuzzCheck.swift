import Crypto
import PhotoCloudProtocol

/// The `wire` fuzz target's checks, over one input read three ways:
///
/// 1. as a datagram received by a server of the cluster (it knows the cluster
///    secret and three servers' public keys): `Wire.decodeFrame` decodes it or
///    throws a `WireError`; it decodes the same from a slice inside a larger
///    buffer; a decoded open or cluster datagram re-encodes byte for byte, a
///    signed one to a datagram that decodes to the same envelope; and its
///    payload goes to the decoder of its type (`MessageRoundTrip`);
/// 2. as `[type, scheme, sender]` and a payload, framed with a right tag
///    (the fuzzer cannot make a CRC, an HMAC or a signature), which must
///    decode back to the same envelope before its payload goes to the
///    decoder of its type: this is how mutations of bodies reach the decoders
///    through the framing;
/// 3. as a body, given to every message decoder directly.
public enum WireFuzzCheck {
    public static let clusterSecret = [UInt8](repeating: 0x5C, count: 32)
    /// A client's session key (`AuthScheme.session`), known here too.
    public static let sessionKey = SymmetricKey(data: [UInt8](repeating: 0x3E, count: 32))
    /// The servers whose keys are known (each signs as itself); 0 is a stranger.
    public static let serverIDs: [UInt64] = [1, 2, 3]

    static let signingKeys: [UInt64: Curve25519.Signing.PrivateKey] = Dictionary(uniqueKeysWithValues: serverIDs.map { id in
        (id, key(seed: UInt8(id)))
    })

    /// What a server of the cluster knows: the secret, every server's public key; it signs as server 1.
    public static let keys = keys(signingAs: 1)

    /// The same knowledge, signing as `server` (a stranger signs with a key nobody published).
    public static func keys(signingAs server: UInt64) -> WireKeys {
        WireKeys(clusterSecret: clusterSecret, signing: signingKeys[server] ?? key(seed: 0xEE),
                 servers: signingKeys.mapValues { $0.publicKey }, session: sessionKey)
    }

    public static func check(_ input: [UInt8]) throws(FuzzViolation) {
        try checkDatagram(input)
        try checkSealed(input)
        try MessageRoundTrip.checkEveryDecoder(input[...])
    }

    /// The input as a received datagram.
    static func checkDatagram(_ bytes: [UInt8]) throws(FuzzViolation) {
        let direct = decode(bytes[...])
        // As a slice of a reused receive buffer: the offsets are from the slice's start.
        let buffer: [UInt8] = [0xA5, 0x5A, 0x00] + bytes + [0xFF]
        let inPlace = decode(buffer[3..<(3 + bytes.count)])
        switch (direct, inPlace) {
        case (.success(let a), .success(let b)):
            try require(a == b, .inconsistent, "a datagram decodes to \(a), and inside a larger buffer to \(b)")
        case (.failure(let a), .failure(let b)):
            try require(a == b, .inconsistent, "a datagram is refused with \"\(a)\", and inside a larger buffer with \"\(b)\"")
        default:
            throw FuzzViolation(.inconsistent, "a datagram decodes one way alone and another inside a larger buffer: \(direct) vs \(inPlace)")
        }
        guard case .success(let envelope) = direct else { return }
        let again: [UInt8]
        do {
            again = try Wire.encode(envelope, keys: keys(signingAs: envelope.sender))
        } catch {
            throw FuzzViolation(.roundTrip, "a decoded datagram \(envelope) cannot be encoded again: \(error)")
        }
        if envelope.auth != .signed {
            try require(again == bytes, .roundTrip, "a decoded \(envelope.auth) datagram re-encodes to other bytes")
        }
        try require(decode(again[...]) == .success(envelope), .roundTrip, "a decoded datagram re-encodes to one that decodes otherwise")
        try MessageRoundTrip.check(type: envelope.type, body: envelope.payload[...])
    }

    /// The input as what a node frames: `[type, scheme, sender]` then the payload.
    static func checkSealed(_ input: [UInt8]) throws(FuzzViolation) {
        guard input.count >= 3 else { return }
        let type = MessageType.allCases[Int(input[0]) % MessageType.allCases.count]
        let auth = [AuthScheme.open, .cluster, .signed, .session][Int(input[1]) % 4]
        let sender = UInt64(input[2] % 4)
        let room = auth == .signed ? Wire.maxPayload - Wire.signatureSize : Wire.maxPayload
        let envelope = Envelope(type: type, sender: sender, boot: 9, counter: 1, echo: 0, auth: auth, payload: Array(input.dropFirst(3).prefix(room)))
        let bytes: [UInt8]
        do {
            bytes = try Wire.encode(envelope, keys: keys(signingAs: sender))
        } catch {
            throw FuzzViolation(.invariant, "a \(auth) datagram of \(envelope.payload.count) payload bytes cannot be encoded: \(error)")
        }
        let decoded = decode(bytes[...])
        if auth == .signed && signingKeys[sender] == nil {
            // Signed by a server this node has no key for.
            guard case .failure(let error) = decoded, error.code == .missingKey else {
                throw FuzzViolation(.invariant, "a datagram signed as unknown server \(sender) is not refused for its missing key: \(decoded)")
            }
            return
        }
        try require(decoded == .success(envelope), .roundTrip, "a \(auth) \(type) datagram made here decodes to \(decoded)")
        try MessageRoundTrip.check(type: type, body: envelope.payload[...])
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> Result<Envelope, WireError> {
        Result { () throws(WireError) in
            let frame = try Wire.decodeFrame(bytes, keys: keys)
            return Envelope(type: frame.type, sender: frame.sender, boot: frame.boot, counter: frame.counter, echo: frame.echo,
                            auth: frame.auth, payload: Array(frame.payload))
        }
    }

    /// A fixed key (the fuzz targets and the tests must agree on it).
    static func key(seed: UInt8) -> Curve25519.Signing.PrivateKey {
        do {
            return try Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](repeating: seed, count: 32))
        } catch {
            preconditionFailure("32 bytes are an Ed25519 seed: \(error)")
        }
    }
}
