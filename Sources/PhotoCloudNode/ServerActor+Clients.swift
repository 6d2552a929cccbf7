import AsyncUDP
import Crypto
import PhotoCloudProtocol

/// What a server does for strangers (anyone who can reach its control port):
/// each datagram is charged to its source's rate; answers are authentic
/// (signed with the server's key, which the cluster file publishes, or, for
/// the encryption service, tagged with the client's session key), so a client
/// refuses a forged `accepted`, `registered` or status; they repeat the
/// client's nonce or request id, and are never more than three times the
/// datagram they answer unless the address has shown, with a cookie, that it
/// receives.
extension ServerActor {
    /// About the microseconds of loop work each message costs (rate units).
    static func cost(of type: MessageType) -> Double {
        switch type {
        case .directoryRegister: 100   // an Ed25519 verification, and a signature for the reply
        case .whoRequest: 60           // a page of names, and a signature
        case .lookupRequest: 50        // a record, and a signature
        case .statusRequest: 40
        case .encryptRequest: 15
        case .encryptAnswerReceived: 2
        case .mailStore, .mailFetch, .mailFetchObject, .mailAcknowledge: 100   // an Ed25519 verification, and a signed reply
        default: 5
        }
    }

    func handleClient(_ frame: Frame, bytes: Int, from address: SocketAddress) {
        // Charged to the host, not the socket: another port is free to open.
        guard limiter.allow(address.with(port: 0), cost: Self.cost(of: frame.type), now: now()) else {
            defences.rateLimited += 1
            return
        }
        do {
            switch frame.type {
            case .encryptRequest:
                guard case .request(let request) = try EncryptionMessage.decode(type: frame.type, body: frame.payload) else { return }
                onEncryptRequest(request, from: address)
            case .encryptAnswerReceived:
                // From the data endpoint the answer went to (anyone else's is ignored): only stops the resends,
                // which the client's own retry would start again.
                guard case .answerReceived(let received) = try EncryptionMessage.decode(type: frame.type, body: frame.payload),
                      received.server == id else { return }
                applyInline(inlineAnswers.onReceived(received.id, from: address))
            case .directoryRegister:
                guard case .register(let record) = try DirectoryMessage.decode(type: frame.type, body: frame.payload) else { return }
                directory { $0.register(record, requestBytes: bytes, from: address) }
            case .whoRequest:
                guard case .whoRequest(let query, let offset) = try DirectoryMessage.decode(type: frame.type, body: frame.payload) else { return }
                directory { $0.answerWho(query, offset: offset, requestBytes: bytes, from: address) }
            case .lookupRequest:
                guard case .lookupRequest(let query, let name) = try DirectoryMessage.decode(type: frame.type, body: frame.payload) else { return }
                directory { $0.answerLookup(query, name: name, requestBytes: bytes, from: address) }
            case .statusRequest:
                var reader = ByteReader(frame.payload)
                let query = try QueryHeader.read(&reader)
                try reader.expectEnd()
                let body = status().encoded(nonce: query.nonce)
                answer(.statusReply, body, query: query, requestBytes: bytes, to: address)
            case .mailStore, .mailFetch, .mailFetchObject, .mailAcknowledge:
                let message = try MailMessage.decode(type: frame.type, body: frame.payload)
                mailbox { $0.handleMail(message, requestBytes: bytes, from: address) }
            case .ping:
                // Diagnostics: the same bytes back, never larger than what came.
                sendFramed(origin.next(.pong), Array(frame.payload), auth: .open, to: address)
            default:
                return
            }
        } catch {
            logger.debug("refused a \(frame.type) from \(address): \(error)")
        }
    }

    private func onEncryptRequest(_ request: EncryptionMessage.Request, from address: SocketAddress) {
        guard rememberSession(of: request.clientKey, from: address) else { return }
        let data = address.with(port: request.dataPort)
        // An inline payload counts only with a cookie this server sent that very data endpoint.
        let validated = cookies.isValid(request.cookie, for: data.identityBytes, now: now())
        if !validated, Int(request.payloadBytes) <= EncryptionMessage.maxInlinePayload {
            sendDataCookie(for: request, to: data)
        }
        if let refusal = jobs.onRequest(request, from: address, data: data, dataValidated: validated && request.inline != nil) {
            applyJobs([refusal])
        } else if request.direct && allowDirect {
            applyJobs(jobs.onAccepted(request.id, now: now()))
        } else {
            let at = now(), requestID = request.id
            do { try apply(ring { $0.onRequest(requestID, now: at) }) } catch { logger.error("server \(id): \(error)") }
        }
    }

    /// A cookie for a small request's data endpoint, sent to that endpoint
    /// (smaller than the request, so it amplifies nothing): only the client
    /// that receives there can send it back, and its next small requests to
    /// this server carry their payload inline.
    private func sendDataCookie(for request: EncryptionMessage.Request, to data: SocketAddress) {
        guard let session = sessions[request.clientKey] else { return }
        let check = AddressCheck(nonce: request.id.number, cookie: cookies.make(for: data.identityBytes, now: now()))
        var bytes: [UInt8] = []
        guard (try? Wire.encode(into: &bytes, header: origin.next(.addressCheck), auth: .session, keys: session,
                                writePayload: { check.append(to: &$0) })) != nil else { return }
        _ = try? control.trySend(bytes, to: data)
    }

    /// The session key of a client (derived once per client key: an X25519
    /// exchange, charged to the source's rate); false if the rate does not
    /// allow it or the key is not one.
    private func rememberSession(of clientKey: [UInt8], from address: SocketAddress) -> Bool {
        if sessions[clientKey] != nil { return true }
        guard limiter.allow(address.with(port: 0), cost: 50, now: now()) else {
            defences.rateLimited += 1
            return false
        }
        guard let agreement, let key = try? SessionKey.server(agreement, client: clientKey) else { return false }
        sessions[clientKey] = keys.with(session: key)
        return true
    }

    /// The keys of the session of the client whose request `id` is.
    func session(of id: RequestID) -> WireKeys? { jobs.clientKey(of: id).flatMap { sessions[$0] } }

    /// What a server tells a client about its request: under the client's
    /// session key (signed if the server has none for it), never more than
    /// three times the request.
    func notify(_ message: EncryptionMessage, to client: SocketAddress) {
        let body = message.encoded()
        let requestBytes = Wire.headerSize + EncryptionMessage.Request.minimumBodySize
        guard let session = session(of: message.requestID) else {
            return sendSigned(message.type, body, to: client, requestBytes: requestBytes)
        }
        guard AddressCookies.allows(reply: Wire.headerSize + body.count, request: requestBytes, validated: false) else {
            defences.amplificationRefused += 1
            return
        }
        var bytes: [UInt8] = []
        guard (try? Wire.encode(into: &bytes, header: origin.next(message.type), auth: .session, keys: session,
                                writePayload: { $0.append(contentsOf: body) })) != nil else { return }
        _ = try? control.trySend(bytes, to: client)
    }

    /// The proof that an answer is this server's: under the client's session key, else signed.
    func proof(of id: RequestID, png: [UInt8]) -> EncryptionObject.AnswerProof? {
        let statement = EncryptionObject.statement(id, server: self.id, png: png)
        if let code = session(of: id)?.sessionCode(for: statement) {
            return .session(code)
        }
        return (try? keys.signing?.signature(for: statement)).map { .signature(Array($0)) }
    }

    /// A query's answer: whole if it is small or the asker holds a cookie of
    /// this server for its address, else an `addressCheck` with the cookie
    /// to ask again with (which is small).
    func answer(_ type: MessageType, _ body: [UInt8], query: QueryHeader, requestBytes: Int, to address: SocketAddress) {
        let validated = cookies.isValid(query.cookie, for: address.identityBytes, now: now())
        let size = Wire.headerSize + body.count + Wire.signatureSize
        if AddressCookies.allows(reply: size, request: requestBytes, validated: validated) {
            sendSigned(type, body, to: address, requestBytes: validated ? nil : requestBytes)
        } else {
            let check = AddressCheck(nonce: query.nonce, cookie: cookies.make(for: address.identityBytes, now: now()))
            sendSigned(.addressCheck, check.encoded(), to: address, requestBytes: requestBytes)
        }
    }

    /// A signed answer to a client. With `requestBytes` (the address is not
    /// validated), nothing over three times that is sent: the last guard
    /// against a server made into an amplifier.
    func sendSigned(_ type: MessageType, _ body: [UInt8], to address: SocketAddress, requestBytes: Int?) {
        if let requestBytes, !AddressCookies.allows(reply: Wire.headerSize + body.count + Wire.signatureSize, request: requestBytes, validated: false) {
            defences.amplificationRefused += 1
            logger.debug("server \(id): not sending a \(type) of \(body.count) bytes to \(address), which sent \(requestBytes)")
            return
        }
        sendFramed(origin.next(type), body, auth: .signed, to: address)
    }
}
