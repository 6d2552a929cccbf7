import PhotoCloudProtocol

/// Every message decoder on a body: it decodes or throws a `WireError`
/// (never traps), and what decodes re-encodes to bytes that decode to the
/// same value, as the message of the type it was asked for.
public enum MessageRoundTrip {
    /// Every decoder on the same bytes: the decoder of each message type, the
    /// data objects of an encryption request and a client's query header.
    public static func checkEveryDecoder(_ body: ArraySlice<UInt8>) throws(FuzzViolation) {
        for type in MessageType.allCases { try check(type: type, body: body) }
        try roundTrip("data object", body, decode: { bytes throws(WireError) in try EncryptionObject.decode(Array(bytes)) },
                      encode: { $0.encoded() })
        try roundTrip("query header", body, decode: { bytes throws(WireError) in
            var reader = ByteReader(bytes)
            return try QueryHeader.read(&reader)   // a prefix of a message: what follows is the message's own
        }, encode: { query in
            var bytes: [UInt8] = []
            query.append(to: &bytes)
            return bytes
        })
    }

    /// The decoder a datagram of `type` goes to (the same switch as a node's).
    /// Exhaustive on purpose: a new message type does not compile until it has a check here.
    public static func check(type: MessageType, body: ArraySlice<UInt8>) throws(FuzzViolation) {
        switch type {
        case .ping, .pong:
            return   // diagnostics: any bytes, echoed unread
        case .addressCheck:
            try roundTrip("address check", body, decode: { bytes throws(WireError) in try AddressCheck.decode(bytes) }, encode: { $0.encoded() })
        case .ringHeartbeat, .ringToken, .ringTokenAck, .ringClaimed, .ringCompleted:
            try roundTrip("\(type)", body, decode: { bytes throws(WireError) in try RingMessage.decode(type: type, body: bytes) },
                          encode: { $0.encoded() }, type: { $0.type }, expected: type)
        case .offlineToken, .offlineTokenAck:
            try roundTrip("\(type)", body, decode: { bytes throws(WireError) in try OfflineToken.Message.decode(type: type, body: bytes) },
                          encode: { $0.encoded() }, type: { $0.type }, expected: type)
        case .statusRequest:
            try roundTrip("status request", body, decode: { bytes throws(WireError) in
                var reader = ByteReader(bytes)
                let query = try QueryHeader.read(&reader)
                try reader.expectEnd()
                return query
            }, encode: { query in
                var bytes: [UInt8] = []
                query.append(to: &bytes)
                return bytes
            })
        case .statusReply:
            try roundTrip("status reply", body, decode: { bytes throws(WireError) in
                let (nonce, status) = try ClusterStatus.decode(bytes)
                return NoncedStatus(nonce: nonce, status: status)
            }, encode: { $0.status.encoded(nonce: $0.nonce) })
        case .transferChunk, .transferAck, .transferEnd, .transferDone:
            try checkTransfer(type: type, body: body)
        case .encryptAnswer:
            try roundTrip("answer", body, decode: { bytes throws(WireError) in try EncryptionObject.decodeAnswer(bytes) }, encode: { $0.encoded() })
        case .encryptRequest, .encryptAccepted, .encryptRefused, .encryptAnswerReceived:
            try roundTrip("\(type)", body, decode: { bytes throws(WireError) in try EncryptionMessage.decode(type: type, body: bytes) },
                          encode: { $0.encoded() }, type: { $0.type }, expected: type)
        case .directoryRegister, .directoryRegistered, .whoRequest, .whoReply, .directorySyncRequest, .directorySync, .lookupRequest, .lookupReply:
            try roundTrip("\(type)", body, decode: { bytes throws(WireError) in try DirectoryMessage.decode(type: type, body: bytes) },
                          encode: { $0.encoded() }, type: { $0.type }, expected: type)
        case .peerMessage:
            try roundTrip("peer message", body, decode: { bytes throws(WireError) in try PeerEnvelope.decode(bytes) }, encode: { $0.encoded() })
        case .mailStore, .mailStatus, .mailFetch, .mailList, .mailFetchObject, .mailAcknowledge, .mailAcknowledged,
             .mailSyncRequest, .mailSyncList, .mailSyncFetch, .mailSyncItems, .mailSyncObject:
            try roundTrip("\(type)", body, decode: { bytes throws(WireError) in try MailMessage.decode(type: type, body: bytes) },
                          encode: { $0.encoded() }, type: { $0.type }, expected: type)
        }
    }

    /// A status reply's two parts, comparable.
    struct NoncedStatus: Equatable {
        var nonce: UInt64
        var status: ClusterStatus
    }

    /// The transfer messages, whose encoder has two more promises: `encodedSize`
    /// bounds the encoding, and the head and trailer sent as two pieces are the whole.
    static func checkTransfer(type: MessageType, body: ArraySlice<UInt8>) throws(FuzzViolation) {
        try roundTrip("\(type)", body, decode: { bytes throws(WireError) in try TransferMessage.decode(type: type, body: bytes) },
                      encode: { $0.encoded() }, type: { $0.type }, expected: type)
        guard let message = try? TransferMessage.decode(type: type, body: body) else { return }
        let encoded = message.encoded()
        try require(encoded.count <= message.encodedSize, .invariant,
                    "\(type): encodedSize \(message.encodedSize) is below the \(encoded.count) bytes encoded")
        var head: [UInt8] = []
        message.encodeHead(into: &head)
        try require(head + message.trailer == encoded, .inconsistent, "\(type): head and trailer differ from the whole encoding")
    }

    /// Decodes `body`; a refusal is fine (it is a typed error), a value must
    /// survive its encoder and decoder unchanged.
    static func roundTrip<Value: Equatable>(
        _ what: String, _ body: ArraySlice<UInt8>, decode: (ArraySlice<UInt8>) throws(WireError) -> Value, encode: (Value) -> [UInt8],
        type: ((Value) -> MessageType)? = nil, expected: MessageType? = nil
    ) throws(FuzzViolation) {
        let value: Value
        do { value = try decode(body) } catch { return }
        if let type, let expected {
            try require(type(value) == expected, .inconsistent, "\(what): the decoder made a \(type(value)) of \(hex(body))")
        }
        let bytes = encode(value)
        let again: Value
        do {
            again = try decode(bytes[...])
        } catch {
            throw FuzzViolation(.roundTrip, "\(what) decoded from \(hex(body)) to \(value), whose encoding \(hex(bytes[...])) is refused: \(error)")
        }
        try require(again == value, .roundTrip, "\(what) decoded from \(hex(body)) to \(value), re-encoded to \(hex(bytes[...])), decoded to \(again)")
    }

    /// The first bytes in hex, for a violation's message.
    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        let shown = bytes.prefix(96).map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        return bytes.count > 96 ? shown + "... (\(bytes.count) bytes)" : shown
    }
}
