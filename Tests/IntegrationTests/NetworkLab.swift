import Foundation
import PhotoCloudTestKit
import Synchronization

/// Hosts for a test on one machine: a network namespace each, joined by a
/// bridge of the test's own through veth pairs, with addresses of a /24 of
/// the test's own (10.231.N.0/24, N from the pid). A host's link can be cut
/// (its bridge port down) and a pair of hosts kept apart (blackhole routes
/// both ways). Needs root and iproute2; `unavailable` says why not.
final class NetworkLab: @unchecked Sendable {
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Why the lab cannot run here, or nil.
    static var unavailable: String? {
        guard getuid() == 0 else { return "several-host tests need root (network namespaces); skipped" }
        guard ip != nil else { return "several-host tests need iproute2's ip; skipped" }
        return nil
    }

    let tag: String
    let subnet: String
    private(set) var hosts: [String] = []
    private var bridge: String { "b\(tag)" }

    private static let made = Mutex(0)

    init(hosts names: [String]) throws {
        let pid = Int(getpid()), lab = Self.made.withLock { count in
            count += 1
            return count
        }
        // Names of this lab's own (interface names have at most 15 characters): the pid and the lab's number.
        tag = "pc\(pid % 10_000)x\(lab % 100)"
        subnet = "10.231.\((pid + lab) % 250)"
        try Self.run(["link", "add", bridge, "type", "bridge"])
        try Self.run(["link", "set", bridge, "up"])
        for name in names { try add(name) }
    }

    deinit { tearDown() }

    func namespace(_ host: String) -> String { "\(tag)-\(host)" }
    func address(_ host: String) -> String { "\(subnet).\(index(host) + 1)" }
    private func index(_ host: String) -> Int { hosts.firstIndex(of: host)! }
    private func outside(_ host: String) -> String { "v\(tag)\(index(host))" }

    /// The binary run on `host` (`ip netns exec`, which execs it).
    func on(_ host: String, _ binary: BinaryRunner) -> BinaryRunner {
        binary.under([Self.ip!, "netns", "exec", namespace(host)])
    }

    private func add(_ host: String) throws {
        hosts.append(host)
        let ns = namespace(host), outer = outside(host), inner = "e\(tag)\(index(host))"
        try Self.run(["netns", "add", ns])
        try Self.run(["link", "add", outer, "type", "veth", "peer", "name", inner])
        try Self.run(["link", "set", inner, "netns", ns])
        try Self.run(["-n", ns, "link", "set", inner, "name", "eth0"])
        try Self.run(["-n", ns, "addr", "add", "\(address(host))/24", "dev", "eth0"])
        try Self.run(["-n", ns, "link", "set", "eth0", "up"])
        try Self.run(["-n", ns, "link", "set", "lo", "up"])
        try Self.run(["link", "set", outer, "master", bridge])
        try Self.run(["link", "set", outer, "up"])
    }

    /// Cuts `host` off from every other host (its port on the bridge goes down).
    func cut(_ host: String) throws { try Self.run(["link", "set", outside(host), "down"]) }
    func heal(_ host: String) throws { try Self.run(["link", "set", outside(host), "up"]) }

    /// Keeps `a` and `b` apart (or lets them meet again), both ways, whatever else each reaches.
    func separate(_ a: String, _ b: String, _ apart: Bool = true) throws {
        let verb = apart ? "add" : "del"
        try Self.run(["-n", namespace(a), "route", verb, "blackhole", "\(address(b))/32"])
        try Self.run(["-n", namespace(b), "route", verb, "blackhole", "\(address(a))/32"])
    }

    func tearDown() {
        for host in hosts {
            _ = try? Self.run(["link", "del", outside(host)])
            _ = try? Self.run(["netns", "del", namespace(host)])
        }
        hosts = []
        _ = try? Self.run(["link", "del", bridge])
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip!)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw LabError("ip \(arguments.joined(separator: " ")): \(said.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return said
    }

    struct LabError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
