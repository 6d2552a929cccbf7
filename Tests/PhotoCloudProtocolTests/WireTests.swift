import Crypto
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

@Suite("Wire framing")
struct WireTests {
    static let secret = [UInt8](repeating: 7, count: 32)
    static let serverKey = Curve25519.Signing.PrivateKey()
    /// Server 0x0102... signs with `serverKey`; everyone knows its public key.
    static let keys = WireKeys(clusterSecret: secret, signing: serverKey, servers: [0x0102_0304_0506_0708: serverKey.publicKey],
                               session: SymmetricKey(data: [UInt8](repeating: 3, count: 32)))

    static func sample(_ size: Int, auth: AuthScheme = .open) -> Envelope {
        Envelope(type: .ping, sender: 0x0102_0304_0506_0708, boot: 77, counter: 99, echo: 5, auth: auth,
                 payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 * 31) })
    }

    @Test("round trips", arguments: [0, 1, 44, 1_400, 60_000, Wire.maxPayload - Wire.signatureSize])
    func roundTrip(size: Int) throws {
        for auth in [AuthScheme.open, .cluster, .signed, .session] {
            let envelope = Self.sample(size, auth: auth)
            let bytes = try Wire.encode(envelope, keys: Self.keys)
            #expect(bytes.count == Wire.headerSize + size + (auth == .signed ? Wire.signatureSize : 0))
            #expect(try Wire.decode(bytes, keys: Self.keys) == envelope)
        }
    }

    @Test func signedDatagramsAreCheckedAgainstTheSendersPublishedKey() throws {
        let bytes = try Wire.encode(Self.sample(40, auth: .signed), keys: Self.keys)
        // A client knows only the public key: it verifies, and cannot sign.
        let client = WireKeys(servers: [0x0102_0304_0506_0708: Self.serverKey.publicKey])
        #expect(try Wire.decode(bytes, keys: client).payload == Self.sample(40).payload)
        #expect { try Wire.encode(Self.sample(4, auth: .signed), keys: client) } throws: { ($0 as? WireError)?.code == .missingKey }
        // Another server's key, or none for this sender, is refused.
        let stranger = WireKeys(servers: [0x0102_0304_0506_0708: Curve25519.Signing.PrivateKey().publicKey])
        #expect { try Wire.decode(bytes, keys: stranger) } throws: { ($0 as? WireError)?.code == .badTag }
        #expect { try Wire.decode(bytes, keys: WireKeys()) } throws: { ($0 as? WireError)?.code == .missingKey }
        // Someone who re-frames the body under the same sender id, with a fresh CRC, cannot make the signature.
        let forger = WireKeys(signing: Curve25519.Signing.PrivateKey())
        let forged = try Wire.encode(Self.sample(40, auth: .signed), keys: forger)
        #expect { try Wire.decode(forged, keys: client) } throws: { ($0 as? WireError)?.code == .badTag }
        // Too short to hold a signature.
        var short = try Wire.encode(Envelope(type: .pong, sender: 1, auth: .open, payload: [1, 2]), keys: client)
        short[4] = AuthScheme.signed.rawValue
        #expect(throws: WireError.self) { try Wire.decode(short, keys: client) }
    }

    @Test func sessionTagsAreMadeOnlyByTheClientAndTheCloud() throws {
        let cloud = Curve25519.KeyAgreement.PrivateKey(), client = Curve25519.KeyAgreement.PrivateKey()
        let clientSide = try SessionKey.client(client, cluster: cloud.publicKey)
        let serverSide = try SessionKey.server(cloud, client: Array(client.publicKey.rawRepresentation))
        #expect(clientSide == serverSide)
        let server = WireKeys().with(session: serverSide)
        let bytes = try Wire.encode(Self.sample(30, auth: .session), keys: server)
        #expect(try Wire.decode(bytes, keys: WireKeys().with(session: clientSide)).payload == Self.sample(30).payload)
        // Another client's session, or none, cannot read it as authentic; a stranger cannot make one.
        let other = try SessionKey.client(Curve25519.KeyAgreement.PrivateKey(), cluster: cloud.publicKey)
        #expect { try Wire.decode(bytes, keys: WireKeys().with(session: other)) } throws: { ($0 as? WireError)?.code == .badTag }
        #expect { try Wire.decode(bytes, keys: WireKeys()) } throws: { ($0 as? WireError)?.code == .missingKey }
        let guess = try SessionKey.client(client, cluster: Curve25519.KeyAgreement.PrivateKey().publicKey)
        let forged = try Wire.encode(Self.sample(30, auth: .session), keys: WireKeys().with(session: guess))
        #expect { try Wire.decode(forged, keys: WireKeys().with(session: clientSide)) } throws: { ($0 as? WireError)?.code == .badTag }
    }

    @Test func refusesOversizePayloads() {
        #expect { try Wire.encode(Self.sample(Wire.maxPayload + 1), keys: Self.keys) } throws: { ($0 as? WireError)?.code == .tooLarge }
    }

    @Test func everyTruncationIsATypedError() throws {
        let bytes = try Wire.encode(Self.sample(100), keys: Self.keys)
        for length in 0..<bytes.count {
            #expect(throws: WireError.self) { try Wire.decode(Array(bytes.prefix(length)), keys: Self.keys) }
        }
    }

    @Test("every single-byte change is refused", arguments: [AuthScheme.open, .cluster, .signed, .session])
    func everySingleByteChangeIsRefused(auth: AuthScheme) throws {
        let bytes = try Wire.encode(Self.sample(64, auth: auth), keys: Self.keys)
        for index in bytes.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = bytes
                damaged[index] ^= flip
                #expect(throws: WireError.self) { try Wire.decode(damaged, keys: Self.keys) }
            }
        }
    }

    @Test func decodesASliceOfALargerBuffer() throws {
        let bytes = try Wire.encode(Self.sample(300), keys: Self.keys)
        let buffer = [UInt8](repeating: 0xAA, count: 17) + bytes + [UInt8](repeating: 0x55, count: 40)
        let frame = try Wire.decodeFrame(buffer[17..<(17 + bytes.count)], keys: Self.keys)
        #expect(Array(frame.payload) == Self.sample(300).payload)
        #expect(frame.sender == 0x0102_0304_0506_0708 && frame.boot == 77 && frame.counter == 99 && frame.echo == 5 && frame.type == .ping)
    }

    @Test func encodingIntoAReusedBufferReplacesItsContents() throws {
        var buffer = [UInt8](repeating: 9, count: 5_000)
        try Wire.encode(into: &buffer, header: .init(type: .pong, sender: 5, boot: 1, counter: 6), keys: Self.keys, writePayload: { $0.append(contentsOf: [1, 2, 3]) })
        #expect(buffer.count == Wire.headerSize + 3)
        #expect(try Wire.decode(buffer, keys: Self.keys) == Envelope(type: .pong, sender: 5, boot: 1, counter: 6, payload: [1, 2, 3]))
    }

    @Test func specificRefusals() throws {
        let bytes = try Wire.encode(Self.sample(10), keys: Self.keys)
        func code(_ mutate: (inout [UInt8]) -> Void) -> WireError.Code? {
            var copy = bytes
            mutate(&copy)
            do { _ = try Wire.decode(copy, keys: Self.keys); return nil } catch { return error.code }
        }
        #expect(code { $0[0] = 0 } == .badMagic)
        #expect(code { $0[2] = 9 } == .unsupportedVersion)
        #expect(code { $0[3] = 0xEE } == .unknownType)
        #expect(code { $0[4] = 7 } == .unknownAuthScheme)
        #expect(code { $0[6] = 1 } == .reservedBitsSet)
        #expect(code { $0.append(0) } == .lengthMismatch)
        #expect(code { $0[43] ^= 1 } == .lengthMismatch)
        #expect(code { $0[40] ^= 0x80 } == .lengthMismatch, "a length of 2^31 and more, compared wide")
        #expect(code { $0[46] ^= 1 } == .badTag)
        #expect(code { $0[20] ^= 1 } == .badTag, "the boot is covered by the tag")
        #expect(code { $0[$0.count - 1] ^= 1 } == .badTag)
    }

    @Test func clusterTrafficNeedsTheSecret() throws {
        let bytes = try Wire.encode(Self.sample(8, auth: .cluster), keys: Self.keys)
        #expect { try Wire.decode(bytes, keys: WireKeys()) } throws: { ($0 as? WireError)?.code == .missingKey }
        let other = WireKeys(clusterSecret: [UInt8](repeating: 8, count: 32))
        #expect { try Wire.decode(bytes, keys: other) } throws: { ($0 as? WireError)?.code == .badTag }
        #expect { try Wire.encode(Self.sample(8, auth: .cluster), keys: WireKeys()) } throws: { ($0 as? WireError)?.code == .missingKey }
    }

    @Test("random bytes decode or fail, never trap", arguments: [UInt64(1), 2, 3, 4])
    func randomBytes(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let valid = (try? Wire.encode(Self.sample(32), keys: Self.keys)) ?? []
        for round in 0..<5_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...120, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                bytes = valid   // a valid header with random damage
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            _ = try? Wire.decode(bytes, keys: Self.keys)
        }
    }
}

@Suite("Byte coding")
struct ByteCodingTests {
    @Test func roundTripsFields() throws {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(UInt8(1))
        bytes.appendBigEndian(UInt16(0xBEEF))
        bytes.appendBigEndian(UInt32(0xDEAD_BEEF))
        bytes.appendBigEndian(UInt64.max - 1)
        bytes.appendString("alice")
        bytes.appendLengthPrefixed([9, 8, 7])
        var reader = ByteReader(bytes)
        #expect(try reader.readUInt8() == 1)
        #expect(try reader.readUInt16() == 0xBEEF)
        #expect(try reader.readUInt32() == 0xDEAD_BEEF)
        #expect(try reader.readUInt64() == UInt64.max - 1)
        #expect(try reader.readString() == "alice")
        #expect(try reader.readLengthPrefixed() == [9, 8, 7])
        try reader.expectEnd()
    }

    @Test func refusesLengthsBeyondTheData() {
        var reader = ByteReader([0xFF, 0xFF, 1, 2])
        #expect { try reader.readLengthPrefixed() } throws: { ($0 as? WireError)?.code == .truncated }
        var limited = ByteReader([0, 5, 1, 2, 3, 4, 5])
        #expect { try limited.readLengthPrefixed(limit: 4) } throws: { ($0 as? WireError)?.code == .malformedBody }
        var invalid = ByteReader([0, 2, 0xC3, 0x28])
        #expect { try invalid.readString() } throws: { ($0 as? WireError)?.code == .malformedBody }
        let trailing = ByteReader([1])
        #expect(throws: WireError.self) { try trailing.expectEnd() }
    }
}

@Suite("Session codes from the keyed state")
struct SessionCodeTests {
    @Test func theKeyedStateGivesHMACSHA256AndRefusesAnyOtherCode() {
        let key = SymmetricKey(size: .bits256)
        let keys = WireKeys().with(session: key)
        for length in [0, 1, 63, 64, 65, 2_000] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let expected = Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
            #expect(keys.sessionCode(for: bytes) == expected)
            // The state is copied, not consumed: the same bytes again give the same code.
            #expect(keys.sessionCode(for: bytes) == expected)
            #expect(keys.isValidSessionCode(expected, for: bytes))
            var wrong = expected
            wrong[length % wrong.count] ^= 1
            #expect(!keys.isValidSessionCode(wrong, for: bytes))
            #expect(!keys.isValidSessionCode(Array(expected.prefix(16)), for: bytes))
        }
        #expect(WireKeys().sessionCode(for: [1]) == nil)
        #expect(!WireKeys().isValidSessionCode([UInt8](repeating: 0, count: 32), for: [1]))
    }
}
