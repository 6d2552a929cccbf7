import ArgumentParser
import Foundation
import PhotoCloudBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure photocloud against baselines in the same run.",
        subcommands: [UDP.self]
    )

    struct UDP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ping-pong round trips over loopback: AsyncUDP against blocking syscalls.",
            discussion: "Measure release builds: swift build -c release, then .build/release/photocloud bench udp."
        )

        @Option(help: "Round trips per measurement.")
        var roundtrips: Int = 50_000

        @Option(help: "Bytes per datagram.")
        var payload: Int = 64

        @Option(help: "Also write the results as JSON to this file (- for stdout).")
        var json: String?

        func validate() throws {
            guard (1...10_000_000).contains(roundtrips) else { throw ValidationError("--roundtrips must be 1 to 10000000") }
            guard (1...1_400).contains(payload) else { throw ValidationError("--payload must be 1 to 1400 bytes") }
        }

        func run() async throws {
            let result = try await UDPBench(roundtrips: roundtrips, payloadBytes: payload).run()
            print("""
                udp ping-pong, \(result.roundtrips) round trips of \(result.payload_bytes) bytes on loopback
                  async (epoll thread)   \(format(result.async_roundtrips_per_s)) round trips/s  p50 \(format(result.async_p50_us)) us  p99 \(format(result.async_p99_us)) us
                  async (global pool)    \(format(result.async_global_roundtrips_per_s)) round trips/s  p50 \(format(result.async_global_p50_us)) us
                  blocking (2 threads)   \(format(result.blocking_roundtrips_per_s)) round trips/s  p50 \(format(result.blocking_p50_us)) us  p99 \(format(result.blocking_p99_us)) us
                  async / blocking       \(String(format: "%.2f", result.ratio))x
                """)
            if let json { try JSONOutput.write(result, to: json) }
        }
    }
}

func format(_ value: Double) -> String {
    value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
}
