import Crypto
import PhotoCloudProtocol
import Testing

@Suite("KeyedMAC is HMAC-SHA256")
struct KeyedMACTests {
    func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func rfc4231Vectors() {
        // Test cases 1, 2 and 6 (a key longer than the block).
        let cases: [(key: [UInt8], data: [UInt8], mac: String)] = [
            ([UInt8](repeating: 0x0B, count: 20), Array("Hi There".utf8),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xAA, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ]
        for (key, data, mac) in cases {
            var keyed = KeyedMAC(key: SymmetricKey(data: key))
            keyed.update(data)
            #expect(hex(keyed.finalize()) == mac)
        }
    }

    @Test func sameAsSwiftCryptosHMACForKeysAroundTheBlockAndMessagesInPieces() {
        var generator = SystemRandomNumberGenerator()
        for keyLength in [0, 1, 16, 32, 63, 64, 65, 200] {
            let key = SymmetricKey(data: (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &generator) })
            for length in [0, 1, 55, 56, 64, 100, 1_000] {
                let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                var keyed = KeyedMAC(key: key)
                // In two pieces, as a datagram's header and body are.
                let cut = length / 3
                Array(message[..<cut]).withUnsafeBytes { keyed.update($0) }
                keyed.update(Array(message[cut...]))
                let reference = HMAC<SHA256>.authenticationCode(for: message, using: key)
                #expect(Array(keyed.finalize()) == Array(reference), "key \(keyLength), message \(length)")
            }
        }
    }
}
