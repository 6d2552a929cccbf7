import AsyncUDP
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
