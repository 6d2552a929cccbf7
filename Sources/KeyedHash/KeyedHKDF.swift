import Crypto

/// HKDF-SHA256 (RFC 5869) over `KeyedMAC`: the salt's HMAC state is keyed
/// once and kept, the pseudorandom key's once per input, and each output
/// block copies it. swift-crypto's `HKDF` keys a fresh `HMAC` for the extract
/// and for every block, through its generic byte-by-byte pad path: deriving a
/// stego key (three outputs) that way was 8% of a loaded server's CPU and of
/// its clients' (every request embeds, every answer is checked, each with the
/// request's key). Tested against `HKDF<SHA256>`.
public struct KeyedHKDF: Sendable {
    /// HMAC keyed with the salt: the extract step of every input.
    private let salt: KeyedMAC

    public init(salt: [UInt8]) {
        self.salt = KeyedMAC(key: SymmetricKey(data: salt))
    }

    /// The expand step of one input keying material, ready for any number of outputs.
    public struct Expander: Sendable {
        private let prk: KeyedMAC

        init(prk: KeyedMAC) { self.prk = prk }

        /// `count` bytes (at most 255 blocks of 32) for `info`.
        public func expand(info: [UInt8], count: Int) -> [UInt8] {
            precondition(count >= 0 && count <= 255 * SHA256.byteCount, "HKDF-SHA256 gives at most 8,160 bytes")
            var output: [UInt8] = []
            output.reserveCapacity(count + SHA256.byteCount)
            var previous: [UInt8] = []
            var block: UInt8 = 1
            while output.count < count {
                var mac = prk
                mac.update(previous)
                mac.update(info)
                mac.update([block])
                previous = Array(mac.finalize())
                output.append(contentsOf: previous)
                block &+= 1
            }
            return Array(output.prefix(count))
        }
    }

    /// Extract: the pseudorandom key of `inputKeyMaterial` under this salt.
    public func extract(_ inputKeyMaterial: [UInt8]) -> Expander {
        var mac = salt
        mac.update(inputKeyMaterial)
        let prk = mac.finalize().withUnsafeBytes { Array($0) }
        return Expander(prk: KeyedMAC(key: SymmetricKey(data: prk)))
    }
}
