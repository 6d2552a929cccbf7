import Crypto

/// What is hidden in a cover, in the keyed slot order:
///
///     header, 1 bit per slot, XORed with a key-derived mask (10 bytes):
///       magic "PCS" | version 1 | bits per channel | body length (u32 BE) | reserved 0
///     body, `bits` per slot:
///       nonce (12) | ChaCha20-Poly1305 ciphertext of the payload | tag (16)
///
/// The header is the AEAD's associated data, so the tag authenticates the
/// whole payload: a wrong key finds no magic, an altered image fails the tag.
enum PayloadFormat {
    static let magic: [UInt8] = Array("PCS".utf8)
    static let version: UInt8 = 1
    static let headerSize = 10
    static let headerSlots = headerSize * 8
    static let nonceSize = 12
    static let tagSize = 16
    static let overhead = nonceSize + tagSize

    static func header(bits: Int, bodyLength: Int) -> [UInt8] {
        var header = magic + [version, UInt8(bits)]
        let length = UInt32(bodyLength)
        header += [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
        header.append(0)
        return header
    }

    /// The bits per channel and body length an unmasked header announces, nil if it is not one.
    static func parse(header: [UInt8]) -> (bits: Int, bodyLength: Int)? {
        guard header.count == headerSize, Array(header[0..<3]) == magic, header[3] == version,
              (1...3).contains(header[4]), header[9] == 0 else { return nil }
        let length = header[5..<9].reduce(0) { $0 << 8 | Int($1) }
        guard length >= overhead else { return nil }
        return (Int(header[4]), length)
    }

    static func masked(_ header: [UInt8], with mask: [UInt8]) -> [UInt8] {
        zip(header, mask).map { $0 ^ $1 }
    }

    /// `nonce` (12 bytes) makes the result reproducible; without it a fresh random one is used.
    static func seal(_ payload: [UInt8], header: [UInt8], key: SymmetricKey, nonce: [UInt8]? = nil) throws(StegoError) -> [UInt8] {
        do {
            let nonce = try nonce.map { try ChaChaPoly.Nonce(data: $0) } ?? ChaChaPoly.Nonce()
            let box = try ChaChaPoly.seal(payload, using: key, nonce: nonce, authenticating: header)
            return Array(box.combined)
        } catch {
            throw StegoError(.invalidArgument, "cannot seal the payload: \(error)")
        }
    }

    static func open(_ body: [UInt8], header: [UInt8], key: SymmetricKey) throws(StegoError) -> [UInt8] {
        do {
            let box = try ChaChaPoly.SealedBox(combined: body)
            return Array(try ChaChaPoly.open(box, using: key, authenticating: header))
        } catch {
            throw StegoError(.damaged, "the hidden payload fails authentication: the image was altered after embedding")
        }
    }
}
