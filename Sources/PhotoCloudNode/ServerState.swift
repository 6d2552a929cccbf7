import Foundation
import PNGCodec
import PhotoCloudProtocol

/// The small files a server keeps in its data folder beside its database:
/// the last token epoch it generated (so that a restart never makes one
/// twice) and its last boot (so that a restart's messages are newer than any
/// of the last incarnation's: replay protection). Each written atomically.
enum ServerState {
    static let epochFileName = "epoch"
    static let bootFileName = "boot"

    static func loadEpoch(from directory: String) throws -> Epoch? {
        guard let fields = try numbers(in: epochFileName, of: directory, count: 2) else { return nil }
        return Epoch(counter: fields[0], generator: fields[1])
    }

    static func persist(_ epoch: Epoch, in directory: String) throws {
        try write("\(epoch.counter) \(epoch.generator)\n", to: epochFileName, in: directory,
                  why: "the server stops rather than risk reusing a token epoch")
    }

    /// A boot above the last one used (see `WireOrigin.nextBoot`), recorded before any message carries it.
    static func nextBoot(in directory: String) throws -> UInt64 {
        let last = try numbers(in: bootFileName, of: directory, count: 1)?.first
        let microseconds = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
        let boot = WireOrigin.nextBoot(after: last, wallClockMicroseconds: microseconds)
        try write("\(boot)\n", to: bootFileName, in: directory, why: "a server that cannot record its boot could be fed its past")
        return boot
    }

    private static func numbers(in name: String, of directory: String, count: Int) throws -> [UInt64]? {
        let path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path, limit: 256) } catch {
            throw NodeError(.io, "cannot read \(path): \(error.message)")
        }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
        guard fields.count == count else {
            throw NodeError(.io, "\(path) is damaged (expected \(count) number\(count == 1 ? "" : "s")); remove it only if no other server of this cluster used this folder")
        }
        return fields
    }

    private static func write(_ text: String, to name: String, in directory: String, why: String) throws {
        do {
            try FileBytes.writeAtomically(Array(text.utf8), to: (directory as NSString).appendingPathComponent(name))
        } catch {
            throw NodeError(.io, "cannot record \(name) in \(directory): \(error.message); \(why)")
        }
    }
}
