import Foundation
import PNGCodec
import PhotoCloudProtocol

/// Finding, reading and writing cluster files.
///
/// Lookup order: an explicit path (`--cluster`), then `PHOTOCLOUD_CLUSTER`,
/// then `./cluster.toml`, then the built-in local layout, whose secret is made
/// on first use and kept owner-only in the user's home
/// (`PHOTOCLOUD_HOME`, else ~/.photocloud: `local-cluster.secret`).
public enum ClusterFile {
    public static let environmentVariable = "PHOTOCLOUD_CLUSTER"
    public static let defaultName = "cluster.toml"
    public static let localSecretName = "local-cluster.secret"

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
        return try ClusterConfig.builtInLocal(secret: localSecret(home: home(environment)))
    }

    /// The user's photocloud home: `PHOTOCLOUD_HOME`, else ~/.photocloud.
    /// Without `HOME` (as under some CI runners and service managers) the
    /// account's home from the password database, never the current folder:
    /// keys and the local secret must not land in whatever folder a command
    /// happens to run in (a checkout, say, where they could be committed).
    public static func home(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let home = environment["PHOTOCLOUD_HOME"], !home.isEmpty { return home }
        if let home = environment["HOME"], !home.isEmpty {
            return (home as NSString).appendingPathComponent(".photocloud")
        }
        return (accountHome() as NSString).appendingPathComponent(".photocloud")
    }

    /// The current user's home folder from the password database; "/tmp" if
    /// the account has none.
    static func accountHome() -> String {
        if let entry = getpwuid(getuid()), let folder = entry.pointee.pw_dir {
            let path = String(cString: folder)
            if !path.isEmpty { return path }
        }
        return NSTemporaryDirectory()
    }

    /// The built-in layout's secret in `home`, made on first use (owner-only;
    /// refused if others can read it). Every process of this user on this
    /// machine finds the same one; nobody else knows it.
    public static func localSecret(home: String) throws(NodeError) -> [UInt8] {
        let path = (home as NSString).appendingPathComponent(localSecretName)
        if !FileManager.default.fileExists(atPath: path) {
            let text = Hex.encode(ClusterConfig.randomSecret()) + "\n"
            try PrivateFile.write(Array(text.utf8), to: path, what: "the built-in cloud's secret")
        }
        let bytes = try PrivateFile.read(path, what: "the built-in cloud's secret", limit: 1_024)
        guard let text = String(validating: bytes, as: UTF8.self),
              let secret = ClusterConfig.hexBytes(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              secret.count == ClusterConfig.secretLength else {
            throw NodeError(.clusterFile, "\(path) is damaged (expected 64 hex digits); remove it to make a new secret (restart the local servers then)")
        }
        return secret
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
            // The secret is private to the cloud's operators: owner-only. A public file is for everyone.
            try FileBytes.writeAtomically(Array(config.rendered().utf8), to: path, mode: config.secret == nil ? 0o644 : 0o600)
        } catch {
            throw NodeError(.io, error.message)
        }
    }
}
