import ArgumentParser
import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudBench
import PhotoCloudNode
import Steganography

extension BenchCommand {
    /// Every benchmark in one run, on clouds of its own, into a report.
    struct All: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "all",
            abstract: "Every benchmark in one run: the original's table beside ours, failover, transfers, steganography, peers.",
            discussion: """
                Starts its own local clouds (3 servers), runs the original's four configurations at its load and at 10x with \
                text and image workloads, failover after kill -9 of the token holder, transfer goodput against loss, \
                steganography against libpng and on the cover photos, and peers; writes report.md, results.json and SVG plots \
                into --report. At most about 15 minutes on two cores; --quick about 2. Run from the repository (the cover \
                photos come from Fixtures/covers) in a release build.
                """
        )

        @Option(help: "The folder the report goes to.") var report: String = "bench-report"
        @Flag(help: "The original's load only, fewer trials, smaller transfers (about 2 minutes).") var quick = false
        @Option(help: "Also write results.json's figures to this file (- for stdout).") var json: String?

        func run() async throws {
            // What would stop it at the end, found before minutes of measuring: the report's folder, the cover photos.
            guard Self.coverNames().count > 0 else {
                throw CLIError("no cover photos in \(Self.coverFolder): run bench all from the repository")
            }
            do { try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true) } catch {
                throw CLIError("cannot make the report's folder \(report): \(error.localizedDescription)")
            }
            guard FileManager.default.isWritableFile(atPath: report) else { throw CLIError("cannot write in the report's folder \(report)") }
            let started = ContinuousClock.now
            let progress = Progress()
            var results = BenchAllResults(machine: Self.machine(), quick: quick, commands: commands())
            let step: @Sendable (String) -> Void = { progress.stage($0) }

            // The original's table: its four configurations at its load and at 10x, text and image.
            let loads = quick ? [("original", 200)] : [("original", 200), ("10x", 2_000)]
            for (load, clients) in loads {
                for workload in ClusterBench.Workload.allCases {
                    for configuration in BenchAllResults.Configuration.allCases {
                        let label = "cluster: \(configuration.rawValue), \(clients) x 5, \(workload.rawValue)"
                        let result = try await Self.cluster(configuration, clients: clients, workload: workload) { step("\(label): \($0)") }
                        results.cluster.append(.init(configuration: configuration, load: load, result: result))
                    }
                }
            }

            // Failover: kill -9 of the token holder, restarted each time.
            let trials = quick ? 5 : 20
            results.failover = try await Self.failover(trials: trials) { step("failover: \($0)") }

            // Transfers: the window against stop-and-wait at each loss rate; TCP once.
            let size = quick ? 4 << 20 : 16 << 20
            let losses: [Double] = quick ? [0, 0.05] : [0, 0.01, 0.02, 0.05, 0.1]
            for (index, loss) in losses.enumerated() {
                step("transfer: \(size >> 20) MiB, \(Int(loss * 100))% lost")
                let result = try await TransferBench(size: size, faults: FaultProfile(drop: loss, seed: 7), window: 64, chunk: 60_000,
                                                     compareStopAndWait: true, compareTCP: index == 0, runs: quick ? 1 : 3).run()
                if index == 0 { results.tcp_goodput_bytes_per_s = result.tcp_iperf3_bytes_per_s }
                results.transfer.append(result)
            }
            if results.tcp_goodput_bytes_per_s == nil { results.skipped.append("TCP on loopback: iperf3 is not installed (apt-get install iperf3)") }

            // Steganography: against libpng, then on each cover photo.
            let stego = quick ? StegoBench(coverPath: nil, payloadBytes: 256 << 10, width: 2_000, height: 1_500, repeats: 1)
                : StegoBench(coverPath: nil)
            results.stego = try await stego.run { step("steganography: \($0)") }
            results.covers = try Self.covers { step("cover photos: \($0)") }

            // Peers: send to inbox, small and (in a full run) 12 megapixels, and a crowd.
            results.peers = try await Self.peers(quick: quick) { step("peers: \($0)") }

            results.seconds = (ContinuousClock.now - started).seconds
            progress.finish()
            try results.write(to: report)
            if let json { try JSONOutput.write(document: try results.json(), to: json) }
            print(results.headlineTable())
            print("report: \((report as NSString).appendingPathComponent("report.md")), with results.json and "
                  + results.plots().map(\.name).joined(separator: ", ") + String(format: " (%.0f s)", results.seconds))
        }

        /// The commands that reproduce each figure alone.
        func commands() -> [String] {
            var lines = ["photocloud bench all\(quick ? " --quick" : "") --report \(report)", "# each part alone:"]
            for clients in quick ? [200] : [200, 2_000] {
                for workload in ["text", "image"] {
                    lines.append("photocloud bench cluster --clients \(clients) --requests 5 --interval-ms 100 --workload \(workload) --balancing none")
                    lines.append("photocloud bench cluster --clients \(clients) --requests 5 --interval-ms 100 --workload \(workload)")
                    lines.append("photocloud bench cluster --clients \(clients) --requests 5 --interval-ms 100 --workload \(workload) --faults offline-token")
                    lines.append("photocloud bench cluster --clients \(clients) --requests 5 --interval-ms 100 --workload \(workload) --faults kill")
                }
            }
            lines.append("photocloud bench failover --trials \(quick ? 5 : 20)")
            for loss in quick ? ["0", "0.05"] : ["0", "0.01", "0.02", "0.05", "0.1"] {
                lines.append("photocloud bench transfer --size \(quick ? 4 : 16)MiB --loss \(loss) --runs \(quick ? 1 : 3) --compare")
            }
            lines.append(quick ? "photocloud bench stego --size 2000x1500 --payload-bytes 262144 --repeats 1" : "photocloud bench stego")
            lines.append(quick ? "photocloud bench peers --sends 3 --peers 4 --photos-each 2 --no-large" : "photocloud bench peers")
            return lines
        }

        /// `body` with a local cloud of 3 servers of its own, in a temporary folder (also given to `body`), removed after.
        static func withCloud<T>(_ arguments: [String] = [], progress: @Sendable (String) -> Void,
                                 _ body: (LocalCluster, String) async throws -> T) async throws -> T {
            let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("photocloud-bench-all-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
            progress("starting 3 servers")
            let cloud = try LocalCluster(folder: path + "/cloud", servers: 3, serverArguments: arguments)
            defer {
                cloud.stopAll()
                try? FileManager.default.removeItem(atPath: path)
            }
            try cloud.startAll()
            try await cloud.waitUntilReady()
            return try await body(cloud, path)
        }

        static func cluster(_ configuration: BenchAllResults.Configuration, clients: Int, workload: ClusterBench.Workload,
                            progress: @escaping @Sendable (String) -> Void) async throws -> ClusterBench.Result {
            var bench = ClusterBench(clients: clients, requests: 5, interval: .milliseconds(100), fault: configuration.fault,
                                     balancing: configuration.balancing, workload: workload, deadline: .seconds(5))
            bench.clientEndpoints = 2
            return try await withCloud(bench.serverArguments, progress: progress) { cloud, _ in
                try await bench.run(config: cloud.config, cloud: cloud, progress: progress)
            }
        }

        static func failover(trials: Int, progress: @escaping @Sendable (String) -> Void) async throws -> FailoverBench.Result {
            try await withCloud(progress: progress) { cloud, _ in try await FailoverBench(trials: trials).run(cloud: cloud, progress: progress) }
        }

        static let coverFolder = "Fixtures/covers"

        static func coverNames() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: coverFolder)) ?? []).filter { $0.hasSuffix(".png") }.sorted()
        }

        /// Each cover photo as it is, half its capacity filled at 1 bit per channel, encoded as the servers do.
        static func covers(progress: (String) -> Void) throws -> [BenchAllResults.CoverRow] {
            let folder = coverFolder, names = coverNames()
            guard !names.isEmpty else { throw CLIError("no cover photos in \(folder): run bench all from the repository") }
            var random = SeededRandom(seed: 11)
            let stego = StegoPNG(codec: PNGCodec(encoder: PNGEncoder(strategy: .rle, threads: 4)), threads: 4)
            return try names.map { name in
                progress(name)
                let image = try PNGCodec().decode(file: (folder as NSString).appendingPathComponent(name))
                let payload = random.bytes(Steganographer.capacity(width: image.width, height: image.height) / 2)
                let key = try StegoKey(material: Array("bench all".utf8))
                let png = try stego.embed(payload, in: image, key: key)
                let decoded = try PNGCodec().decode(png)
                let back = try? Steganographer.extract(from: decoded.pixels, width: decoded.width, height: decoded.height, key: key)
                return .init(cover: name, width: image.width, height: image.height, payload_bytes: payload.count, bits_per_channel: 1,
                             psnr_db: ImageQuality.psnr(image.pixels, decoded.pixels), stego_png_bytes: png.count, intact: back == payload)
            }
        }

        static func peers(quick: Bool, progress: @escaping @Sendable (String) -> Void) async throws -> PeerBench.Result {
            var bench = PeerBench()
            if quick {
                bench.sends = 3
                bench.crowd = 4
                bench.photosEach = 2
            } else {
                progress("making a 12-megapixel JPEG")
                bench.large = (try PeerBench.twelveMegapixelJPEG(), "a 4000x3000 JPEG")
            }
            return try await withCloud(progress: progress) { cloud, folder in
                try await bench.run(config: cloud.config, cloud: cloud, folder: folder, progress: progress)
            }
        }

        static func machine() -> BenchAllResults.Machine {
            var name = utsname()
            uname(&name)
            let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let memory = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE))) / Double(1 << 30)
            #if DEBUG
            let build = "debug"
            #else
            let build = "release"
            #endif
            return .init(cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), memory_gib: memory, kernel: "Linux " + kernel,
                         swift: output(of: ["swift", "--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown",
                         build: build, commit: output(of: ["git", "rev-parse", "--short", "HEAD"]),
                         date: ISO8601DateFormatter().string(from: Date()))
        }

        /// What a command prints, trimmed; nil if it cannot run or fails.
        static func output(of command: [String]) -> String? {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = command
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            do { try process.run() } catch { return nil }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
