import Foundation

/// A saved fuzz input: a seed (Fuzz/corpus/<target>) or a regression
/// (Fuzz/regressions/<target>: what the fuzzers found, minimized).
public struct FuzzInput: Sendable, CustomStringConvertible {
    /// The folder it came from and its file name, e.g. "regressions/wire/crash-1f2e...".
    public let name: String
    public let bytes: [UInt8]

    public var description: String { name }
}

/// The committed inputs of each fuzz target, found from this file's place in
/// the checkout (Sources/FuzzChecks -> Fuzz), so that the regression tests
/// replay exactly what `make fuzz` starts from.
public enum FuzzInputs {
    /// The fuzz targets that have committed inputs.
    public static let targets = ["wire", "transfer", "replay", "png"]

    /// The checkout's Fuzz folder.
    public static var folder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz")
    }

    /// Every seed and regression input of `target`, in name order (empty if there are none).
    public static func all(_ target: String) -> [FuzzInput] {
        ["corpus", "regressions"].flatMap { kind in
            let directory = folder.appendingPathComponent(kind).appendingPathComponent(target)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().compactMap { name -> FuzzInput? in
                guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else { return nil }
                return FuzzInput(name: "\(kind)/\(target)/\(name)", bytes: [UInt8](data))
            }
        }
    }
}
