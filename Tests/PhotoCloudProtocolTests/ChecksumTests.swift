import AsyncUDP
import CChecksum
import PhotoCloudTestKit
import Testing

@Suite("CRC-32C")
struct ChecksumTests {
    static func crc(_ bytes: [UInt8], portable: Bool = false) -> UInt32 {
        bytes.withUnsafeBytes { portable ? cchecksum_crc32c_portable(0, $0.baseAddress, $0.count) : cchecksum_crc32c(0, $0.baseAddress, $0.count) }
    }

    @Test func knownVectors() {
        // RFC 3720 appendix B.4 and the usual check value.
        #expect(Self.crc(Array("123456789".utf8)) == 0xE306_9283)
        #expect(Self.crc([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(Self.crc([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(Self.crc(Array(0..<32)) == 0x46DD_794E)
        #expect(Self.crc([]) == 0)
    }

    // Lengths around three 4 KiB blocks exercise the interleaved chains and their joining.
    @Test("the instruction and the table agree", arguments: [0, 1, 7, 8, 9, 63, 1_000, 12_287, 12_288, 12_289, 24_583, 60_028, 65_507])
    func pathsAgree(length: Int) {
        var random = SeededRandom(seed: UInt64(length) + 1)
        let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        #expect(Self.crc(bytes) == Self.crc(bytes, portable: true))
    }

    @Test func continuesAcrossPieces() {
        let bytes = Array("photocloud open scheme".utf8)
        let first = bytes.withUnsafeBytes { cchecksum_crc32c(0, $0.baseAddress, 9) }
        let whole = bytes[9...].withUnsafeBytes { cchecksum_crc32c(first, $0.baseAddress, $0.count) }
        #expect(whole == Self.crc(bytes))
    }
}
