import AsyncUDP
import PhotoCloudTestKit
import Testing

@Suite("AsyncUDP sockets")
struct SocketTests {
    @Test("send and receive over IPv4 and IPv6 loopback", arguments: [SocketAddress.ipv4Loopback(port: 0), .ipv6Loopback(port: 0)])
    func sendReceive(host: SocketAddress) async throws {
        let a = try UDPSocket(bind: host)
        let b = try UDPSocket(bind: host)
        defer { a.close(); b.close() }
        #expect(a.localAddress.port != 0)
        #expect(a.localAddress.family == host.family)
        try await a.send(Array("hello".utf8), to: b.localAddress)
        let datagram = try await b.receive()
        #expect(datagram.bytes == Array("hello".utf8))
        #expect(datagram.address == a.localAddress)
        #expect(!datagram.truncated)
    }

    @Test func bindsAChosenPortAndRefusesATakenOne() throws {
        let first = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { first.close() }
        #expect { try UDPSocket(bind: first.localAddress) } throws: { ($0 as? UDPError)?.errno == EADDRINUSE_VALUE }
    }

    @Test func largeDatagramsAndTruncation() async throws {
        let a = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let b = try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(receiveBufferSize: 1 << 20))
        defer { a.close(); b.close() }
        let big = (0..<60_000).map { UInt8(truncatingIfNeeded: $0) }
        try await a.send(big, to: b.localAddress)
        #expect(try await b.receive().bytes == big)
        try await a.send(big, to: b.localAddress)
        let cut = try await b.receive(maxSize: 100)
        #expect(cut.truncated && cut.bytes == Array(big.prefix(100)))
        await #expect(throws: UDPError.self) { try await a.send([UInt8](repeating: 0, count: 70_000), to: b.localAddress) }
    }

    @Test func receivesIntoAReusedBufferAfterWaitingForReadiness() async throws {
        let a = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let b = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { a.close(); b.close() }
        var buffer = [UInt8](repeating: 0, count: 16)
        let mark = b.readableMark()
        #expect(try b.receiveNow(into: &buffer) == nil)
        try await a.send([1, 2, 3], to: b.localAddress)
        try await b.waitUntilReadable(after: mark)
        let first = try #require(try b.receiveNow(into: &buffer))
        #expect(first.count == 3 && !first.truncated && first.address == a.localAddress && Array(buffer.prefix(3)) == [1, 2, 3])
        let secondMark = b.readableMark()
        try await a.send([UInt8](repeating: 7, count: 40), to: b.localAddress)
        try await b.waitUntilReadable(after: secondMark)
        let second = try b.receiveNow(into: &buffer)
        #expect(second?.count == 16 && second?.truncated == true && buffer == [UInt8](repeating: 7, count: 16))
    }

    @Test func batchesGoThroughSendmmsgAndRecvmmsg() async throws {
        let a = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let b = try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(receiveBufferSize: 1 << 20))
        defer { a.close(); b.close() }
        let batch = (0..<200).map { Datagram(bytes: [UInt8(truncatingIfNeeded: $0), 1, 2, 3], address: b.localAddress) }
        try await a.send(batch: batch)
        var received: [Datagram] = []
        while received.count < batch.count {
            let some = try await b.receive(batchOf: 32, maxSize: 64)
            #expect(!some.isEmpty && some.count <= 32)
            received += some
        }
        #expect(received.map(\.bytes) == batch.map(\.bytes))
        #expect(received.allSatisfy { $0.address == a.localAddress })
    }

    @Test func manyConcurrentReceiversEachGetOneDatagram() async throws {
        let sender = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let receiver = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { sender.close(); receiver.close() }
        let count = 64
        try await withThrowingTaskGroup(of: UInt8.self) { group in
            for _ in 0..<count {
                group.addTask { try await receiver.receive().bytes[0] }
            }
            try await Task.sleep(for: .milliseconds(50))   // let them all park
            for index in 0..<count { try await sender.send([UInt8(index)], to: receiver.localAddress) }
            var seen = Set<UInt8>()
            for try await value in group { seen.insert(value) }
            #expect(seen == Set((0..<count).map { UInt8($0) }))
        }
    }

    @Test func cancelledReceiveLeavesNothingAndLosesNoLaterDatagram() async throws {
        let sender = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let receiver = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { sender.close(); receiver.close() }
        for _ in 0..<20 {
            let waiting = Task { try await receiver.receive() }
            try await Task.sleep(for: .milliseconds(2))
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }
        }
        try await sender.send([42], to: receiver.localAddress)
        #expect(try await receiver.receive().bytes == [42])
    }

    @Test func closeFailsParkedWaitersAndLaterCalls() async throws {
        let socket = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let waiters = (0..<5).map { _ in Task { try await socket.receive() } }
        try await Task.sleep(for: .milliseconds(30))
        socket.close()
        for waiter in waiters {
            await #expect { try await waiter.value } throws: { ($0 as? UDPError)?.code == .closed }
        }
        await #expect { try await socket.send([1], to: .ipv4Loopback(port: 9)) } throws: { ($0 as? UDPError)?.code == .closed }
        #expect(socket.isClosed)
    }

    @Test func bufferSizesCanBeSet() throws {
        let socket = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { socket.close() }
        try socket.setReceiveBufferSize(200_000)
        try socket.setSendBufferSize(100_000)
        // Linux doubles what it is given (and caps at rmem_max / wmem_max).
        #expect(try socket.receiveBufferSize >= 200_000)
        #expect(try socket.sendBufferSize >= 100_000)
    }

    @Test func runsOnTheEventLoopExecutor() async throws {
        let a = try UDPSocket(bind: .ipv4Loopback(port: 0))
        let b = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { a.close(); b.close() }
        let echo = Task(executorPreference: EventLoop.shared) {
            for _ in 0..<100 {
                let d = try await b.receive()
                try await b.send(d.bytes, to: d.address)
            }
        }
        let result = try await Task(executorPreference: EventLoop.shared) { () async throws -> Int in
            var total = 0
            for index in 0..<100 {
                try await a.send([UInt8(index)], to: b.localAddress)
                total += Int(try await a.receive().bytes[0])
            }
            return total
        }.value
        try await echo.value
        #expect(result == (0..<100).reduce(0, +))
    }
}

#if canImport(Glibc)
import Glibc
let EADDRINUSE_VALUE: Int32 = EADDRINUSE
#endif
