import Crypto
import KeyedHash
import Synchronization
import _CryptoExtras

/// The secret that decides where a payload hides and seals it: derived with
/// HKDF-SHA256 from raw key bytes, or from a passphrase stretched first by
/// scrypt (memory-hard: each guess at a passphrase costs an attacker 32 MiB
/// and tens of milliseconds, not one SHA-256 pass). Without it the positions
/// look random and the bits are ChaCha20-Poly1305 ciphertext.
public struct StegoKey: Sendable {
    /// Round keys of the slot permutation.
    let orderKeys: [UInt64]
    /// XORed over the header so that even its magic looks random.
    let headerMask: [UInt8]
    /// Seals the body.
    let sealKey: SymmetricKey

    static let salt = Array("photocloud stego v1".utf8)

    /// scrypt's parameters for passphrases: N = 2^15, r = 8, p = 1 (32 MiB,
    /// about 75 ms on one core here). The salt is fixed (an image carries no
    /// salt of its own: its header is masked by the key), so precomputed
    /// tables would be photocloud's own; docs/security.md says so.
    public static let scryptRounds = 1 << 15
    static let scryptSalt = Array("photocloud stego passphrase v1".utf8)

    /// A key from raw bytes (at least 16).
    public init(rawKey: [UInt8]) throws(StegoError) {
        guard rawKey.count >= 16 else {
            throw StegoError(.invalidArgument, "a raw stego key needs at least 16 bytes, got \(rawKey.count)")
        }
        self.init(deriving: rawKey)
    }

    /// A key from a passphrase (not empty), stretched by scrypt.
    public init(passphrase: String) throws(StegoError) {
        guard !passphrase.isEmpty else { throw StegoError(.invalidArgument, "the stego passphrase is empty") }
        self.init(deriving: try Self.stretch(passphrase))
    }

    /// Parses the command-line form: `hex:<hex digits>` for raw bytes, anything else a passphrase.
    public init(parsing text: String) throws(StegoError) {
        self.init(deriving: try Self.material(parsing: text))
    }

    /// The key material of the command-line form (checked as `init(parsing:)`
    /// checks it): what a client sends the cloud so that a server hides with
    /// the very key the receiver will extract with. A passphrase is stretched
    /// here, so the cloud never sees it.
    public static func material(parsing text: String) throws(StegoError) -> [UInt8] {
        if text.hasPrefix("hex:") {
            guard let bytes = Self.hexBytes(text.dropFirst(4)) else {
                throw StegoError(.invalidArgument, "the key after hex: is not an even number of hex digits")
            }
            guard bytes.count >= 16 else {
                throw StegoError(.invalidArgument, "a raw stego key needs at least 16 bytes, got \(bytes.count)")
            }
            return bytes
        }
        guard !text.isEmpty else { throw StegoError(.invalidArgument, "the stego passphrase is empty") }
        return try stretch(text)
    }

    /// scrypt of a passphrase (32 bytes), remembered for the process's life
    /// (a few at most): a key used again is not derived again.
    static func stretch(_ passphrase: String) throws(StegoError) -> [UInt8] {
        if let known = stretched.withLock({ $0[passphrase] }) { return known }
        let derived: [UInt8]
        do {
            derived = try KDF.Scrypt.deriveKey(from: Array(passphrase.utf8), salt: scryptSalt, outputByteCount: 32,
                                               rounds: scryptRounds, blockSize: 8, parallelism: 1).withUnsafeBytes { Array($0) }
        } catch {
            throw StegoError(.invalidArgument, "cannot derive a key from the passphrase: \(error)")
        }
        stretched.withLock { cache in
            if cache.count >= 16 { cache.removeAll() }
            cache[passphrase] = derived
        }
        return derived
    }

    private static let stretched = Mutex<[String: [UInt8]]>([:])

    /// A key from material that `material(parsing:)` produced (passphrase bytes or a raw key).
    public init(material bytes: [UInt8]) throws(StegoError) {
        guard !bytes.isEmpty else { throw StegoError(.invalidArgument, "the stego key is empty") }
        self.init(deriving: bytes)
    }

    /// HKDF-SHA256 under `salt`, its HMAC keyed once for every key this process derives.
    private static let hkdf = KeyedHKDF(salt: salt)

    private init(deriving material: [UInt8]) {
        // One extract, three expands (the bytes of `HKDF<SHA256>.deriveKey` for each label).
        let expander = Self.hkdf.extract(material)
        func derive(_ label: String, _ count: Int) -> [UInt8] { expander.expand(info: Array(label.utf8), count: count) }
        let order = derive("slot order", SlotPermutation.rounds * 8)
        orderKeys = (0..<SlotPermutation.rounds).map { round in
            order[round * 8..<round * 8 + 8].reduce(0) { $0 << 8 | UInt64($1) }
        }
        headerMask = derive("header mask", PayloadFormat.headerSize)
        sealKey = SymmetricKey(data: derive("seal", 32))
    }

    private static func hexBytes(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 48...57: return digit - 48
        case 97...102: return digit - 87
        case 65...70: return digit - 55
        default: return nil
        }
    }
}
