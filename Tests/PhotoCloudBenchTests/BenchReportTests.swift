import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import PhotoCloudBench
import Testing

@Suite("bench all's report: the original's table beside ours, results.json, SVG plots")
struct BenchReportTests {
    static func cluster(failed: Int, sent: Int = 1_000, workload: String = "text", clients: Int = 200, p99: Double = 240) -> ClusterBench.Result {
        ClusterBench.Result(
            clients: clients, requests_per_client: 5, interval_ms: 100, workload: workload, balancing: "token", faults: "none", deadline_ms: 5_000,
            payload_bytes: 89, sent: sent, answered: sent - failed, failed: failed, late: 0, failure_rate: Double(failed) / Double(sent),
            wrong_answers: 0, p50_ms: 3, p99_ms: p99, max_ms: p99 * 1.1, latency_percentiles_ms: [3, 5, 20, 60, p99, p99 * 1.05, p99 * 1.1],
            service_p99_ms: p99, start_lag_max_ms: 4, throughput_rps: 1_600, seconds: 0.6, per_server: ["1": 300, "2": 350, "3": 350],
            balance_ratio: 1.17, retries: 0, killed_server: nil, failover_ms: nil, failover_all_ms: nil, orphaned_requests: nil, rejoin_ms: nil,
            first_errors: [])
    }

    static func transfer(loss: Double, goodput: Double, stopAndWait: Double) throws -> TransferBench.Result {
        let json = """
            {"bytes": 4194304, "seconds": 0.1, "goodput_bytes_per_s": \(goodput), "intact": true, "retransmitted_chunks": 3, "chunk_bytes": 60000,
             "window": 64, "runs": 1, "loss": \(loss), "duplicate": 0, "reorder": 0, "delay_ms": 0, "cpu_seconds": 0.1,
             "stop_and_wait_goodput_bytes_per_s": \(stopAndWait), "speedup_over_stop_and_wait": \(goodput / stopAndWait)}
            """
        return try JSONDecoder().decode(TransferBench.Result.self, from: Data(json.utf8))
    }

    static func results() throws -> BenchAllResults {
        var results = BenchAllResults(machine: .init(cores: 2, memory_gib: 24, kernel: "Linux 6", swift: "Swift 6.3.1", build: "release",
                                                     commit: "abc1234", date: "2026-12-01T18:00:00Z"),
                                      quick: true, commands: ["photocloud bench all --quick --report r"])
        for (configuration, failed) in zip(BenchAllResults.Configuration.allCases, [0, 0, 3, 1]) {
            results.cluster.append(.init(configuration: configuration, load: "original", result: cluster(failed: failed)))
            results.cluster.append(.init(configuration: configuration, load: "original", result: cluster(failed: 0, workload: "image", p99: 3_900)))
        }
        results.failover = .init(trials: 3, failover_ms: [104, 150, 98], requests: 900, failed: 0)
        results.transfer = [try transfer(loss: 0, goodput: 300e6, stopAndWait: 40e6), try transfer(loss: 0.05, goodput: 90e6, stopAndWait: 2e6)]
        results.covers = [.init(cover: "chelsea <&> \"cat\".png", width: 451, height: 300, payload_bytes: 25_000, bits_per_channel: 1, psnr_db: 51.1,
                                stego_png_bytes: 240_000, intact: true)]
        return results
    }

    @Test func theHeadlineTableSetsTheOriginalsFourRatesBesideOurs() throws {
        let table = try Self.results().headlineTable()
        for (configuration, original) in [("no balancing", "42.0%"), ("balancing", "29.5%"), ("fault tolerance", "31.0%"), ("full", "17.0%")] {
            let line = try #require(table.split(separator: "\n").first { $0.hasPrefix("| \(configuration) (") }, "no row for \(configuration)")
            #expect(line.contains("| \(original) failed |"), "\(line)")
        }
        // Ours, from the runs: 3 of 1,000 failed in fault tolerance; no 10x run in a quick report.
        #expect(table.contains("| fault tolerance (work token, the offline token running) | 31.0% failed | 0.3% failed, p99 240 ms, 1600 req/s |"))
        #expect(table.contains("not run"))
    }

    @Test func aRunWithNothingAnsweredShowsNoLatency() throws {
        var results = try Self.results()
        results.cluster[1].result = Self.cluster(failed: 1_000, workload: "image")
        #expect(results.headlineTable().contains("| 100.0% failed: nothing answered |"))
        #expect(results.markdown().contains("| 1000 | 1000 (100.0%) | 0 | - | - | - |"))
    }

    @Test func theReportNamesTheMachineTheCommandsAndEverySection() throws {
        let report = try Self.results().markdown()
        for part in ["| cores | 2 |", "release, commit abc1234", "photocloud bench all --quick --report r", "## Failover after kill -9",
                     "median **104 ms**, worst **150 ms**", "## Transfer goodput", "| 5.0% | 90.0 MB/s | 2.0 MB/s | 45.0x |", "### On the cover photos",
                     "![Goodput against loss](goodput.svg)", "(iperf3 is not installed: no TCP figure.)"] {
            #expect(report.contains(part), "the report lacks: \(part)")
        }
    }

    @Test func everyPlotIsWellFormedSVGWithEscapedTextAndFiniteCoordinates() throws {
        var results = try Self.results()
        results.cluster[0].result.latency_percentiles_ms[6] = .nan   // a figure missing: left out, not drawn at NaN
        let plots = results.plots()
        #expect(Set(plots.map(\.name)) == ["failure-rate.svg", "latency.svg", "goodput.svg"])
        for plot in plots {
            let parser = XMLParser(data: Data(plot.svg.utf8))
            #expect(parser.parse(), "\(plot.name) is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
            #expect(!plot.svg.contains("nan") && !plot.svg.contains("inf"), "\(plot.name) has a coordinate that is not a number")
            #expect(plot.svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        }
        let bars = try #require(plots.first { $0.name == "failure-rate.svg" }).svg
        #expect(bars.contains("42.0%") && bars.contains("17.0%"))
        #expect(SVGPlot.escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;")
    }

    @Test func theFolderHoldsTheReportTheJSONAndThePlots() throws {
        let folder = NSTemporaryDirectory() + "photocloud-report-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.results().write(to: folder)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: folder))
        #expect(names == ["report.md", "results.json", "failure-rate.svg", "latency.svg", "goodput.svg"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/results.json"))) as? [String: Any]
        let cluster = try #require(json?["cluster"] as? [[String: Any]])
        #expect(cluster.count == 8)
        #expect((cluster.first?["configuration"] as? String) == "no balancing")
        #expect(((json?["failover"] as? [String: Any])?["median_ms"] as? Double) == 104)
    }

    @Test func aFigureThatCouldNotBeMeasuredIsWrittenNotThrown() throws {
        var results = try Self.results()
        results.failover = .init(trials: 2, failover_ms: [], requests: 600, failed: 0)   // no trial saw a failover
        let json = try results.json()
        #expect(json.contains(#""median_ms" : "nan""#))
        #expect(results.markdown().contains("median **-**"))
    }
}
