/// Reads big-endian integers and byte strings from a message body, checking
/// every length against what is present before taking it.
public struct ByteReader: Sendable {
    private let bytes: ArraySlice<UInt8>
    private var offset: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        offset = bytes.startIndex
    }

    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    public var remaining: Int { bytes.endIndex - offset }
    public var isAtEnd: Bool { remaining == 0 }

    public mutating func readUInt8() throws(WireError) -> UInt8 {
        try need(1, "a byte")
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt16() throws(WireError) -> UInt16 { UInt16(try readInteger(2, "a 16-bit integer")) }
    public mutating func readUInt32() throws(WireError) -> UInt32 { UInt32(try readInteger(4, "a 32-bit integer")) }
    public mutating func readUInt64() throws(WireError) -> UInt64 { try readInteger(8, "a 64-bit integer") }

    /// Exactly `count` bytes.
    public mutating func readBytes(_ count: Int) throws(WireError) -> [UInt8] {
        guard count >= 0 else { throw WireError(.malformedBody, "negative length") }
        try need(count, "\(count) bytes")
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A byte string with a 16-bit length in front, of at most `limit` bytes.
    public mutating func readLengthPrefixed(limit: Int = Int(UInt16.max)) throws(WireError) -> [UInt8] {
        let count = Int(try readUInt16())
        guard count <= limit else {
            throw WireError(.malformedBody, "field of \(count) bytes is longer than its limit of \(limit)")
        }
        return try readBytes(count)
    }

    /// A UTF-8 string with a 16-bit length in front.
    public mutating func readString(limit: Int = 1_024) throws(WireError) -> String {
        let raw = try readLengthPrefixed(limit: limit)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw WireError(.malformedBody, "field is not valid UTF-8")
        }
        return text
    }

    /// Refuses bytes left over after the last field.
    public func expectEnd() throws(WireError) {
        guard isAtEnd else { throw WireError(.malformedBody, "\(remaining) unexpected bytes after the message") }
    }

    private mutating func readInteger(_ size: Int, _ what: String) throws(WireError) -> UInt64 {
        try need(size, what)
        var value: UInt64 = 0
        for index in offset..<offset + size { value = value << 8 | UInt64(bytes[index]) }
        offset += size
        return value
    }

    private func need(_ count: Int, _ what: String) throws(WireError) {
        guard count <= remaining else {
            throw WireError(.truncated, "message ends early: expected \(what), \(remaining) bytes left")
        }
    }
}

extension Array where Element == UInt8 {
    public mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }

    /// Appends a byte string with a 16-bit length in front (at most 65535 bytes).
    public mutating func appendLengthPrefixed(_ bytes: [UInt8]) {
        precondition(bytes.count <= Int(UInt16.max), "length-prefixed field too long")
        appendBigEndian(UInt16(bytes.count))
        append(contentsOf: bytes)
    }

    public mutating func appendString(_ text: String) { appendLengthPrefixed(Array(text.utf8)) }

    /// Appends exactly `count` bytes: `bytes` cut or padded with zeros (a fixed-size field: a signature, a tag).
    public mutating func appendFixed(_ bytes: [UInt8], count: Int) {
        append(contentsOf: bytes.prefix(count))
        append(contentsOf: repeatElement(0, count: Swift.max(0, count - bytes.count)))
    }
}

extension FixedWidthInteger {
    /// The value's bytes, most significant first.
    public var bigEndianBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(self)
        return bytes
    }
}
