import Crypto
import KeyedHash

/// Address validation, as QUIC's (RFC 9000 section 8) and DNS cookies: a node
/// never sends an address more than three times what it received from it
/// until that address has shown it receives, by echoing a cookie that only
/// reached it. Cookies are stateless (a MAC of the address and a time
/// bucket, under a key of this process), so validating costs no memory.
public struct AddressCookies: Sendable {
    public static let size = 16
    /// A cookie is good for one to two buckets of this length.
    public static let bucket = Duration.seconds(60)
    /// Anything may be answered with up to this many times its own size.
    public static let amplificationFactor = 3

    private let mac: KeyedMAC

    public init(key: [UInt8]) { mac = KeyedMAC(key: SymmetricKey(data: key)) }

    /// A cookie for `address` (its bytes, `SocketAddress.bytes`).
    public func make(for address: [UInt8], now: Instant) -> [UInt8] {
        cookie(address, bucket: Self.bucketNumber(now))
    }

    public func isValid(_ cookie: [UInt8], for address: [UInt8], now: Instant) -> Bool {
        guard cookie.count == Self.size else { return false }
        let current = Self.bucketNumber(now)
        var reader = ByteReader(cookie)
        guard let bucket = try? reader.readUInt32(), bucket == current || bucket &+ 1 == current else { return false }
        let expected = self.cookie(address, bucket: bucket)
        var difference: UInt8 = 0
        for (a, b) in zip(expected, cookie) { difference |= a ^ b }
        return difference == 0
    }

    /// Whether `reply` bytes may go to an address that sent `request` bytes.
    public static func allows(reply: Int, request: Int, validated: Bool) -> Bool {
        validated || reply <= amplificationFactor * request
    }

    private func cookie(_ address: [UInt8], bucket: UInt32) -> [UInt8] {
        var mac = self.mac
        mac.update(bucket.bigEndianBytes)
        mac.update(address)
        return bucket.bigEndianBytes + Array(mac.finalize()).prefix(Self.size - 4)
    }

    private static func bucketNumber(_ now: Instant) -> UInt32 {
        UInt32(truncatingIfNeeded: now.nanoseconds / bucket.nanoseconds)
    }
}

/// What a client's query carries before its own fields (`status`, `who`): a
/// nonce that the answer repeats (so a replayed or stale answer does not
/// match), and the server's cookie, once it has one.
public struct QueryHeader: Sendable, Equatable {
    public var nonce: UInt64
    public var cookie: [UInt8]

    public init(nonce: UInt64, cookie: [UInt8] = []) {
        self.nonce = nonce
        self.cookie = cookie
    }

    public func append(to bytes: inout [UInt8]) {
        bytes.appendBigEndian(nonce)
        bytes.append(UInt8(cookie.count))
        bytes.append(contentsOf: cookie)
    }

    public static func read(_ reader: inout ByteReader) throws(WireError) -> QueryHeader {
        let nonce = try reader.readUInt64()
        let length = Int(try reader.readUInt8())
        guard length == 0 || length == AddressCookies.size else { throw WireError(.malformedBody, "a cookie of \(length) bytes") }
        return QueryHeader(nonce: nonce, cookie: try reader.readBytes(length))
    }
}

/// Server -> client (`addressCheck`): the answer to this query is larger than
/// three times the query; ask again with this cookie. Also sent to the data
/// endpoint a small encryption request names, with a cookie for that
/// endpoint (`EncryptionMessage.Request.cookie`).
public struct AddressCheck: Sendable, Equatable {
    public var nonce: UInt64
    public var cookie: [UInt8]

    public init(nonce: UInt64, cookie: [UInt8]) {
        self.nonce = nonce
        self.cookie = cookie
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        append(to: &bytes)
        return bytes
    }

    public func append(to bytes: inout [UInt8]) {
        QueryHeader(nonce: nonce, cookie: cookie).append(to: &bytes)
    }

    /// The body's size: nonce, cookie length, cookie.
    public static let size = 8 + 1 + AddressCookies.size

    public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> AddressCheck {
        var reader = ByteReader(body)
        let header = try QueryHeader.read(&reader)
        guard header.cookie.count == AddressCookies.size else { throw WireError(.malformedBody, "an address check without a cookie") }
        try reader.expectEnd()
        return AddressCheck(nonce: header.nonce, cookie: header.cookie)
    }
}
