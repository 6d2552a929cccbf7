import AsyncUDP
import Crypto
import PNGCodec
import PhotoCloudProtocol
import Steganography

/// The encryption service of a server: carries out `EncryptionJobs`'
/// directives. Payloads arrive and answers leave on the data endpoint;
/// embedding runs on worker threads of its own, one per core.
extension ServerActor {
    func startDataEndpoint() {
        // Draw covers that are built on first use now, before the first request needs them.
        let covers = self.covers
        Task { await workers.run { _ = try? covers.library() } }
        let endpoint = data
        tasks.append(Task(executorPreference: data.loop) { [weak self] in
            await endpoint.start()
            for await delivery in endpoint.deliveries {
                guard let self else { return }
                await self.received(delivery)
            }
        })
    }

    private func received(_ delivery: TransferEndpoint.Delivery) {
        if mailbox({ $0.mailObjectArrived(delivery) }) { return }
        guard case .payload(let id, let payload)? = try? EncryptionObject.decode(delivery.bytes), delivery.transferID == id.payloadTransfer(to: self.id) else {
            logger.debug("server \(id) ignored a data object from \(delivery.from) that is not a payload")
            return
        }
        applyJobs(jobs.onPayload(id, payload, digest: Array(SHA256.hash(data: payload)), from: delivery.from))
    }

    func applyJobs(_ directives: [EncryptionJobs<SocketAddress>.Directive]) {
        for directive in directives {
            switch directive {
            case .notify(let client, let message):
                notify(message, to: client)
            case .expectPayload(let request, let bytes, let within):
                // Announced before the client hears `accepted` (the next directive): its first chunk finds it.
                data.expect(request.payloadTransfer(to: id), maxBytes: bytes, within: within)
            case .abandonPayload(let request):
                let endpoint = data, transfer = request.payloadTransfer(to: id)
                Task(executorPreference: data.loop) { await endpoint.abandon(transfer) }
            case .embed(let request, let payload):
                startEmbedding(request, payload)
            case .sendAnswer(let request, let png, let client):
                // `client` delivered the payload: a validated address. The proof says the answer is this server's.
                guard let proof = proof(of: request, png: png) else {
                    answerSent(request)   // cannot happen (a server always has its signing key); a retry tries again
                    continue
                }
                let object = EncryptionObject.result(request, server: id, proof: proof, png: png).encoded()
                if object.count <= EncryptionMessage.maxInlineAnswer {
                    sendInline(request, object, to: client)
                    continue
                }
                let endpoint = data, server = id
                Task(executorPreference: data.loop) { [weak self] in
                    _ = try? await endpoint.send(object, to: client, transferID: request.answerTransfer(from: server))
                    await self?.answerSent(request)
                }
            case .finished(let request):
                finished(request)
            case .resendAnswer(let request):
                applyInline(inlineAnswers.onRetry(request, now: now()))
            }
        }
    }

    private func answerSent(_ request: RequestID) {
        jobs.onAnswerSent(request)
    }

    /// An answer that fits one datagram goes whole, from the data endpoint
    /// (where a transfer would have come from), and is resent until the
    /// client says it arrived.
    private func sendInline(_ request: RequestID, _ object: [UInt8], to client: SocketAddress) {
        var datagram: [UInt8] = []
        datagram.reserveCapacity(Wire.headerSize + object.count)
        guard (try? Wire.encode(into: &datagram, header: origin.next(.encryptAnswer), keys: keys,
                                writePayload: { $0.append(contentsOf: object) })) != nil else {
            answerSent(request)
            return
        }
        applyInline(inlineAnswers.send(request, datagram: datagram, to: client, now: now()))
    }

    func applyInline(_ directives: [InlineAnswers<SocketAddress>.Directive]) {
        for directive in directives {
            switch directive {
            case .send(let datagram, let client):
                _ = try? data.socket.trySend(datagram, to: client)
            case .sendingEnded(let request):
                answerSent(request)
            }
        }
        if let next = inlineAnswers.nextDeadline { scheduleWake(next) }
    }

    /// Queued on the worker pool (one thread per core, first come first served).
    private func startEmbedding(_ request: EncryptionMessage.Request, _ payload: [UInt8]) {
        let covers = self.covers
        let workers = self.workers
        Task(executorPreference: loop) { [weak self] in
            let result = await workers.run { Self.embed(payload, for: request, covers: covers) }
            await self?.embedded(request.id, result)
        }
    }

    private func embedded(_ request: RequestID, _ result: Result<[UInt8], EncryptionJobs<SocketAddress>.EmbeddingFailure>) {
        if case .failure(let failure) = result { logger.notice("server \(id) refused request \(request): \(failure.message)") }
        applyJobs(jobs.onEmbedded(request, result))
    }

    /// The answer to a request: the same for the same request on any server
    /// with the same covers (cover, size and nonce all follow from the request).
    static func embed(_ payload: [UInt8], for request: EncryptionMessage.Request, covers source: CoverSource)
        -> Result<[UInt8], EncryptionJobs<SocketAddress>.EmbeddingFailure> {
        do {
            let covers = try source.library()
            let key = try StegoKey(material: request.key)
            let bits = Int(request.bitsPerChannel)
            let cover = try covers.cover(for: request.id, payloadBytes: payload.count, bitsPerChannel: bits)
            // Small images encode on one thread; large ones in a fixed number of
            // parts, so the bytes do not depend on this machine's core count.
            let parts = cover.image.height >= 256 ? 4 : 1
            let stego = StegoPNG(codec: PNGCodec(encoder: PNGEncoder(strategy: .rle, threads: parts, compressor: .libdeflate)), threads: parts)
            return .success(try stego.embed(payload, in: cover.image, key: key, bitsPerChannel: bits, nonce: nonce(for: request)))
        } catch let error as NodeError {
            return .failure(.init(error.message))
        } catch let error as StegoError {
            return .failure(.init("cannot hide the payload: \(error.message)"))
        } catch let error as PNGError {
            return .failure(.init("cannot encode the stego image: \(error.message)"))
        } catch {
            return .failure(.init("cannot hide the payload: \(error)"))
        }
    }

    /// The nonce of the answer to `request`: from the request alone (`AnswerDerivation`).
    static func nonce(for request: EncryptionMessage.Request) -> [UInt8] {
        AnswerDerivation.nonce(for: request.id, payloadDigest: request.payloadDigest, bytes: Steganographer.nonceBytes)
    }
}
