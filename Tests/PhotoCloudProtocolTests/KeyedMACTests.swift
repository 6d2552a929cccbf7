import Crypto
import KeyedHash
import PhotoCloudProtocol
import Testing

@Suite("KeyedMAC is HMAC-SHA256, KeyedHKDF is HKDF-SHA256")
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

    @Test func keyedHKDFGivesSwiftCryptosHKDFBytes() {
        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        for saltLength in [0, 19, 64, 100] {
            let salt = random(saltLength)
            let hkdf = KeyedHKDF(salt: salt)
            for materialLength in [1, 16, 32, 65] {
                let material = random(materialLength)
                let expander = hkdf.extract(material)
                for (info, count) in [("slot order", 32), ("header mask", 12), ("seal", 32), ("", 1), ("long", 100), ("x", 8_160)] {
                    let reference = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: material), salt: salt,
                                                           info: Array(info.utf8), outputByteCount: count).withUnsafeBytes { Array($0) }
                    #expect(expander.expand(info: Array(info.utf8), count: count) == reference,
                            "salt \(saltLength), material \(materialLength), info \(info), \(count) bytes")
                }
            }
        }
    }

    /// RFC 5869, test case 1.
    @Test func rfc5869Vector() {
        let material = [UInt8](repeating: 0x0B, count: 22)
        let salt: [UInt8] = Array(0x00...0x0C)
        let info: [UInt8] = Array(0xF0...0xF9)
        #expect(hex(KeyedHKDF(salt: salt).extract(material).expand(info: info, count: 42))
                == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }
}

