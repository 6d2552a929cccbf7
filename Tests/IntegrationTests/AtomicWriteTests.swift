import Foundation
import PhotoCloudTestKit
import Testing

/// Every file photocloud writes goes to a temporary file beside it, is
/// fsynced, renamed over the old one, and the folder fsynced. These tests
/// interrupt a real write (kill -9 while strace holds the process before its
/// fsync, the temporary file written and not yet renamed) and read the
/// system calls of an uninterrupted one.
@Suite("Atomic writes, interrupted and traced")
struct AtomicWriteTests {
    static let covers = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/covers").path
    static let strace = ["/usr/bin/strace", "/bin/strace"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `photocloud stego embed` under strace, writing `out`; `delaySyncs` holds each fsync(2) that long first
    /// (only the file writer syncs: the runtime's own writes, eventfd wake-ups, go on at full speed).
    func tracedEmbed(_ binary: BinaryRunner, folder: String, out: String, trace: String, delaySyncs: Duration?) throws -> Process {
        let strace = try #require(Self.strace, "strace is needed (make test installs it)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strace)
        var arguments = ["-f", "-o", trace, "-e", "trace=openat,write,fsync,rename,renameat,renameat2"]
        if let delay = delaySyncs { arguments += ["-e", "inject=fsync:delay_enter=\(delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000)"] }
        arguments += [binary.executable, "stego", "embed", "--cover", Self.covers + "/coffee.png", "--payload", folder + "/payload.bin",
                      "--out", out, "--key", "hex:00112233445566778899aabbccddeeff"]
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: trace + ".err", contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: trace + ".err"))
        try process.run()
        return process
    }

    @Test func aWriteKilledHalfwayLeavesTheOldFileWhole() async throws {
        let binary = try #require(BinaryRunner.locate(), "build the photocloud binary first (make test does)")
        try await withTemporaryFolder { folder in
            try Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: folder + "/payload.bin"))
            let out = folder + "/out.png"
            let old = Data("the photo that was here before".utf8)
            try old.write(to: URL(fileURLWithPath: out))
            // Each fsync(2) waits 5 s before it runs: the temporary file exists, written or being written, not yet
            // renamed, for at least that long. It is killed then.
            let tracer = try tracedEmbed(binary, folder: folder, out: out, trace: folder + "/killed.trace", delaySyncs: .seconds(5))
            defer { if tracer.isRunning { kill(tracer.processIdentifier, SIGKILL) } }
            var temporary: String?
            let deadline = ContinuousClock.now + .seconds(60)
            while temporary == nil, tracer.isRunning, ContinuousClock.now < deadline {
                temporary = try FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasPrefix("out.png.tmp-") }
                if temporary == nil { try await Task.sleep(for: .milliseconds(2)) }
            }
            let said = (try? String(contentsOfFile: folder + "/killed.trace.err", encoding: .utf8)) ?? ""
            let name = try #require(temporary, "the write never started: \(said)")
            // Its name carries the writer's pid (the tracee, not strace: killing strace would only detach it).
            let pid = try #require(name.split(separator: "-").dropFirst().first.flatMap { pid_t($0) })
            #expect(kill(pid, SIGKILL) == 0)
            while tracer.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == old, "the old file was damaged by a write killed halfway")
            #expect(FileManager.default.fileExists(atPath: folder + "/" + name), "killed after the rename: the test interrupted nothing")

            // Not interrupted, the new file replaces it whole.
            let finished = try await binary.run(["stego", "embed", "--cover", Self.covers + "/coffee.png", "--payload", folder + "/payload.bin",
                                                 "--out", out, "--key", "hex:00112233445566778899aabbccddeeff"])
            #expect(finished.status == 0, "\(finished.stderr)")
            let back = try await binary.run(["stego", "extract", "--in", out, "--key", "hex:00112233445566778899aabbccddeeff", "--out", folder + "/back.bin"])
            #expect(back.status == 0, "\(back.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/back.bin")) == Data(contentsOf: URL(fileURLWithPath: folder + "/payload.bin")))
        }
    }

    @Test func theFileIsSyncedRenamedAndItsFolderSynced() async throws {
        let binary = try #require(BinaryRunner.locate(), "build the photocloud binary first (make test does)")
        try await withTemporaryFolder { folder in
            try Data(repeating: 42, count: 5_000).write(to: URL(fileURLWithPath: folder + "/payload.bin"))
            let out = folder + "/out.png"
            let tracer = try tracedEmbed(binary, folder: folder, out: out, trace: folder + "/calls.trace", delaySyncs: nil)
            let deadline = ContinuousClock.now + .seconds(60)
            while tracer.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!tracer.isRunning && tracer.terminationStatus == 0,
                    "\((try? String(contentsOfFile: folder + "/calls.trace.err", encoding: .utf8)) ?? "")")
            let calls = try String(contentsOfFile: folder + "/calls.trace", encoding: .utf8).split(separator: "\n").map(String.init)
            // The sequence for the output: open the temporary file, write, fsync it, rename it over out.png,
            // open the folder, fsync the folder.
            func line(after start: Int, _ matches: (String) -> Bool) -> Int? { calls.indices.first { $0 > start && matches(calls[$0]) } }
            func fd(_ call: String) -> String? { call.components(separatedBy: " = ").last?.components(separatedBy: " ").first }
            let opened = try #require(line(after: -1) { $0.contains("openat(") && $0.contains("out.png.tmp-") && $0.contains("O_CREAT") })
            let file = try #require(fd(calls[opened]))
            let wrote = try #require(line(after: opened) { $0.contains("write(\(file),") }, "no write to the temporary file")
            let synced = try #require(line(after: wrote) { $0.contains("fsync(\(file))") && $0.hasSuffix("= 0") }, "the file was not fsynced")
            let renamed = try #require(line(after: synced) { $0.contains("rename") && $0.contains("\"\(out)\"") && $0.hasSuffix("= 0") },
                                       "not renamed over the output after its fsync")
            let folderOpened = try #require(line(after: renamed) { $0.contains("openat(") && $0.contains("O_DIRECTORY") && $0.contains("\"\(folder)\"") },
                                            "the folder was not opened after the rename")
            let folderFD = try #require(fd(calls[folderOpened]))
            #expect(line(after: folderOpened) { $0.contains("fsync(\(folderFD))") && $0.hasSuffix("= 0") } != nil, "the folder was not fsynced")
        }
    }
}
