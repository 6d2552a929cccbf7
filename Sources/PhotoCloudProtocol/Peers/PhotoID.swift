import Crypto

/// A photo's name everywhere (album, inbox, requests, grants, mailbox): the
/// first 16 bytes of SHA-256 over its owner and its file, written as 32 hex
/// digits. Sharing the same file twice gives the same id; a receiver checks
/// that the bytes it opened are the ones the id names.
public struct PhotoID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let size = 16
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.bytes = bytes
    }

    /// Parses 32 hex digits (as printed).
    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == Self.size * 2, let bytes = Hex.decode(text) else { return nil }
        self.bytes = bytes
    }

    public static func of(owner: String, file: [UInt8]) -> PhotoID {
        var hash = SHA256()
        hash.update(data: Array("photocloud photo v1".utf8))
        var name: [UInt8] = []
        name.appendString(owner)
        hash.update(data: name)
        hash.update(data: file)
        return PhotoID(bytes: Array(Array(hash.finalize()).prefix(size)))!
    }

    public var description: String { Hex.encode(bytes) }
    public static func < (a: PhotoID, b: PhotoID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// Lower-case hexadecimal.
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out.append(digits[Int(byte >> 4)]); out.append(digits[Int(byte & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil unless every character is a hex digit and there is an even number.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
