import AsyncUDP
import Testing

@Suite("Fault layer")
struct FaultLayerTests {
    static let profile = FaultProfile(drop: 0.1, duplicate: 0.05, reorder: 0.1, delay: .milliseconds(1), jitter: .milliseconds(1), seed: 42)

    @Test func sameSeedSameDecisions() {
        let a = FaultInjector(Self.profile), b = FaultInjector(Self.profile)
        let first = (0..<2_000).map { _ in a.plan() }
        let second = (0..<2_000).map { _ in b.plan() }
        #expect(first == second)
        var other = Self.profile
        other.seed = 43
        let c = FaultInjector(other)
        #expect((0..<2_000).map { _ in c.plan() } != first)
    }

    @Test func ratesFollowTheProfile() {
        let injector = FaultInjector(Self.profile)
        for _ in 0..<20_000 { _ = injector.plan() }
        let counters = injector.counters
        #expect(counters.sent == 20_000)
        #expect((1_700...2_300).contains(counters.dropped))
        #expect((700...1_100).contains(counters.duplicated))
        #expect((1_500...2_100).contains(counters.reordered))
    }

    @Test func dropsAndDuplicatesOnARealSocket() async throws {
        let profile = FaultProfile(drop: 0.3, duplicate: 0.2, seed: 7)
        let sender = try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(faults: profile))
        let receiver = try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(receiveBufferSize: 1 << 20))
        defer { sender.close(); receiver.close() }
        for index in 0..<500 { try await sender.send([UInt8(index % 256), UInt8(index / 256)], to: receiver.localAddress) }
        let counters = try #require(sender.faults).counters
        let expected = counters.sent - counters.dropped + counters.duplicated
        var received = 0
        while received < expected {
            _ = try await receiver.receive()
            received += 1
        }
        #expect(try receiver.receiveNow() == nil)
        #expect(counters.dropped > 100 && counters.duplicated > 50)
    }

    @Test func delayAndReorderHoldDatagramsBack() async throws {
        let profile = FaultProfile(reorder: 0.5, delay: .milliseconds(20), reorderHold: .milliseconds(10), seed: 3)
        let sender = try UDPSocket(bind: .ipv4Loopback(port: 0), options: .init(faults: profile))
        let receiver = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { sender.close(); receiver.close() }
        let start = ContinuousClock.now
        for index in 0..<40 { try await sender.send([UInt8(index)], to: receiver.localAddress) }
        var order: [UInt8] = []
        for _ in 0..<40 { order.append(try await receiver.receive().bytes[0]) }
        #expect(ContinuousClock.now - start >= .milliseconds(20))
        #expect(Set(order) == Set(0..<40))
        #expect(order != order.sorted())   // some overtook others
    }
}
