import ArgumentParser
import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import Steganography

struct EncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Have the cloud hide a file in one of its covers; writes the stego PNG.",
        discussion: """
            The request goes to every server; the holder of the work token accepts it, receives \
            the file on its data endpoint, hides it with your key in a cover large enough, and \
            sends the stego PNG back. A server that fails on the way costs only time: the request \
            is retried, with the same id, until a server answers. Recover the file with \
            `photocloud stego extract --in OUT --key KEY --out FILE`. Keys as for `stego`.
            """
    )

    @Argument(help: "The file to hide (for photos to share: already sealed for the receiver).") var file: String
    @Option(help: "Where to write the stego PNG (atomically).") var out: String
    @OptionGroup var keyOption: StegoCommand.KeyOption
    @Option(help: "Bits hidden per colour channel (1-3).") var bits: Int = 1
    @Option(help: "Cluster file (default: $PHOTOCLOUD_CLUSTER, ./cluster.toml, built-in layout).") var cluster: String?
    @Option(name: .customLong("timeout-ms"), help: "Give up after this long without an answer.") var timeoutMs: Int = 30_000

    func validate() throws {
        guard Steganographer.bitsRange.contains(bits) else { throw ValidationError("--bits must be 1, 2 or 3") }
        guard (100...3_600_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be 100 to 3600000") }
    }

    func run() async throws {
        let material = try StegoKey.material(parsing: keyOption.text())
        guard EncryptionMessage.keyBytes.contains(material.count) else {
            throw CLIError("the cloud takes keys of at most \(EncryptionMessage.keyBytes.upperBound) bytes; this one has \(material.count)")
        }
        let payload = try FileBytes.read(file, limit: EncryptionJobs<Int>.Configuration().maxPayloadBytes)
        let config = try ClusterFile.resolve(explicit: cluster)
        let client = try EncryptionClient(config: config, attempt: .init(giveUpAfter: .milliseconds(Int64(timeoutMs))))
        await client.start()
        let bar = ProgressBar("sending \((file as NSString).lastPathComponent)")
        let id = RequestID(client: UInt64.random(in: 1...UInt64.max), number: 1)
        let answer: EncryptionClient.Answer
        do {
            answer = try await client.encrypt(payload, key: material, id: id, bitsPerChannel: bits) { bar.update($0, of: $1) }
        } catch {
            bar.finish()
            await client.close()
            throw error
        }
        bar.finish()
        await client.close()
        try FileBytes.writeAtomically(answer.png, to: out)
        let size = try PNGCodec().dimensions(of: answer.png)
        let milliseconds = (answer.answeredAt - answer.startedAt).components
        let elapsed = Double(milliseconds.seconds) * 1e3 + Double(milliseconds.attoseconds) / 1e15
        print(String(format: "hid %d bytes in %@ (%dx%d) by server %llu in %.0f ms", payload.count, out, size.width, size.height, answer.server, elapsed))
    }
}
