import ArgumentParser
import Foundation
import PNGCodec
import PhotoCloudNode
import Steganography

struct StegoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stego",
        abstract: "The steganography engine alone: hide a file in a PNG cover, recover it.",
        discussion: """
            Keys: --key or $PHOTOCLOUD_STEGO_KEY; a passphrase, or hex:<digits> for raw key bytes \
            (at least 16). The payload is sealed (ChaCha20-Poly1305) and spread over the whole \
            image in a keyed order by LSB matching; a wrong key or an altered image is an error.
            """,
        subcommands: [Capacity.self, Embed.self, Extract.self]
    )

    static let keyVariable = "PHOTOCLOUD_STEGO_KEY"

    struct KeyOption: ParsableArguments {
        @Option(help: "Passphrase, or hex:<digits> (default: $PHOTOCLOUD_STEGO_KEY).")
        var key: String?

        func resolve() throws -> StegoKey { try StegoKey(parsing: text()) }

        /// The key as given, from the option or the environment.
        func text() throws -> String {
            guard let text = key ?? ProcessInfo.processInfo.environment[StegoCommand.keyVariable], !text.isEmpty else {
                throw ValidationError("no key: pass --key or set \(StegoCommand.keyVariable)")
            }
            return text
        }
    }

    struct Capacity: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "capacity", abstract: "How many payload bytes a cover holds.")

        @Argument(help: "A PNG cover (any colour type libpng reads).")
        var cover: String

        @Option(help: "Bits hidden per colour channel (1-3).")
        var bits: Int = 1

        @Flag(help: "Print one JSON document.")
        var json = false

        func validate() throws {
            guard Steganographer.bitsRange.contains(bits) else { throw ValidationError("--bits must be 1, 2 or 3") }
        }

        func run() throws {
            let size = try PNGCodec().dimensions(ofFile: cover)
            let bytes = Steganographer.capacity(width: size.width, height: size.height, bitsPerChannel: bits)
            if json {
                struct Document: Encodable { let cover: String; let width: Int; let height: Int; let bits: Int; let capacity_bytes: Int }
                try JSONOutput.print(Document(cover: cover, width: size.width, height: size.height, bits: bits, capacity_bytes: bytes))
            } else {
                print("\(cover): \(size.width)x\(size.height), holds \(bytes) bytes at \(bits) bit\(bits == 1 ? "" : "s") per channel")
            }
        }
    }

    struct Embed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "embed", abstract: "Hide a file in a cover; the output has the cover's size.")

        @Option(help: "The PNG cover.") var cover: String
        @Option(help: "The file to hide.") var payload: String
        @Option(help: "Where to write the stego PNG (atomically).") var out: String
        @OptionGroup var keyOption: KeyOption
        @Option(help: "Bits hidden per colour channel (1-3).") var bits: Int = 1

        func validate() throws {
            guard Steganographer.bitsRange.contains(bits) else { throw ValidationError("--bits must be 1, 2 or 3") }
        }

        func run() async throws {
            let key = try keyOption.resolve()
            let progress = Progress()
            progress.stage("reading \(payload)")
            let data = try FileBytes.read(payload, limit: 512 << 20)
            let image = try PNGCodec().dimensions(ofFile: cover)
            progress.stage("decoding \(cover), embedding \(data.count) bytes, encoding")
            let png = try await StegoPNG().embed(data, coverFile: cover, key: key, bitsPerChannel: bits)
            progress.stage("writing \(out)")
            try FileBytes.writeAtomically(png, to: out)
            progress.finish()
            let capacity = Steganographer.capacity(width: image.width, height: image.height, bitsPerChannel: bits)
            print("hid \(data.count) bytes in \(out) (\(image.width)x\(image.height), \(capacity > 0 ? data.count * 100 / capacity : 0)% of capacity at \(bits) bit\(bits == 1 ? "" : "s") per channel)")
        }
    }

    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "extract", abstract: "Recover a hidden file.")

        @Option(name: .customLong("in"), help: "The stego PNG.") var input: String
        @Option(help: "Where to write the recovered file (atomically).") var out: String
        @OptionGroup var keyOption: KeyOption

        func run() throws {
            let key = try keyOption.resolve()
            let progress = Progress()
            progress.stage("decoding \(input)")
            let data = try StegoPNG().extract(file: input, key: key)
            progress.stage("writing \(out)")
            try FileBytes.writeAtomically(data, to: out)
            progress.finish()
            print("recovered \(data.count) bytes into \(out)")
        }
    }
}
