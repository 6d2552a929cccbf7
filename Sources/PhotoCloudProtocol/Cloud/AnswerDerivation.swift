import Crypto

/// What decides the bytes of an encryption answer besides the payload and the
/// covers: the cover drawn and the nonce, both from the request alone, never
/// from the server that serves it or from chance. So a request answered by
/// two servers (a takeover raced the first answer, both answers were lost and
/// both servers served the retries) is answered with the same bytes, and the
/// client can never hold two different results for one request. The server
/// (`ServerActor.embed`) and the simulation (`RingSimulation`) both use these.
public enum AnswerDerivation {
    /// Which of `covers` covers serves `request`.
    public static func coverIndex(for request: RequestID, covers: Int) -> Int {
        precondition(covers > 0, "a cover library has at least one cover")
        var digest = SHA256()
        digest.update(data: request.client.bigEndianBytes + request.number.bigEndianBytes)
        return Int(Array(digest.finalize()).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % UInt64(covers))
    }

    /// Unique per request and payload (its digest), so a key never seals two
    /// payloads under one nonce; repeatable, so a retry gets the same bytes.
    public static func nonce(for request: RequestID, payloadDigest: [UInt8], bytes: Int) -> [UInt8] {
        var hash = SHA256()
        hash.update(data: Array("photocloud answer nonce".utf8))
        hash.update(data: request.client.bigEndianBytes + request.number.bigEndianBytes)
        hash.update(data: payloadDigest)
        return Array(Array(hash.finalize()).prefix(bytes))
    }
}
