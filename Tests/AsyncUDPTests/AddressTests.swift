import AsyncUDP
import Foundation
import PhotoCloudTestKit
import Testing

@Suite("Socket addresses")
struct AddressTests {
    @Test("parses and prints", arguments: [
        ("127.0.0.1:7101", "127.0.0.1:7101"),
        ("[::1]:80", "[::1]:80"),
        ("localhost:9", "127.0.0.1:9"),
        ("10.1.2.3:0", "10.1.2.3:0"),
        ("[2001:db8::5]:65535", "[2001:db8::5]:65535"),
    ])
    func parses(text: String, printed: String) throws {
        #expect(try SocketAddress(parsing: text).description == printed)
    }

    @Test("refuses bad addresses", arguments: ["", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "host.example:80", "[::1:80", "::1:80", "1.2.3:80", "127.0.0.1:-1"])
    func refuses(text: String) {
        #expect { try SocketAddress(parsing: text) } throws: { ($0 as? UDPError)?.code == .invalidAddress }
    }
}

@Suite("Test ports")
struct TestPortsTests {
    @Test func blocksNeverOverlapAndTheirPortsAreFreeBelowTheEphemeralRange() throws {
        let bases = (0..<5).map { _ in TestPorts.cluster() }
        let sorted = bases.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(b - a >= TestPorts.blockSize, "blocks \(a) and \(b) overlap") }
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let ephemeral = try #require(range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
        for base in bases {
            #expect(base + 100 + TestPorts.maxServers < ephemeral)
            // A cloud of this block can bind: its first control and data ports are free.
            let control = try UDPSocket(bind: .ipv4Loopback(port: UInt16(base + 1)))
            let data = try UDPSocket(bind: .ipv4Loopback(port: UInt16(base + 101)))
            control.close()
            data.close()
        }
    }
}

@Suite("The address toward a host")
struct LocalAddressTests {
    @Test func towardLoopbackItIsLoopbackAndNoDatagramIsSent() throws {
        let listener = try UDPSocket(bind: .ipv4Loopback(port: 0))
        defer { listener.close() }
        let local = try SocketAddress.localAddress(toward: listener.localAddress)
        #expect(local.hostString == "127.0.0.1" && local.port == 0)
        #expect(try listener.receiveNow() == nil, "finding the route sent something")
        let six = try SocketAddress.localAddress(toward: try SocketAddress(host: "::1", port: 9))
        #expect(six.hostString == "::1")
    }
}
