import AsyncUDP
import Crypto
import Synchronization
import PhotoCloudNode
import PhotoCloudProtocol
import PhotoCloudTestKit
import Testing

@Suite("Transfer endpoint over real loopback sockets")
struct TransferEndpointTests {
    static func object(_ count: Int, seed: UInt64) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        return random.bytes(count)
    }

    static func endpoints(faults: FaultProfile? = nil, admission: TransferAdmission<SocketAddress>.Limits = .init()) throws -> (TransferEndpoint, TransferEndpoint) {
        var ackFaults = faults
        ackFaults?.seed &+= 1
        let sender = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(receiveBufferSize: 1 << 20, faults: faults)))
        let receiver = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(receiveBufferSize: 4 << 20, faults: ackFaults)),
                                        admission: admission)
        return (sender, receiver)
    }

    @Test func deliversIntactThroughLossDuplicationAndReordering() async throws {
        let faults = FaultProfile(drop: 0.1, duplicate: 0.02, reorder: 0.05, seed: 11)
        let (sender, receiver) = try Self.endpoints(faults: faults)
        await sender.start()
        await receiver.start()
        let data = Self.object(3_000_000, seed: 1)
        receiver.expect(7, maxBytes: data.count, within: .seconds(30))
        let report = try await sender.send(data, to: receiver.socket.localAddress, transferID: 7, configuration: .init(chunkSize: 30_000))
        #expect(report.retransmittedChunks > 0)
        var iterator = receiver.deliveries.makeAsyncIterator()
        let delivery = try #require(await iterator.next())
        #expect(delivery.bytes == data)
        #expect(delivery.from == sender.socket.localAddress)
        await sender.close()
        await receiver.close()
    }

    @Test func bitsFlippedInFlightAreCaughtAndTheObjectStillArrivesIntact() async throws {
        // One datagram in twenty, both ways, has a bit flipped: the datagram check drops it, and it is resent.
        let faults = FaultProfile(corrupt: 0.05, seed: 12)
        let (sender, receiver) = try Self.endpoints(faults: faults)
        await sender.start()
        await receiver.start()
        let data = Self.object(2_000_000, seed: 3)
        receiver.expect(9, maxBytes: data.count, within: .seconds(30))
        let report = try await sender.send(data, to: receiver.socket.localAddress, transferID: 9, configuration: .init(chunkSize: 30_000))
        var iterator = receiver.deliveries.makeAsyncIterator()
        let delivery = try #require(await iterator.next())
        #expect(delivery.bytes == data)
        let corrupted = (sender.socket.faults?.counters.corrupted ?? 0) + (receiver.socket.faults?.counters.corrupted ?? 0)
        #expect(corrupted > 0, "no datagram was corrupted: the test checked nothing")
        #expect(report.retransmittedChunks > 0, "corrupted chunks must have been dropped and resent")
        await sender.close()
        await receiver.close()
    }

    @Test func concurrentSendsOnOneSocket() async throws {
        let (sender, receiver) = try Self.endpoints(faults: FaultProfile(drop: 0.05, seed: 3))
        await sender.start()
        await receiver.start()
        let objects = (0..<4).map { Self.object(400_000 + $0 * 1_000, seed: UInt64($0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for object in objects {
                group.addTask { _ = try await sender.send(object, to: receiver.socket.localAddress, configuration: .init(chunkSize: 8_000)) }
            }
            try await group.waitForAll()
        }
        var received: [[UInt8]] = []
        for await delivery in receiver.deliveries {
            received.append(delivery.bytes)
            if received.count == objects.count { break }
        }
        #expect(Set(received.map { Array(SHA256.hash(data: $0)) }) == Set(objects.map { Array(SHA256.hash(data: $0)) }))
        await sender.close()
        await receiver.close()
    }

    @Test func anObjectLargerThanAnnouncedIsRefusedWithAClearError() async throws {
        let (sender, receiver) = try Self.endpoints()
        await sender.start()
        await receiver.start()
        receiver.expect(8, maxBytes: 100_000, within: .seconds(30))
        await #expect {
            try await sender.send(Self.object(200_000, seed: 2), to: receiver.socket.localAddress, transferID: 8)
        } throws: { ($0 as? TransferError)?.code == .refusedTooLarge }
        // Unannounced, an object is taken only within the budget for strangers.
        await #expect {
            try await sender.send(Self.object(2 << 20, seed: 2), to: receiver.socket.localAddress)
        } throws: { ($0 as? TransferError)?.code == .refusedTooLarge }
        _ = try await sender.send(Self.object(100_000, seed: 2), to: receiver.socket.localAddress)
        await sender.close()
        await receiver.close()
    }

    @Test func anEndpointThatTakesOnlyWhatItAskedForRefusesTheRest() async throws {
        let (sender, receiver) = try Self.endpoints(admission: .announcedOnly())
        await sender.start()
        await receiver.start()
        await #expect {
            try await sender.send(Self.object(5_000, seed: 6), to: receiver.socket.localAddress, transferID: 9)
        } throws: { ($0 as? TransferError)?.code == .refused }
        receiver.expect(9, maxBytes: 5_000, within: .seconds(30))
        _ = try await sender.send(Self.object(5_000, seed: 6), to: receiver.socket.localAddress, transferID: 9)
        // Taken once: the announcement is used up by the delivery.
        await #expect {
            try await sender.send(Self.object(5_000, seed: 7), to: receiver.socket.localAddress, transferID: 10)
        } throws: { ($0 as? TransferError)?.code == .refused }
        await sender.close()
        await receiver.close()
    }

    @Test func aSenderGivesUpWhenNoOneAnswers() async throws {
        let (sender, silent) = try Self.endpoints()
        await sender.start()   // the other endpoint never reads its socket
        await #expect {
            try await sender.send(Self.object(10_000, seed: 3), to: silent.socket.localAddress,
                                  configuration: .init(chunkSize: 1_000, idleTimeout: .milliseconds(300)))
        } throws: { ($0 as? TransferError)?.code == .noProgress }
        await sender.close()
        await silent.close()
    }

    // MARK: Resumption after a restart

    /// 24 MB over a 10 ms round trip: long enough to restart a peer half-way.
    static let slowPath = FaultProfile(delay: .milliseconds(5), seed: 21)

    @Test func aSenderThatRestartsResumesWhereTheReceiverIs() async throws {
        let data = Self.object(24_000_000, seed: 4)   // 400 chunks of 60,000
        let (first, receiver) = try Self.endpoints(faults: Self.slowPath)
        await first.start()
        await receiver.start()
        let halfway = Once()
        receiver.expect(42, maxBytes: data.count, within: .seconds(60))
        await #expect(throws: TransferError.self) {
            _ = try await first.send(data, to: receiver.socket.localAddress, transferID: 42) { acknowledged, total in
                // The sending process dies half-way.
                if acknowledged * 2 >= total, halfway.first() { Task { await first.close() } }
            }
        }
        // Restarted (a new socket, a new port), it sends the same object under the same id.
        let second = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(receiveBufferSize: 1 << 20, faults: Self.slowPath)))
        await second.start()
        let report = try await second.send(data, to: receiver.socket.localAddress, transferID: 42)
        #expect(report.chunksSent < 400 - 100, "the restarted sender sent \(report.chunksSent) of 400 chunks")
        var iterator = receiver.deliveries.makeAsyncIterator()
        let delivery = try #require(await iterator.next())
        #expect(delivery.transferID == 42)
        #expect(delivery.object.withUnsafeBytes { Array(SHA256.hash(data: $0)) } == Array(SHA256.hash(data: data)))
        #expect(delivery.from == second.socket.localAddress)
        await second.close()
        await receiver.close()
    }

    @Test func aReceiverThatRestartsOnItsPortStillGetsTheObject() async throws {
        let data = Self.object(24_000_000, seed: 5)
        let (sender, first) = try Self.endpoints(faults: Self.slowPath)
        await sender.start()
        await first.start()
        let port = first.socket.localAddress
        let (third, reached) = AsyncStream.makeStream(of: Void.self)
        let once = Once()
        first.expect(43, maxBytes: data.count, within: .seconds(60))
        let sending = Task {
            defer { reached.finish() }
            return try await sender.send(data, to: port, transferID: 43) { acknowledged, total in
                if acknowledged * 3 >= total, once.first() { reached.yield() }
            }
        }
        // The receiving process dies a third of the way and comes back on its port
        // (here, so that a failed bind fails the test rather than a task nobody reads).
        for await _ in third { break }
        await first.close()
        let again = TransferEndpoint(socket: try UDPSocket(bind: port, options: .init(receiveBufferSize: 4 << 20)))
        again.expect(43, maxBytes: data.count, within: .seconds(60))   // its control plane asks again
        await again.start()
        let report = try await sending.value
        #expect(report.chunksSent > 400, "everything the first receiver had is sent again")
        var iterator = again.deliveries.makeAsyncIterator()
        let delivery = try #require(await iterator.next())
        #expect(delivery.object.withUnsafeBytes { Array(SHA256.hash(data: $0)) } == Array(SHA256.hash(data: data)))
        await sender.close()
        await again.close()
    }
}

/// True the first time only (from any thread).
final class Once: Sendable {
    private let taken = Mutex(false)
    func first() -> Bool { taken.withLock { taken in defer { taken = true }; return !taken } }
}
