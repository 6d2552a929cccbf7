import Crypto
import Foundation
import PhotoCloudProtocol

/// Files named by the SHA-256 of their bytes, in one folder: written to a
/// temporary name, synced, renamed into place, and the folder synced, so
/// that a file a database row names is whole on disk before the row
/// commits. Writing the same bytes twice is one file.
public struct ObjectFiles: Sendable {
    public let folder: String

    public init(folder: String) throws(StoreError) {
        self.folder = folder
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(.io, "cannot create \(folder): \(error.localizedDescription)")
        }
    }

    public static func name(of bytes: [UInt8]) -> String {
        Hex.encode(SHA256.hash(data: bytes))
    }

    /// Stores `bytes` durably; returns their name.
    @discardableResult
    public func put(_ bytes: [UInt8]) throws(StoreError) -> String {
        let name = Self.name(of: bytes)
        let path = self.path(of: name)
        if FileManager.default.fileExists(atPath: path) { return name }
        let temporary = path + ".tmp-\(UInt64.random(in: 1...UInt64.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.error(errno, doing: "create \(temporary)") }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                unlink(temporary)
                throw Self.error(code, doing: "write \(temporary)")
            }
            written += result
        }
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            unlink(temporary)
            throw Self.error(code, doing: "sync \(temporary)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw Self.error(code, doing: "rename \(temporary)")
        }
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        return name
    }

    public func get(_ name: String) throws(StoreError) -> [UInt8] {
        guard name.utf8.count == 64, name.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw StoreError(.corrupt, "\(name.prefix(70)) is not an object name")
        }
        guard let data = FileManager.default.contents(atPath: path(of: name)) else {
            throw StoreError(.io, "\(path(of: name)) is missing")
        }
        let bytes = [UInt8](data)
        guard Self.name(of: bytes) == name else { throw StoreError(.corrupt, "\(path(of: name)) is damaged (its digest changed)") }
        return bytes
    }

    /// Deletes the file `name` (gone already is fine).
    public func remove(_ name: String) {
        unlink(path(of: name))
    }

    public func path(of name: String) -> String { (folder as NSString).appendingPathComponent(name) }

    static func error(_ code: Int32, doing what: String) -> StoreError {
        if code == ENOSPC || code == EDQUOT { return StoreError(.full, "cannot \(what): the disk is full; free space and try again") }
        return StoreError(.io, "cannot \(what): \(String(cString: strerror(code)))")
    }
}
