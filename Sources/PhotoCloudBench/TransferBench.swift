import AsyncUDP
import Crypto
import Foundation
import PhotoCloudNode
import PhotoCloudProtocol

/// `photocloud bench transfer`: one object from a sender endpoint to a
/// receiver endpoint over real loopback UDP sockets, with the fault layer
/// under both (data and acknowledgements suffer alike). Optionally, in the same
/// run, the same transfer with `window 1` (stop-and-wait) and TCP on loopback
/// measured by iperf3.
public struct TransferBench: Sendable {
    public struct Result: Codable, Sendable {
        public var bytes: Int
        public var seconds: Double
        public var goodput_bytes_per_s: Double
        public var intact: Bool
        public var retransmitted_chunks: Int
        public var chunk_bytes: Int
        public var window: Int
        /// Transfers measured; `seconds` is the median one's.
        public var runs: Int
        public var loss: Double
        public var duplicate: Double
        public var reorder: Double
        public var delay_ms: Double
        public var smoothed_rtt_ms: Double?
        /// CPU time of the whole process (both ends, every thread) during the
        /// median transfer: less noisy than wall time on a shared machine.
        public var cpu_seconds: Double
        public var stop_and_wait_goodput_bytes_per_s: Double?
        public var speedup_over_stop_and_wait: Double?
        public var tcp_iperf3_bytes_per_s: Double?
        public var ratio_to_tcp: Double?
    }

    public var size: Int
    public var faults: FaultProfile
    public var window: Int
    public var chunk: Int
    public var compareStopAndWait: Bool
    public var compareTCP: Bool
    public var runs: Int

    public init(size: Int, faults: FaultProfile, window: Int, chunk: Int, compareStopAndWait: Bool, compareTCP: Bool, runs: Int = 3) {
        self.runs = max(1, runs)
        self.size = size
        self.faults = faults
        self.window = window
        self.chunk = chunk
        self.compareStopAndWait = compareStopAndWait
        self.compareTCP = compareTCP
    }

    public func run(progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Result {
        var random = SeededRandom(seed: 42)
        let data = random.bytes(size)
        // The median of a few runs: on a shared two-core machine single runs
        // of the same transfer varied by 2x.
        var measured: [(seconds: Double, report: TransferEndpoint.TransferReport, intact: Bool, cpu: Double)] = []
        for _ in 0..<runs { measured.append(try await transfer(data, window: window, progress: progress)) }
        measured.sort { $0.seconds < $1.seconds }
        let (seconds, report, _, cpu) = measured[measured.count / 2]
        let intact = measured.allSatisfy(\.intact)
        var result = Result(
            bytes: size, seconds: seconds, goodput_bytes_per_s: Double(size) / seconds, intact: intact,
            retransmitted_chunks: report.retransmittedChunks, chunk_bytes: chunk, window: window, runs: runs,
            loss: faults.drop, duplicate: faults.duplicate, reorder: faults.reorder,
            delay_ms: Double(faults.delay.nanoseconds) / 1e6,
            smoothed_rtt_ms: report.smoothedRTT.map { Double($0.nanoseconds) / 1e6 }, cpu_seconds: cpu)
        if compareStopAndWait {
            let (baseline, _, _, _) = try await transfer(data, window: 1, progress: { _, _ in })
            result.stop_and_wait_goodput_bytes_per_s = Double(size) / baseline
            result.speedup_over_stop_and_wait = baseline / seconds
        }
        if compareTCP, let tcp = IPerf3.loopbackThroughput() {
            result.tcp_iperf3_bytes_per_s = tcp
            result.ratio_to_tcp = result.goodput_bytes_per_s / tcp
        }
        return result
    }

    private func transfer(_ data: [UInt8], window: Int, progress: @escaping @Sendable (Int, Int) -> Void) async throws
        -> (Double, TransferEndpoint.TransferReport, Bool, Double) {
        let options = UDPSocket.Options(receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20, faults: faults.isClean ? nil : faults)
        var ackFaults = faults
        ackFaults.seed &+= 1
        let receiverOptions = UDPSocket.Options(receiveBufferSize: 4 << 20, sendBufferSize: 4 << 20, faults: faults.isClean ? nil : ackFaults)
        // Each end on its own event loop thread, as two hosts would be.
        let (senderLoop, receiverLoop) = try Self.loops()
        let sender = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0), options: options, loop: senderLoop),
                                      loop: senderLoop)
        let receiver = TransferEndpoint(socket: try UDPSocket(bind: .ipv4Loopback(port: 0), options: receiverOptions, loop: receiverLoop),
                                        loop: receiverLoop, admission: .announcedOnly())
        await sender.start()
        await receiver.start()
        defer { Task { await sender.close(); await receiver.close() } }
        // The receiver asks for the object, as a node's control plane does before any transfer it takes.
        let id = UInt64.random(in: 1...UInt64.max)
        receiver.expect(id, maxBytes: data.count, within: .seconds(60))
        let configuration = TransferSender.Configuration(chunkSize: chunk, window: window, idleTimeout: .seconds(30))
        let start = ContinuousClock.now
        let cpuStart = ProcessCPU.seconds()
        let report = try await sender.send(data, to: receiver.socket.localAddress, transferID: id, configuration: configuration, progress: progress)
        let elapsed = (ContinuousClock.now - start).seconds
        let cpu = ProcessCPU.seconds() - cpuStart
        var received: ObjectBuffer?
        for await delivery in receiver.deliveries {
            received = delivery.object
            break
        }
        let intact = received?.withUnsafeBytes { SHA256.hash(data: $0) } == SHA256.hash(data: data)
        return (elapsed, report, intact, cpu)
    }
}

extension TransferBench {
    /// A sending and a receiving loop, each pinned to a CPU of its own when
    /// there are two: unpinned, the scheduler often put both threads (which
    /// wake each other per datagram) on one core, and half the runs measured
    /// the single-core speed (330 instead of 600 MB/s).
    static func loops() throws -> (sender: EventLoop, receiver: EventLoop) {
        try BenchLoops.shared.get()
    }
}

private enum BenchLoops {
    static let shared: Result<(sender: EventLoop, receiver: EventLoop), any Error> = Result {
        let pin = EventLoop.availableCPUs >= 2
        return (try EventLoop(name: "photocloud-bench-sender", cpu: pin ? 0 : nil),
                try EventLoop(name: "photocloud-bench-receiver", cpu: pin ? 1 : nil))
    }
}

/// The process's CPU time so far (user and system, every thread).
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return value(usage.ru_utime) + value(usage.ru_stime)
    }
}

/// TCP throughput on loopback measured by iperf3 (if installed), for the ratio.
enum IPerf3 {
    static func loopbackThroughput(seconds: Int = 3) -> Double? {
        guard let path = ["/usr/bin/iperf3", "/usr/local/bin/iperf3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return nil
        }
        let port = String(Int.random(in: 20_000...40_000))
        let server = Process()
        server.executableURL = URL(fileURLWithPath: path)
        server.arguments = ["-s", "-1", "-p", port, "-B", "127.0.0.1"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        guard (try? server.run()) != nil else { return nil }
        defer { if server.isRunning { server.terminate() } }
        Thread.sleep(forTimeInterval: 0.3)
        let client = Process()
        client.executableURL = URL(fileURLWithPath: path)
        client.arguments = ["-c", "127.0.0.1", "-p", port, "-t", String(seconds), "-J"]
        let output = Pipe()
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        guard (try? client.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        client.waitUntilExit()
        guard let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let end = document["end"] as? [String: Any],
              let received = end["sum_received"] as? [String: Any],
              let bits = received["bits_per_second"] as? Double else { return nil }
        return bits / 8
    }
}
