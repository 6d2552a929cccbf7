import Foundation
import PNGCodec

/// Finding, reading and writing cluster files.
///
/// Lookup order: an explicit path (`--cluster`), then `PHOTOCLOUD_CLUSTER`,
/// then `./cluster.toml`, then the built-in local layout.
public enum ClusterFile {
    public static let environmentVariable = "PHOTOCLOUD_CLUSTER"
    public static let defaultName = "cluster.toml"

    /// The configuration in force for a command.
    public static func resolve(
        explicit: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(NodeError) -> ClusterConfig {
        if let explicit { return try load(explicit) }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty {
            return try load(fromEnvironment)
        }
        let local = (currentDirectory as NSString).appendingPathComponent(defaultName)
        if FileManager.default.fileExists(atPath: local) { return try load(local) }
        return ClusterConfig.builtInLocal()
    }

    /// Reads and checks the cluster file at `path`.
    public static func load(_ path: String) throws(NodeError) -> ClusterConfig {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw NodeError(.clusterFile, "\(path): no such cluster file; write one with `photocloud cluster init --out \(path)`")
        }
        guard !isFolder.boolValue else { throw NodeError(.clusterFile, "\(path): is a folder, not a cluster file") }
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(path, limit: 1 << 20)
        } catch {
            throw NodeError(.clusterFile, "\(path): \(error.message)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw NodeError(.clusterFile, "\(path): not UTF-8 text")
        }
        return try ClusterConfig.parse(text, source: path)
    }

    /// Writes `config` to `path` atomically; refuses to replace a file unless `overwrite`.
    public static func write(_ config: ClusterConfig, to path: String, overwrite: Bool = false) throws(NodeError) {
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw NodeError(.clusterFile, "\(path) already exists; pass --force to replace it (its secret will change)")
        }
        do {
            // The secret is private to the cloud's operators: owner-only.
            try FileBytes.writeAtomically(Array(config.rendered().utf8), to: path, mode: 0o600)
        } catch {
            throw NodeError(.io, error.message)
        }
    }
}
