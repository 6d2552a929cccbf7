import Foundation

/// `photocloud bench all`: every figure of one run, as results.json holds
/// them, and the report drawn from them (report.md and SVG plots). Pure:
/// the command measures, this writes.
public struct BenchAllResults: Encodable, Sendable {
    public struct Machine: Encodable, Sendable {
        public var cores: Int
        public var memory_gib: Double
        public var kernel: String
        public var swift: String
        public var build: String
        public var commit: String?
        public var date: String

        public init(cores: Int, memory_gib: Double, kernel: String, swift: String, build: String, commit: String?, date: String) {
            self.cores = cores
            self.memory_gib = memory_gib
            self.kernel = kernel
            self.swift = swift
            self.build = build
            self.commit = commit
            self.date = date
        }
    }

    /// The original's four configurations, and what each is here.
    public enum Configuration: String, Encodable, Sendable, CaseIterable {
        case noBalancing = "no balancing", balancing, faultTolerance = "fault tolerance", full

        /// The original's failure rate at its load (200 threads x 5 text requests, 100 ms apart).
        public var originalFailureRate: Double {
            switch self {
            case .noBalancing: 0.42
            case .balancing: 0.295
            case .faultTolerance: 0.31
            case .full: 0.17
            }
        }

        /// What the configuration is here.
        public var mapping: String {
            switch self {
            case .noBalancing: "every request to one server"
            case .balancing: "the work token spreads requests"
            case .faultTolerance: "work token, the offline token running"
            case .full: "work token, kill -9 of a server mid-run (restarted)"
            }
        }

        public var balancing: Bool { self != .noBalancing }
        public var fault: ClusterBench.Fault {
            switch self {
            case .noBalancing, .balancing: .none
            case .faultTolerance: .offlineToken
            case .full: .kill
            }
        }
    }

    public struct ClusterRow: Encodable, Sendable {
        public var configuration: Configuration
        /// "original" (200 x 5) or "10x" (2,000 x 5).
        public var load: String
        public var result: ClusterBench.Result

        public init(configuration: Configuration, load: String, result: ClusterBench.Result) {
            self.configuration = configuration
            self.load = load
            self.result = result
        }
    }

    public struct CoverRow: Encodable, Sendable {
        public var cover: String
        public var width: Int
        public var height: Int
        public var payload_bytes: Int
        public var bits_per_channel: Int
        public var psnr_db: Double
        public var stego_png_bytes: Int
        public var wire_bytes_per_photo_byte: Double
        public var intact: Bool

        public init(cover: String, width: Int, height: Int, payload_bytes: Int, bits_per_channel: Int, psnr_db: Double, stego_png_bytes: Int, intact: Bool) {
            self.cover = cover
            self.width = width
            self.height = height
            self.payload_bytes = payload_bytes
            self.bits_per_channel = bits_per_channel
            self.psnr_db = psnr_db
            self.stego_png_bytes = stego_png_bytes
            wire_bytes_per_photo_byte = Double(stego_png_bytes) / Double(max(1, payload_bytes))
            self.intact = intact
        }
    }

    public var machine: Machine
    public var quick: Bool
    public var commands: [String]
    public var seconds: Double = 0
    public var cluster: [ClusterRow] = []
    public var failover: FailoverBench.Result?
    /// The window's transfer at each loss rate, each with stop-and-wait in the same run.
    public var transfer: [TransferBench.Result] = []
    public var tcp_goodput_bytes_per_s: Double?
    public var stego: StegoBench.Result?
    public var covers: [CoverRow] = []
    public var peers: PeerBench.Result?
    /// Steps that could not run, and why.
    public var skipped: [String] = []

    public init(machine: Machine, quick: Bool, commands: [String]) {
        self.machine = machine
        self.quick = quick
        self.commands = commands
    }

    // MARK: The report

    func row(_ configuration: Configuration, _ load: String, _ workload: String) -> ClusterBench.Result? {
        cluster.first { $0.configuration == configuration && $0.load == load && $0.result.workload == workload }?.result
    }

    static func percent(_ rate: Double) -> String { String(format: rate == 0 ? "%.0f%%" : rate < 0.001 ? "%.2f%%" : "%.1f%%", rate * 100) }
    static func ms(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "-" }
        return value >= 100 ? String(format: "%.0f ms", value) : String(format: "%.1f ms", value)
    }
    static func mbps(_ bytesPerSecond: Double?) -> String {
        guard let bytesPerSecond, bytesPerSecond.isFinite else { return "-" }
        return String(format: "%.1f MB/s", bytesPerSecond / 1e6)
    }

    /// The headline table: the original's failure rates beside ours, per configuration, at its load and at 10x.
    public func headlineTable() -> String {
        var lines = [
            "| configuration (here: what it is) | the original, 200 x 5 text | ours, 200 x 5 text | ours, 200 x 5 image | ours, 2,000 x 5 text | ours, 2,000 x 5 image |",
            "|---|---|---|---|---|---|",
        ]
        for configuration in Configuration.allCases {
            func cell(_ load: String, _ workload: String) -> String {
                guard let result = row(configuration, load, workload) else { return "not run" }
                guard result.answered > 0 else { return "\(Self.percent(result.failure_rate)) failed: nothing answered" }
                return "\(Self.percent(result.failure_rate)) failed, p99 \(Self.ms(result.p99_ms)), \(String(format: "%.0f", result.throughput_rps)) req/s"
            }
            lines.append("| \(configuration.rawValue) (\(configuration.mapping)) | \(Self.percent(configuration.originalFailureRate)) failed "
                         + "| \(cell("original", "text")) | \(cell("original", "image")) | \(cell("10x", "text")) | \(cell("10x", "image")) |")
        }
        return lines.joined(separator: "\n")
    }

    public func markdown() -> String {
        var out = """
            # photocloud benchmark report

            \(quick ? "A quick run (`--quick`): the original's load only, fewer trials and smaller transfers." : "A full run.") \
            Written by `photocloud bench all` on \(machine.date) in \(String(format: "%.0f", seconds)) s.

            ## Machine and build

            | | |
            |---|---|
            | cores | \(machine.cores) |
            | memory | \(String(format: "%.0f", machine.memory_gib)) GiB |
            | kernel | \(machine.kernel) |
            | Swift | \(machine.swift) |
            | build | \(machine.build)\(machine.commit.map { ", commit \($0)" } ?? "") |

            Everything runs on this one machine: the servers, the clients and the peers share its cores, so these are
            figures of the whole system on \(machine.cores) cores, not of one server.

            ## The commands

            ```sh
            \(commands.joined(separator: "\n"))
            ```

            ## The original's table beside ours

            The original (a Rust student project) counted a request failed when it was not handled; here a request fails when
            no correct answer (the payload extracted byte for byte) came within 5 s of its scheduled send time. Latency is
            measured from each request's scheduled send time (HDR histograms, as wrk2 does), so queueing before a send counts.

            \(headlineTable())

            ![Failure rate: the original against ours](failure-rate.svg)

            ![Latency distribution per configuration](latency.svg)

            ### Every cluster run

            | configuration | load | workload | sent | failed | late | p50 | p99 | max | throughput | per server | retries |
            |---|---|---|---|---|---|---|---|---|---|---|---|

            """
        for item in cluster {
            let result = item.result
            // Latency of nothing answered is no latency.
            let latency = result.answered > 0 ? [result.p50_ms, result.p99_ms, result.max_ms].map { Self.ms($0) } : ["-", "-", "-"]
            let perServer = result.per_server.sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }.map { "\($0.value)" }.joined(separator: "/")
            out += "| \(item.configuration.rawValue) | \(item.load) (\(result.clients) x \(result.requests_per_client)) | \(result.workload) (\(result.payload_bytes) B) "
                + "| \(result.sent) | \(result.failed) (\(Self.percent(result.failure_rate))) | \(result.late) | \(latency[0]) | \(latency[1]) "
                + "| \(latency[2]) | \(String(format: "%.0f", result.throughput_rps)) req/s | \(perServer) | \(result.retries) |\n"
        }
        let kills = cluster.compactMap { item in item.result.killed_server.map { (item, $0) } }
        if !kills.isEmpty {
            out += "\nThe runs with a kill -9: "
                + kills.map { item, server in
                    "\(item.load) \(item.result.workload): server \(server) killed, failover \(Self.ms(item.result.failover_ms)), "
                        + "serving again \(Self.ms(item.result.rejoin_ms)) after its restart"
                }.joined(separator: "; ") + ".\n"
        }
        if let failover {
            out += """

                ## Failover after kill -9 of the token holder

                \(failover.trials) trials, each killing the server that holds the token under a load of 20 clients, then restarting it:
                median **\(Self.ms(failover.median_ms))**, worst **\(Self.ms(failover.worst_ms))**; \(failover.requests) requests, \(failover.failed) failed.

                Each (ms): \(failover.failover_ms.map { String(format: "%.0f", $0) }.joined(separator: " "))

                """
        }
        if !transfer.isEmpty {
            out += """

                ## Transfer goodput

                A transfer of \(transfer[0].bytes >> 20) MiB on loopback (the median of \(transfer[0].runs)), the window (\(transfer[0].window) chunks of \(transfer[0].chunk_bytes) bytes)
                against stop-and-wait (window 1, the original's way) in the same run, with datagrams dropped at random in both
                directions.\(tcp_goodput_bytes_per_s.map { " TCP on loopback (iperf3), the same run: \(Self.mbps($0))." } ?? " (iperf3 is not installed: no TCP figure.)")

                | loss | window | stop-and-wait | window / stop-and-wait | retransmitted chunks | intact |
                |---|---|---|---|---|---|

                """
            for result in transfer {
                out += "| \(Self.percent(result.loss)) | \(Self.mbps(result.goodput_bytes_per_s)) | \(Self.mbps(result.stop_and_wait_goodput_bytes_per_s)) "
                    + "| \(result.speedup_over_stop_and_wait.map { String(format: "%.1fx", $0) } ?? "-") | \(result.retransmitted_chunks) | \(result.intact ? "yes" : "NO") |\n"
            }
            out += "\n![Goodput against loss](goodput.svg)\n"
        }
        if let stego {
            out += """

                ## Steganography

                Hiding \(stego.payload_bytes >> 10) KiB in a \(stego.width)x\(stego.height) photo (\(stego.cover)), read and written as PNG, against
                a bare libpng decode and encode of the same photo in the same run:

                | | seconds | / libpng round trip |
                |---|---|---|
                | libpng decode + encode (baseline) | \(String(format: "%.3f", stego.baseline_libpng_seconds)) | 1.00 |
                | ours, like for like (libpng's settings: zlib level 6, adaptive filters, one thread) | \(String(format: "%.3f", stego.like_libpng_seconds)) | \(String(format: "%.2f", stego.ratio_like_for_like)) |
                | ours, as the servers run it (\(stego.encoder)) | \(String(format: "%.3f", stego.embed_total_seconds)) | \(String(format: "%.2f", stego.ratio)) |
                | extract (decode, then read the bits) | \(String(format: "%.3f", stego.extract_total_seconds)) | \(String(format: "%.2f", stego.extract_total_seconds / stego.baseline_libpng_seconds)) |

                Payload intact: \(stego.intact ? "yes" : "NO"); PSNR \(String(format: "%.1f", stego.psnr_db)) dB.

                """
        }
        if !covers.isEmpty {
            out += """

                ### On the cover photos

                Each cover photo as it is, a random payload (a sealed photo looks like one) filling half its capacity at 1 bit per
                channel, the stego PNG as the servers encode it:

                | cover | size | payload | PSNR | stego PNG | bytes on the wire per photo byte | intact |
                |---|---|---|---|---|---|---|

                """
            for row in covers {
                out += "| \(row.cover) | \(row.width)x\(row.height) | \(row.payload_bytes) B | \(String(format: "%.1f dB", row.psnr_db)) | \(row.stego_png_bytes) B "
                    + "| \(String(format: "%.2f", row.wire_bytes_per_photo_byte)) | \(row.intact ? "yes" : "NO") |\n"
            }
        }
        if let peers {
            out += """

                ## Peers

                From alice's send until bob's daemon confirms the photo stored (sealed, hidden by the cloud, sent, extracted,
                opened and checked):

                | | |
                |---|---|
                | 512x512 photo (\(peers.photo_512_bytes) bytes), send to inbox | p50 \(Self.ms(peers.send_512_p50_ms)), p99 \(Self.ms(peers.send_512_p99_ms)) |
                | the cloud's part alone, same size | p50 \(Self.ms(peers.cloud_only_p50_ms)) (send / cloud alone = \(String(format: "%.2f", peers.send_over_cloud_only))) |
                \(peers.large_label.map { "| large photo, \($0) (\(peers.large_bytes ?? 0) bytes) | send \(Self.ms(peers.large_send_ms)), view \(Self.ms(peers.large_view_ms)) |\n" } ?? "")\
                | a crowd: \(peers.crowd_peers) peers, \(peers.crowd_photos) photos at once | \(peers.crowd_arrived_identical) arrived identical, \(peers.crowd_failed) failed; per send p50 \(Self.ms(peers.crowd_p50_ms)), p99 \(Self.ms(peers.crowd_p99_ms)) |
                | peak memory | bench \(String(format: "%.0f", peers.bench_peak_rss_mib)) MiB; servers \(peers.server_peak_rss_mib.sorted { $0.key < $1.key }.map { "\(String(format: "%.0f", $0.value))" }.joined(separator: "/")) MiB |

                """
        }
        if !skipped.isEmpty {
            out += "\n## Not run\n\n" + skipped.map { "- \($0)" }.joined(separator: "\n") + "\n"
        }
        out += "\nEvery figure is also in results.json.\n"
        return out
    }

    // MARK: Plots

    /// The SVG files, by name.
    public func plots() -> [(name: String, svg: String)] {
        var plots: [(String, String)] = []
        // Failure rate: the original's four against ours at its load and at 10x (text).
        let configurations = Configuration.allCases
        plots.append(("failure-rate.svg", SVGPlot.bars(
            title: "Failed requests: the original against photocloud (text)", yLabel: "failed requests (%)",
            groups: configurations.map(\.rawValue),
            series: [("the original, 200 x 5", configurations.map { $0.originalFailureRate * 100 }),
                     ("ours, 200 x 5", configurations.map { row($0, "original", "text").map { $0.failure_rate * 100 } }),
                     ("ours, 2,000 x 5", configurations.map { row($0, "10x", "text").map { $0.failure_rate * 100 } })],
            valueFormat: { String(format: $0 == 0 ? "%.0f%%" : "%.1f%%", $0) })))
        // Latency by percentile, per configuration and load.
        let nines = ClusterBench.plottedPercentiles.map { $0 >= 100 ? 4.0 : -log10(1 - $0 / 100) }
        let labels = ClusterBench.plottedPercentiles.map { $0 >= 100 ? "max" : String(format: $0 == floor($0) ? "p%.0f" : "p%.1f", $0) }
        let series = cluster.filter { $0.result.workload == "text" || $0.result.workload == "image" }.map { item in
            SVGPlot.Series(name: "\(item.configuration.rawValue), \(item.load), \(item.result.workload)",
                           points: zip(nines, item.result.latency_percentiles_ms).map { ($0, $1) })
        }
        plots.append(("latency.svg", SVGPlot.lines(
            title: "Latency from the scheduled send time, by percentile", xLabel: "percentile", yLabel: "milliseconds",
            series: Array(series.prefix(8)), xTicks: zip(nines, labels).map { ($0, $1) }, logY: true)))
        // Goodput against loss.
        if !transfer.isEmpty {
            plots.append(("goodput.svg", SVGPlot.lines(
                title: "Transfer goodput against loss (loopback)", xLabel: "datagrams lost (%)", yLabel: "MB/s",
                series: [SVGPlot.Series(name: "window of \(transfer[0].window)", points: transfer.map { ($0.loss * 100, $0.goodput_bytes_per_s / 1e6) }),
                         SVGPlot.Series(name: "stop-and-wait", points: transfer.compactMap { result in
                             result.stop_and_wait_goodput_bytes_per_s.map { (result.loss * 100, $0 / 1e6) } })],
                logY: true)))
        }
        return plots
    }

    /// Writes report.md, results.json and the plots into `folder`.
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func put(_ text: String, _ name: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(name)), options: .atomic)
        }
        try put(markdown(), "report.md")
        for plot in plots() { try put(plot.svg, plot.name) }
        try put(try json(), "results.json")
    }

    /// results.json: every figure (one that could not be measured, such as the median of no failover, is "nan").
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}
