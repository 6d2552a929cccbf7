import Foundation
import PhotoCloudTestKit
import Testing

@Suite("photocloud stego")
struct StegoCLITests {
    static let covers = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/covers").path

    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> BinaryRunner.Outcome {
        let binary = try #require(BinaryRunner.locate(), "build the photocloud binary first (make test does)")
        let outcome = try await binary.run(arguments, environment: environment)
        #expect(!outcome.timedOut)
        return outcome
    }

    @Test func embedAndExtractRoundTrip() async throws {
        try await withTemporaryFolder { folder in
            var random = SeededRandom(seed: 3)
            let secret = (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) }
            try Data(secret).write(to: URL(fileURLWithPath: folder + "/secret.bin"))
            let embed = try await run(["stego", "embed", "--cover", Self.covers + "/coffee.png", "--payload", folder + "/secret.bin",
                                       "--out", folder + "/stego.png", "--key", "open sesame", "--bits", "2"])
            #expect(embed.status == 0, "\(embed.stderr)")
            // The key may come from the environment.
            let extract = try await run(["stego", "extract", "--in", folder + "/stego.png", "--out", folder + "/back.bin"],
                                        environment: ["PHOTOCLOUD_STEGO_KEY": "open sesame"])
            #expect(extract.status == 0, "\(extract.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/back.bin")) == Data(secret))
            // Same size as the cover.
            let capacity = try await run(["stego", "capacity", folder + "/stego.png", "--json"])
            let document = try JSONSerialization.jsonObject(with: Data(capacity.stdout.utf8)) as? [String: Any]
            #expect(document?["width"] as? Int == 600 && document?["height"] as? Int == 400)
            #expect((document?["capacity_bytes"] as? Int ?? 0) > 80_000)
        }
    }

    @Test func wrongKeyIsOneErrorAndWritesNothing() async throws {
        try await withTemporaryFolder { folder in
            try Data("hello".utf8).write(to: URL(fileURLWithPath: folder + "/m.txt"))
            _ = try await run(["stego", "embed", "--cover", Self.covers + "/chelsea.png", "--payload", folder + "/m.txt",
                               "--out", folder + "/s.png", "--key", "right"])
            let outcome = try await run(["stego", "extract", "--in", folder + "/s.png", "--out", folder + "/out.txt", "--key", "wrong"])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.hasPrefix("error: ") && outcome.stderr.contains("key"))
            #expect(!FileManager.default.fileExists(atPath: folder + "/out.txt"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["m.txt", "s.png"])
        }
    }

    @Test func tooLargeAPayloadSaysWhatCoverIsNeeded() async throws {
        try await withTemporaryFolder { folder in
            try Data(count: 200_000).write(to: URL(fileURLWithPath: folder + "/big.bin"))
            let outcome = try await run(["stego", "embed", "--cover", Self.covers + "/camera.png", "--payload", folder + "/big.bin",
                                         "--out", folder + "/s.png", "--key", "k"])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains("needs a cover of at least"))
            #expect(!FileManager.default.fileExists(atPath: folder + "/s.png"))
        }
    }

    @Test("bad covers: one error line, exit 1", arguments: ["empty", "truncated", "corrupt", "text", "huge"])
    func badCovers(kind: String) async throws {
        try await withTemporaryFolder { folder in
            let valid = try Data(contentsOf: URL(fileURLWithPath: Self.covers + "/chelsea.png"))
            let bytes: Data
            switch kind {
            case "empty": bytes = Data()
            case "truncated": bytes = valid.prefix(valid.count / 2)
            case "corrupt":
                var damaged = valid
                for index in stride(from: 200, to: damaged.count, by: 997) { damaged[index] ^= 0x55 }
                bytes = damaged
            case "text": bytes = Data("GIF89a, or rather, not a PNG at all".utf8)
            default: bytes = Data(PNGHeaderForgery.png(width: 40_000, height: 40_000))
            }
            let cover = folder + "/cover.png"
            try bytes.write(to: URL(fileURLWithPath: cover))
            try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/m.txt"))
            for arguments in [["stego", "embed", "--cover", cover, "--payload", folder + "/m.txt", "--out", folder + "/o.png", "--key", "k"],
                              ["stego", "extract", "--in", cover, "--out", folder + "/o.txt", "--key", "k"]] {
                let outcome = try await run(arguments)
                #expect(outcome.status == 1, "\(kind): \(outcome.stderr)")
                let lines = outcome.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(kind): \(outcome.stderr)")
                // A forged size is refused from the header, before any pixel buffer exists.
                if kind == "huge" { #expect(outcome.stderr.contains("more than the limit")) }
            }
            #expect(!FileManager.default.fileExists(atPath: folder + "/o.png"))
        }
    }

    @Test func missingKeyIsAUsageError() async throws {
        let outcome = try await run(["stego", "extract", "--in", "x.png", "--out", "y"], environment: ["PHOTOCLOUD_STEGO_KEY": ""])
        #expect(outcome.status == 2)
    }
}
