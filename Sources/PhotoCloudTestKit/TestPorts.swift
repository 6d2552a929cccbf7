import Foundation
import Synchronization

/// Ports for a test's cloud that no other test can be given: each call hands
/// out a block of its own, below the kernel's ephemeral range (where a socket
/// bound to port 0 anywhere on the machine could take one), held against
/// other test processes by a lock file for this process's lifetime, and
/// checked free by binding each port a cloud of up to `maxServers` servers
/// uses (`cluster init --base-port B`: control B+1..., data B+101...).
public enum TestPorts {
    public static let blockSize = 200
    public static let maxServers = 10
    static let first = 10_000, last = 32_000
    private static let next = Mutex(0)
    private static let held = Mutex<[Int32]>([])

    /// A base port for a local cloud (`ClusterConfig.local`, `cluster init --base-port`).
    public static func cluster() -> Int {
        let folder = NSTemporaryDirectory() + "photocloud-test-ports"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let blocks = (last - first) / blockSize
        for _ in 0..<blocks {
            let index = next.withLock { index in
                defer { index = (index + 1) % blocks }
                return index
            }
            let base = first + index * blockSize
            // Another test process holds it, or had it in the same moment: the next block.
            let fd = open("\(folder)/\(base).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { continue }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                continue
            }
            held.withLock { $0.append(fd) }
            let ports = (1...maxServers).flatMap { [base + $0, base + 100 + $0] }
            if ports.allSatisfy(isFree) { return base }
        }
        fatalError("no block of \(blockSize) free ports between \(first) and \(last) (every one in use or locked)")
    }

    /// Whether a UDP socket can bind 127.0.0.1:`port` now.
    static func isFree(_ port: Int) -> Bool {
        guard let socket = try? UDPSocket(bind: .ipv4Loopback(port: UInt16(port))) else { return false }
        socket.close()
        return true
    }
}
