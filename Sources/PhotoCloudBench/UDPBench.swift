import AsyncUDP
import Foundation

/// `photocloud bench udp`: ping-pong round trips of small datagrams over
/// loopback, through AsyncUDP (both ends as tasks on the epoll thread, and
/// again on the global executor) and through plain blocking syscalls on two
/// dedicated threads, all in one run so the ratio is meaningful on a noisy machine.
public struct UDPBench: Sendable {
    public struct Result: Codable, Sendable {
        public var roundtrips: Int
        public var payload_bytes: Int
        public var async_roundtrips_per_s: Double
        public var async_p50_us: Double
        public var async_p99_us: Double
        public var async_global_roundtrips_per_s: Double
        public var async_global_p50_us: Double
        public var blocking_roundtrips_per_s: Double
        public var blocking_p50_us: Double
        public var blocking_p99_us: Double
        /// async_roundtrips_per_s / blocking_roundtrips_per_s
        public var ratio: Double
    }

    public var roundtrips: Int
    public var payloadBytes: Int
    public var host: SocketAddress

    public init(roundtrips: Int = 50_000, payloadBytes: Int = 64, host: SocketAddress = .ipv4Loopback(port: 0)) {
        self.roundtrips = roundtrips
        self.payloadBytes = payloadBytes
        self.host = host
    }

    public func run() async throws -> Result {
        let warmup = max(roundtrips / 20, 100)
        _ = try await asyncPingPong(count: warmup, onLoop: true)
        let (loopRate, loopLatency) = try await asyncPingPong(count: roundtrips, onLoop: true)
        let (globalRate, globalLatency) = try await asyncPingPong(count: roundtrips, onLoop: false)
        _ = try await blockingPingPong(count: warmup)
        let (blockingRate, blockingLatency) = try await blockingPingPong(count: roundtrips)
        return Result(
            roundtrips: roundtrips,
            payload_bytes: payloadBytes,
            async_roundtrips_per_s: loopRate,
            async_p50_us: loopLatency.percentile(50),
            async_p99_us: loopLatency.percentile(99),
            async_global_roundtrips_per_s: globalRate,
            async_global_p50_us: globalLatency.percentile(50),
            blocking_roundtrips_per_s: blockingRate,
            blocking_p50_us: blockingLatency.percentile(50),
            blocking_p99_us: blockingLatency.percentile(99),
            ratio: blockingRate > 0 ? loopRate / blockingRate : 0
        )
    }

    /// Both ends through AsyncUDP; on the loop thread (`onLoop`) or the global executor.
    private func asyncPingPong(count: Int, onLoop: Bool) async throws -> (Double, LatencySamples) {
        let echo = try UDPSocket(bind: host)
        let client = try UDPSocket(bind: host)
        defer { echo.close(); client.close() }
        let payload = [UInt8](repeating: 0xA5, count: payloadBytes)
        let executor: (any TaskExecutor)? = onLoop ? EventLoop.shared : nil
        // A lost datagram would stall a ping-pong: the watchdog closes the sockets.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(max(10, Double(count) / 2_000)))
            echo.close(); client.close()
        }
        defer { watchdog.cancel() }
        let echoTask = Task(executorPreference: executor) {
            for _ in 0..<count {
                let datagram = try await echo.receive(maxSize: 2_048)
                try await echo.send(datagram.bytes, to: datagram.address)
            }
        }
        let clientTask = Task(executorPreference: executor) { () async throws -> (Duration, LatencySamples) in
            var samples = LatencySamples()
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<count {
                let sent = clock.now
                try await client.send(payload, to: echo.localAddress)
                _ = try await client.receive(maxSize: 2_048)
                samples.record(clock.now - sent)
            }
            return (clock.now - start, samples)
        }
        let (elapsed, samples) = try await clientTask.value
        try await echoTask.value
        return (Double(count) / elapsed.seconds, samples)
    }

    /// Both ends as blocking syscalls, each on its own thread.
    private func blockingPingPong(count: Int) async throws -> (Double, LatencySamples) {
        let echo = try BlockingUDPSocket(bind: host)
        let client = try BlockingUDPSocket(bind: host)
        let payload = [UInt8](repeating: 0xA5, count: payloadBytes)
        let echoThread = Thread {
            var buffer = [UInt8](repeating: 0, count: 2_048)
            for _ in 0..<count {
                guard let (size, from) = try? echo.receive(into: &buffer) else { return }
                try? echo.send(Array(buffer[..<size]), to: from)
            }
        }
        echoThread.start()
        return try await withCheckedThrowingContinuation { continuation in
            let clientThread = Thread {
                var buffer = [UInt8](repeating: 0, count: 2_048)
                var samples = LatencySamples()
                let clock = ContinuousClock()
                let start = clock.now
                do {
                    for _ in 0..<count {
                        let sent = clock.now
                        try client.send(payload, to: echo.localAddress)
                        _ = try client.receive(into: &buffer)
                        samples.record(clock.now - sent)
                    }
                    continuation.resume(returning: (Double(count) / (clock.now - start).seconds, samples))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            clientThread.start()
        }
    }
}
