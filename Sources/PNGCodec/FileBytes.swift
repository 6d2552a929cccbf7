#if canImport(Glibc)
import Glibc
#endif

/// Small, careful file helpers: reading a bounded prefix, and atomic writes
/// (temporary file in the same folder, fsync, rename; nothing left on failure).
public enum FileBytes {
    /// At most `count` bytes from the start of the file.
    public static func prefix(of path: String, count: Int) throws(PNGError) -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw ioError("cannot open", path) }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
        if read < count && ferror(file) != 0 { throw ioError("cannot read", path) }
        bytes.removeSubrange(read...)
        return bytes
    }

    /// The whole file, refusing files larger than `limit` bytes.
    public static func read(_ path: String, limit: Int = 1 << 30) throws(PNGError) -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw ioError("cannot open", path) }
        defer { fclose(file) }
        var info = stat()
        guard fstat(fileno(file), &info) == 0 else { throw ioError("cannot stat", path) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw PNGError(.io, "\(path) is a folder, not a file") }
        guard Int(info.st_size) <= limit else {
            throw PNGError(.io, "\(path) is \(info.st_size) bytes, more than the limit of \(limit)")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if read > 0 {
                guard bytes.count + read <= limit else {
                    throw PNGError(.io, "\(path) is more than the limit of \(limit) bytes")
                }
                bytes.append(contentsOf: chunk[..<read])
            }
            if read < chunk.count {
                if ferror(file) != 0 { throw ioError("cannot read", path) }
                break
            }
        }
        return bytes
    }

    /// Writes `bytes` to `path` atomically and durably: to a temporary file
    /// beside it, fsynced, renamed over `path`, and the folder fsynced. On a
    /// failure the old file (if any) is untouched and no temporary file is
    /// left behind; a process killed on the way leaves the old file whole
    /// (and perhaps its temporary file).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(PNGError) {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ioError("cannot create", temporary) }
        var ok = true
        var failure = ""
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if ok && fsync(fd) != 0 {
            ok = false
            failure = String(cString: strerror(errno))
        }
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            if ok { failure = String(cString: strerror(errno)) }
            unlink(temporary)
            throw PNGError(.io, "cannot write \(path): \(failure)")
        }
        // The rename is durable only once the folder's entry is: without this, a power cut may leave the old
        // file (or none) after the call said it wrote the new one.
        let folder = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            fsync(folder)
            close(folder)
        }
    }

    /// The folder that holds `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func ioError(_ what: String, _ path: String) -> PNGError {
        PNGError(.io, "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
