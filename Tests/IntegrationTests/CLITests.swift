import Foundation
import PhotoCloudTestKit
import Testing

@Suite("The photocloud binary")
struct CLITests {
    static let binary = BinaryRunner.locate()

    func run(_ arguments: [String], directory: String? = nil, environment: [String: String] = [:]) async throws -> BinaryRunner.Outcome {
        let binary = try #require(Self.binary, "build the photocloud binary first (make test does)")
        let outcome = try await binary.run(arguments, environment: environment, directory: directory)
        #expect(!outcome.timedOut)
        return outcome
    }

    @Test func helpListsWhatWorks() async throws {
        let outcome = try await run(["--help"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("cluster"))
        #expect(outcome.stdout.contains("bench"))
    }

    @Test func clusterInitWritesAValidFile() async throws {
        try await withTemporaryFolder { folder in
            let outcome = try await run(["cluster", "init", "--servers", "4", "--base-port", "9300"], directory: folder)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/cluster.toml")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            // ./cluster.toml is found without --cluster.
            let shown = try await run(["cluster", "show", "--json"], directory: folder)
            #expect(shown.status == 0)
            let document = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
            let servers = try #require(document?["servers"] as? [[String: Any]])
            #expect(servers.map { $0["id"] as? Int } == [1, 2, 3, 4])
            #expect(servers.first?["control"] as? String == "127.0.0.1:9301")
            // An existing file is not replaced without --force.
            let again = try await run(["cluster", "init"], directory: folder)
            #expect(again.status == 1)
            #expect(again.stderr.hasPrefix("error: ") && again.stderr.contains("--force"))
        }
    }

    @Test func environmentVariableNamesTheClusterFile() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/other.toml"
            #expect(try await run(["cluster", "init", "--servers", "2", "--out", path]).status == 0)
            let shown = try await run(["cluster", "show"], directory: folder, environment: ["PHOTOCLOUD_CLUSTER": path])
            #expect(shown.stdout.contains("2 servers"))
            let builtIn = try await run(["cluster", "show"], directory: folder)
            #expect(builtIn.stdout.contains("built-in local layout"))
        }
    }

    @Test func badClusterFilesGiveOneErrorLine() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/bad.toml"
            try "[cluster]\nsecret = \"xyz\"\n".write(toFile: path, atomically: true, encoding: .utf8)
            for arguments in [["cluster", "show", "--cluster", path], ["cluster", "show", "--cluster", folder + "/nope.toml"]] {
                let outcome = try await run(arguments)
                #expect(outcome.status == 1)
                let lines = outcome.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(outcome.stderr)")
            }
        }
    }

    @Test func aWebPortWithoutWebIsRefusedNotIgnored() async throws {
        try await withTemporaryFolder { folder in
            let alone = try await run(["peer", "--user", "alice", "--home", folder, "--web-port", "8123"])
            #expect(alone.status == 2 && alone.stderr.contains("--web-port needs --web"), "\(alone.stderr)")
            let outOfRange = try await run(["peer", "--user", "alice", "--home", folder, "--web", "--web-port", "70000"])
            #expect(outOfRange.status == 2 && outOfRange.stderr.contains("--web-port takes 0 to 65535"), "\(outOfRange.stderr)")
            // Refused before anything started: no identity was made for alice.
            #expect(!FileManager.default.fileExists(atPath: folder + "/alice"))
        }
    }

    @Test func benchAllSaysWhatIsMissingBeforeMeasuringAnything() async throws {
        try await withTemporaryFolder { folder in
            // Outside the repository: no cover photos. Said at once, and no report folder left behind.
            let outcome = try await run(["bench", "all", "--quick", "--report", "out"], directory: folder)
            #expect(outcome.status == 1 && outcome.stderr == "error: no cover photos in Fixtures/covers: run bench all from the repository\n",
                    "\(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
            // A report folder that cannot be made: said before any cloud starts.
            try FileManager.default.createDirectory(atPath: folder + "/Fixtures/covers", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: FileManager.default.currentDirectoryPath + "/Fixtures/covers/chelsea.png",
                                             toPath: folder + "/Fixtures/covers/chelsea.png")
            #expect(FileManager.default.createFile(atPath: folder + "/taken", contents: Data("a file".utf8)))
            let blocked = try await run(["bench", "all", "--quick", "--report", "taken/report"], directory: folder)
            #expect(blocked.status == 1 && blocked.stderr.hasPrefix("error: cannot make the report's folder taken/report"), "\(blocked.stderr)")
            #expect(blocked.stdout.isEmpty, "nothing measured")
        }
    }

    @Test func aPhotoTheCloudCannotHideIsOneErrorLineBeforeAnyServerStarts() async throws {
        try await withTemporaryFolder { folder in
            // Larger than the cloud hides: refused on the file's size, not read; a missing or empty file likewise.
            let large = folder + "/large.png"
            #expect(FileManager.default.createFile(atPath: large, contents: nil))
            let handle = try #require(FileHandle(forWritingAtPath: large))
            try handle.truncate(atOffset: 64 << 20)
            try handle.close()
            let empty = folder + "/empty.png"
            #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
            for (photo, says) in [(large, "more than the limit"), (folder + "/nope.png", "cannot open"), (empty, "is empty")] {
                let outcome = try await run(["bench", "cluster", "--photo", photo])
                #expect(outcome.status == 1)
                let lines = outcome.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].hasPrefix("error: the photo to send: ") && lines[0].contains(says), "\(outcome.stderr)")
                #expect(!outcome.stdout.contains("cluster:"), "no cloud started, nothing measured")
            }
        }
    }

    @Test func simulateNamesABrokenInvariantAndHowToReplayIt() async throws {
        let clean = try await run(["simulate", "--seed", "3", "--steps", "1000"])
        #expect(clean.status == 0 && clean.stdout.contains("invariants held"), "\(clean.stdout)\(clean.stderr)")
        let again = try await run(["simulate", "--seed", "3", "--steps", "1000"])
        #expect(again.stdout == clean.stdout, "the same seed printed another report")
        let planted = try await run(["simulate", "--seed", "1", "--steps", "2000", "--bug", "double-token"])
        #expect(planted.status == 1)
        #expect(planted.stdout.contains("violation: one token holder per epoch, at ring step "), "\(planted.stdout)")
        #expect(planted.stdout.hasSuffix("replay: photocloud simulate --seed 1 --steps 2000 --bug double-token\n"))
        let unknown = try await run(["simulate", "--bug", "nonsense"])
        #expect(unknown.status == 2 && unknown.stderr.contains("nonsense"))
    }

    @Test func usageErrorsExitTwo() async throws {
        #expect(try await run(["cluster", "init", "--servers", "many"]).status == 2)
        #expect(try await run(["no-such-command"]).status == 2)
        #expect(try await run(["bench", "udp", "--roundtrips", "0"]).status == 2)
    }

    @Test func benchUDPWritesItsJSON() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/udp.json"
            let outcome = try await run(["bench", "udp", "--roundtrips", "300", "--json", path])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            for key in ["async_roundtrips_per_s", "blocking_roundtrips_per_s", "async_p50_us", "async_p99_us"] {
                #expect((document?[key] as? Double ?? 0) > 0, "\(key)")
            }
        }
    }

    @Test func benchTransferDeliversAnAnnouncedObjectIntact() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/transfer.json"
            let outcome = try await run(["bench", "transfer", "--size", "2MiB", "--loss", "0.05", "--json", path])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            #expect(document?["intact"] as? Bool == true)
        }
    }
}
