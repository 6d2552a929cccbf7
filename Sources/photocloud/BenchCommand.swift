import ArgumentParser
import Foundation
import AsyncUDP
import PhotoCloudBench
import PhotoCloudProtocol

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure photocloud against baselines in the same run.",
        subcommands: [All.self, UDP.self, Stego.self, Bits.self, Transfer.self, Cluster.self, Failover.self, Image.self, Peers.self, Mailbox.self]
    )

    struct UDP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "udp",
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

extension BenchCommand {
    struct Stego: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stego",
            abstract: "Hide 1 MB in a 12-megapixel photo: against a bare libpng decode + encode.",
            discussion: "Run from the repository (the cover comes from Fixtures/covers) in a release build."
        )

        @Option(help: "The photo to scale into the cover (default Fixtures/covers/hubble_deep_field.png).")
        var cover: String?

        @Option(name: .customLong("payload-bytes"), help: "Bytes to hide.")
        var payloadBytes: Int = 1 << 20

        @Option(help: "Cover width and height, e.g. 4000x3000, or native for the photo as it is.")
        var size: String = "4000x3000"

        @Option(help: "Runs per figure (the median is reported).")
        var repeats: Int = 3

        @Flag(help: "Also time every zlib level, filter and thread count of the encoder.")
        var sweep = false

        @Option(help: "Also write the results as JSON to this file (- for stdout).")
        var json: String?

        func run() async throws {
            let parts = size == "native" ? [0, 0] : size.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, size == "native" || parts.allSatisfy({ (1...20_000).contains($0) }) else {
                throw ValidationError("--size takes WIDTHxHEIGHT, e.g. 4000x3000, or native")
            }
            let progress = Progress()
            let result = try await StegoBench(coverPath: cover, payloadBytes: payloadBytes, width: parts[0], height: parts[1],
                                        repeats: max(1, repeats), sweep: sweep).run { progress.stage($0) }
            progress.finish()
            print("""
                stego: \(result.payload_bytes) bytes into \(result.width)x\(result.height) (from \(result.cover)), median of \(repeats)
                  libpng decode + encode (baseline)  \(String(format: "%.3f", result.baseline_libpng_seconds)) s  (decode \(String(format: "%.3f", result.baseline_decode_seconds)), encode \(String(format: "%.3f", result.baseline_encode_seconds)))
                  decode + encode, photocloud encoder \(String(format: "%.3f", result.baseline_own_codec_seconds)) s
                  decode + embed + encode, like for like (libpng's decode and encode, embedding on one thread)
                                                     \(String(format: "%.3f", result.like_libpng_seconds)) s  = \(String(format: "%.2f", result.ratio_like_for_like))x the libpng baseline
                  decode + embed + encode, photocloud's encoder (\(result.encoder))
                                                     \(String(format: "%.3f", result.embed_total_seconds)) s  = \(String(format: "%.2f", result.ratio))x the libpng baseline, \(String(format: "%.2f", result.ratio_own_codec))x photocloud's own decode + encode
                  decode + embed (no encode)         \(String(format: "%.3f", result.decode_embed_seconds)) s
                  embedding step alone               \(String(format: "%.3f", result.embed_only_seconds)) s  = \(String(format: "%.1f", result.embed_mb_per_s)) MB/s
                  decode + extract                   \(String(format: "%.3f", result.extract_total_seconds)) s  (extract alone \(String(format: "%.3f", result.extract_only_seconds)) s)  intact: \(result.intact)
                  PSNR                               \(String(format: "%.1f", result.psnr_db)) dB; at 95% of capacity \(String(format: "%.1f", result.psnr_95_percent_capacity_db)) dB
                  PNG sizes                          cover \(result.cover_png_bytes), stego \(result.stego_png_bytes), libpng re-encode \(result.baseline_png_bytes)
                  encoder                            \(result.encoder)
                """)
            for choice in result.encoder_sweep {
                print(String(format: "  sweep: level %d %-8@ %d thread(s)  %.3f s  %d bytes", choice.level, choice.filter, choice.threads, choice.seconds, choice.bytes))
            }
            if let json { try JSONOutput.write(result, to: json) }
        }
    }
}

extension BenchCommand {
    struct Transfer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "transfer",
            abstract: "Send one object over loopback UDP through the reliable transfer, with faults injected in process.",
            discussion: "Faults apply to both directions. --compare adds stop-and-wait (--window 1) and TCP via iperf3 to the same run."
        )

        @Option(help: "Object size: bytes, or with a KiB/MiB/GiB suffix.") var size: String = "64MiB"
        @Option(help: "Probability that a datagram is dropped.") var loss: Double = 0
        @Option(help: "Probability that a datagram is duplicated.") var duplicate: Double = 0
        @Option(help: "Probability that a datagram is held back so later ones overtake it.") var reorder: Double = 0
        @Option(name: .customLong("delay-ms"), help: "One-way delay in milliseconds.") var delayMs: Double = 0
        @Option(help: "Chunks in flight at most (1: stop-and-wait).") var window: Int = 64
        @Option(help: "Chunk size in bytes.") var chunk: Int = 60_000
        @Flag(help: "Also measure stop-and-wait and TCP (iperf3) in the same run.") var compare = false
        @Option(help: "Transfers to measure; the median is reported.") var runs: Int = 3
        @Option(help: "Also write the results as JSON to this file (- for stdout).") var json: String?

        func validate() throws {
            guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1 to 100") }
            guard ByteSize.parse(size) != nil else { throw ValidationError("--size takes bytes or a KiB/MiB/GiB suffix, e.g. 256MiB") }
            for (name, p) in [("loss", loss), ("duplicate", duplicate), ("reorder", reorder)] where !(0...1).contains(p) {
                throw ValidationError("--\(name) is a probability from 0 to 1")
            }
            guard (1...TransferSender.Configuration.maxChunkSize).contains(chunk) else {
                throw ValidationError("--chunk must be 1 to \(TransferSender.Configuration.maxChunkSize)")
            }
            guard window >= 1, delayMs >= 0 else { throw ValidationError("--window must be at least 1 and --delay-ms not negative") }
        }

        func run() async throws {
            let bytes = ByteSize.parse(size) ?? 0
            let faults = FaultProfile(drop: loss, duplicate: duplicate, reorder: reorder,
                                      delay: .microseconds(Int64(delayMs * 1_000)), seed: 7)
            let progress = Progress()
            let result = try await TransferBench(size: bytes, faults: faults, window: window, chunk: chunk,
                                                 compareStopAndWait: compare, compareTCP: compare, runs: runs).run { done, total in
                progress.stage("\(done * 100 / max(total, 1))% of \(total) bytes acknowledged")
            }
            progress.finish()
            print("""
                transfer: \(result.bytes) bytes in \(String(format: "%.3f", result.seconds)) s = \(String(format: "%.1f", result.goodput_bytes_per_s / 1e6)) MB/s (median of \(result.runs)), intact: \(result.intact)
                  chunk \(result.chunk_bytes) bytes, window \(result.window), retransmitted \(result.retransmitted_chunks) chunks, srtt \(result.smoothed_rtt_ms.map { String(format: "%.2f ms", $0) } ?? "-")
                  faults: loss \(result.loss), duplicate \(result.duplicate), reorder \(result.reorder), delay \(result.delay_ms) ms
                """)
            if let saw = result.stop_and_wait_goodput_bytes_per_s, let speedup = result.speedup_over_stop_and_wait {
                print("  stop-and-wait (window 1): \(String(format: "%.1f", saw / 1e6)) MB/s; the window is \(String(format: "%.1f", speedup))x faster")
            }
            if let tcp = result.tcp_iperf3_bytes_per_s, let ratio = result.ratio_to_tcp {
                print("  TCP on loopback (iperf3): \(String(format: "%.1f", tcp / 1e6)) MB/s; transfer goodput = \(String(format: "%.2f", ratio))x TCP")
            } else if compare {
                print("  TCP on loopback: iperf3 is not installed (apt-get install iperf3)")
            }
            if let json { try JSONOutput.write(result, to: json) }
            if !result.intact { throw CLIError("the object arrived damaged") }
        }
    }
}

/// Sizes like 256MiB, 4KiB, 1000.
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Int(text.dropLast(suffix.count)).flatMap { $0 >= 0 ? $0 * factor : nil }
        }
        return Int(text).flatMap { $0 >= 0 ? $0 : nil }
    }
}

func format(_ value: Double) -> String {
    value >= 100 ? String(format: "%.0f", value) : String(format: "%.1f", value)
}
