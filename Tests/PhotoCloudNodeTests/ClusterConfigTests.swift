import Foundation
import PhotoCloudNode
import PhotoCloudTestKit
import Testing

@Suite("Cluster file")
struct ClusterConfigTests {
    static let secret = String(repeating: "ab", count: 32)

    static func text(secret: String = Self.secret, servers: [(Int, String, String)]) -> String {
        var text = "[cluster]\nsecret = \"\(secret)\"\n"
        for (id, control, data) in servers {
            text += "\n[[server]]\nid = \(id)\ncontrol = \"\(control)\"\ndata = \"\(data)\"\n"
        }
        return text
    }

    @Test func parsesAValidFile() throws {
        let config = try ClusterConfig.parse(Self.text(servers: [
            (2, "127.0.0.1:7102", "127.0.0.1:7202"), (1, "127.0.0.1:7101", "[::1]:7201"),
        ]), source: "c.toml")
        #expect(config.servers.map(\.id) == [1, 2])
        #expect(config.servers[0].data.description == "[::1]:7201")
        #expect(config.secret == [UInt8](repeating: 0xAB, count: 32))
    }

    @Test func renderedFilesParseBack() throws {
        let config = try ClusterConfig.local(servers: 5, basePort: 9000, secret: ClusterConfig.randomSecret(), source: "x")
        let parsed = try ClusterConfig.parse(config.rendered(), source: "x")
        #expect(parsed == config)
        #expect(parsed.server(id: 5)?.data.port == 9105)
    }

    @Test("each problem gets one clear message naming the file", arguments: [
        (Self.text(servers: [(1, "127.0.0.1:1", "127.0.0.1:2"), (1, "127.0.0.1:3", "127.0.0.1:4")]), "duplicate server id 1"),
        (Self.text(servers: [(1, "127.0.0.1", "127.0.0.1:2")]), "bad address"),
        (Self.text(servers: [(1, "example.com:80", "127.0.0.1:2")]), "bad address"),
        (Self.text(servers: [(1, "127.0.0.1:99999", "127.0.0.1:2")]), "bad address"),
        (Self.text(secret: "abc", servers: [(1, "127.0.0.1:1", "127.0.0.1:2")]), "secret must be 64 hex digits"),
        (Self.text(secret: String(repeating: "zz", count: 32), servers: [(1, "127.0.0.1:1", "127.0.0.1:2")]), "secret must be 64 hex digits"),
        ("[[server]]\nid = 1\ncontrol = \"127.0.0.1:1\"\ndata = \"127.0.0.1:2\"\n", "no [cluster] agreement key"),
        (Self.text(servers: []), "no [[server]] entries"),
        (Self.text(servers: [(1, "127.0.0.1:1", "127.0.0.1:1")]), "used twice"),
        (Self.text(servers: [(0, "127.0.0.1:1", "127.0.0.1:2")]), "is not between 1 and 65535"),
        ("[cluster\nsecret=", "not valid TOML"),
        ("[cluster]\nsecret = 5\n", "unexpected contents"),
    ])
    func refuses(text: String, expected: String) {
        #expect {
            try ClusterConfig.parse(text, source: "my.toml")
        } throws: { error in
            guard let error = error as? NodeError else { return false }
            return error.message.hasPrefix("my.toml: ") && error.message.contains(expected) && !error.message.contains("\n")
        }
    }

    @Test func lookupOrder() async throws {
        try await withTemporaryFolder { folder in
            let explicit = folder + "/explicit.toml", fromEnv = folder + "/env.toml"
            try ClusterFile.write(try .local(servers: 1, secret: ClusterConfig.randomSecret(), source: ""), to: explicit)
            try ClusterFile.write(try .local(servers: 2, secret: ClusterConfig.randomSecret(), source: ""), to: fromEnv)
            let environment = [ClusterFile.environmentVariable: fromEnv]
            #expect(try ClusterFile.resolve(explicit: explicit, environment: environment, currentDirectory: folder).servers.count == 1)
            #expect(try ClusterFile.resolve(explicit: nil, environment: environment, currentDirectory: folder).servers.count == 2)
            let ownHome = ["PHOTOCLOUD_HOME": folder + "/home"]
            #expect(try ClusterFile.resolve(explicit: nil, environment: ownHome, currentDirectory: folder).source == "built-in local layout")
            try ClusterFile.write(try .local(servers: 4, secret: ClusterConfig.randomSecret(), source: ""), to: folder + "/cluster.toml")
            #expect(try ClusterFile.resolve(explicit: nil, environment: ownHome, currentDirectory: folder).servers.count == 4)
        }
    }

    @Test func withoutHOMETheHomeIsTheAccountsNeverTheCurrentFolder() {
        let home = ClusterFile.home([:])
        #expect(home.hasPrefix("/"))
        #expect(home.hasSuffix("/.photocloud"))
        #expect(home != (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(".photocloud"))
        #expect(ClusterFile.home(["HOME": "/x"]) == "/x/.photocloud")
        #expect(ClusterFile.home(["HOME": "/x", "PHOTOCLOUD_HOME": "/y"]) == "/y")
    }

    @Test func missingFileAndNoClobber() async throws {
        #expect { try ClusterFile.load("/nonexistent/c.toml") } throws: {
            ($0 as? NodeError)?.message.contains("no such cluster file") == true
        }
        try await withTemporaryFolder { folder in
            let path = folder + "/c.toml"
            let config = try ClusterConfig.local(servers: 3, secret: ClusterConfig.randomSecret(), source: path)
            try ClusterFile.write(config, to: path)
            #expect(throws: NodeError.self) { try ClusterFile.write(config, to: path) }
            try ClusterFile.write(config, to: path, overwrite: true)
            #expect(try ClusterFile.load(path) == config)
        }
    }

    @Test func builtInLayoutHasThreeLoopbackServersAndASecretOfItsOwn() async throws {
        try await withTemporaryFolder { home in
            let config = try ClusterFile.resolve(explicit: nil, environment: ["PHOTOCLOUD_HOME": home], currentDirectory: home)
            #expect(config.source == ClusterConfig.builtInSource)
            #expect(config.servers.map(\.control.description) == ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"])
            #expect(config.servers.map(\.data.port) == [7201, 7202, 7203])
            // Made on first use, owner-only, the same the next time; another home has another.
            let path = home + "/" + ClusterFile.localSecretName
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode == 0o600)
            #expect(try ClusterFile.resolve(explicit: nil, environment: ["PHOTOCLOUD_HOME": home], currentDirectory: home) == config)
            let another = try await withTemporaryFolder { other throws -> [UInt8]? in
                try ClusterFile.resolve(explicit: nil, environment: ["PHOTOCLOUD_HOME": other], currentDirectory: other).secret
            }
            #expect(another != config.secret)
            // A secret others can read is refused, as ssh refuses such a key.
            chmod(path, 0o644)
            #expect { try ClusterFile.resolve(explicit: nil, environment: ["PHOTOCLOUD_HOME": home], currentDirectory: home) } throws: {
                ($0 as? NodeError)?.message.contains("chmod 600") == true
            }
        }
    }

    @Test func publicFilesCarryTheKeysButNotTheSecret() throws {
        let config = try ClusterConfig.local(servers: 3, basePort: 9000, secret: ClusterConfig.randomSecret(), source: "x")
        let text = config.publicFile.rendered()
        #expect(!text.contains("secret ="))
        let parsed = try ClusterConfig.parse(text, source: "public.toml")
        #expect(parsed.secret == nil && parsed.servers.map(\.key) == config.servers.map(\.key))
        #expect(parsed.agreement == config.agreement && config.agreementKey.map { Array($0.publicKey.rawRepresentation) } == config.agreement)
        #expect(parsed.agreementKey == nil, "a public file cannot make the cloud's side of a session")
        // The keys are the ones the secret derives: a server signs with what clients check.
        for server in config.servers {
            #expect(config.signingKey(forServer: server.id).map { Array($0.publicKey.rawRepresentation) } == server.key)
        }
        #expect(parsed.signingKey(forServer: 1) == nil)
        // A key that does not belong to the secret is refused.
        var wrong = config
        wrong.servers[0].key = config.servers[1].key
        #expect { try ClusterConfig.parse(wrong.rendered(), source: "w.toml") } throws: {
            ($0 as? NodeError)?.message.contains("does not belong to this file's secret") == true
        }
        // Without a secret every server needs its key.
        let agreement = config.agreement.map { String(format: "%02x", $0) }.joined()
        #expect { try ClusterConfig.parse("[cluster]\nagreement = \"\(agreement)\"\n[[server]]\nid = 1\ncontrol = \"127.0.0.1:1\"\ndata = \"127.0.0.1:2\"\n",
                                          source: "k.toml") } throws: {
            ($0 as? NodeError)?.message.contains("has no key") == true
        }
    }
}
