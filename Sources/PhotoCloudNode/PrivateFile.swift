import Foundation
import PNGCodec

/// Files that hold secrets (a user's keys, the built-in cloud's secret, a
/// server's cluster file): written owner-only, and refused when they are not,
/// as ssh refuses a private key that others can read.
public enum PrivateFile {
    /// Throws unless `path` is a regular file owned by this user that no one else may read or write.
    public static func check(_ path: String, what: String) throws(NodeError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw NodeError(.io, "cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw NodeError(.io, "\(what) \(path) is not a regular file; refusing to use it")
        }
        guard info.st_uid == geteuid() else {
            throw NodeError(.io, "\(what) \(path) belongs to another user (uid \(info.st_uid)); refusing to use it")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw NodeError(.io, "\(what) \(path) is accessible by others (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`")
        }
    }

    /// Reads a private file of at most `limit` bytes after `check`.
    public static func read(_ path: String, what: String, limit: Int) throws(NodeError) -> [UInt8] {
        try check(path, what: what)
        do { return try FileBytes.read(path, limit: limit) } catch { throw NodeError(.io, "cannot read \(what) \(path): \(error.message)") }
    }

    /// Writes `bytes` owner-only and atomically, creating the folder (owner-only) if needed.
    public static func write(_ bytes: [UInt8], to path: String, what: String) throws(NodeError) {
        let folder = (path as NSString).deletingLastPathComponent
        do {
            if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
        } catch {
            throw NodeError(.io, "cannot create \(folder) for \(what): \(error.localizedDescription)")
        }
        do { try FileBytes.writeAtomically(bytes, to: path, mode: 0o600) } catch {
            throw NodeError(.io, "cannot save \(what) in \(path): \(error.message)")
        }
    }
}
