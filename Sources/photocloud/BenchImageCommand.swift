import ArgumentParser
import Foundation
import PhotoCloudBench

extension ImageBench.MemoryCase: ExpressibleByArgument {}

extension BenchCommand {
    struct Image: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image",
            abstract: "Decode and preview a 12-megapixel photo as JPEG and PNG; peak memory of each, hostile files included.",
            discussion: "Run from the repository (the photo comes from Fixtures/covers) in a release build."
        )

        @Option(help: "The photo to scale (default Fixtures/covers/hubble_deep_field.png).") var cover: String?
        @Option(help: "Width and height, e.g. 4000x3000.") var size: String = "4000x3000"
        @Option(help: "Runs per timing (the median is reported).") var repeats: Int = 5
        @Option(help: "Also write the results as JSON to this file (- for stdout).") var json: String?
        @Option(name: .customLong("memory-case"), help: .hidden) var memoryCase: ImageBench.MemoryCase?
        @Option(help: .hidden) var input: String?

        func run() async throws {
            if let memoryCase, let input {   // one child process of the memory measurement
                let (kib, outcome) = try ImageBench.measure(memoryCase, input: input)
                print("\(kib)\t\(outcome)")
                return
            }
            let parts = size.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...20_000).contains($0) }) else {
                throw ValidationError("--size takes WIDTHxHEIGHT, e.g. 4000x3000")
            }
            let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            let progress = Progress()
            let result = try await ImageBench(coverPath: cover, width: parts[0], height: parts[1], repeats: max(1, repeats))
                .run(progress: { progress.stage($0) }) { memoryCase, path in
                    try Self.child(executable, memoryCase, path)
                }
            progress.finish()
            print("image: \(result.width)x\(result.height) from \(result.cover); JPEG q90 \(result.jpeg_bytes) bytes, "
                  + "progressive \(result.progressive_jpeg_bytes), PNG \(result.png_bytes); median of \(result.repeats)")
            for timing in result.timings {
                print("  " + Self.padded(timing.name, 42) + String(format: "%8.1f ms", timing.seconds * 1_000))
            }
            print("  peak resident memory, a fresh process each (and above one that only reads the file):")
            for memory in result.memory {
                print("  " + Self.padded(memory.name, 22) + String(format: "%7.1f MiB (+%6.1f)  ", memory.peak_rss_mib, memory.above_read_only_mib)
                      + memory.outcome)
            }
            if let json { try JSONOutput.write(result, to: json) }
        }

        static func padded(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(1, width - text.count))
        }

        /// Runs this executable on one memory case and reads its answer.
        static func child(_ executable: String, _ memoryCase: ImageBench.MemoryCase, _ path: String) throws -> (kib: Int, outcome: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["bench", "image", "--memory-case", memoryCase.rawValue, "--input", path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            let fields = output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\t", maxSplits: 1)
            guard process.terminationStatus == 0, fields.count == 2, let kib = Int(fields[0]) else {
                throw CLIError("the memory measurement of \(memoryCase.rawValue) failed: \(output)")
            }
            return (kib, String(fields[1]))
        }
    }
}
