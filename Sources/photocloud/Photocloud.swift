import ArgumentParser
import Foundation
import Logging

/// The `photocloud` command: one binary for servers, peers, the steganography
/// engine and the benchmarks. Only commands that work are listed.
@main
struct Photocloud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "photocloud",
        abstract: "Peer-to-peer photo sharing with a steganographic cloud, over UDP.",
        discussion: """
            Configuration: --cluster FILE, else $PHOTOCLOUD_CLUSTER, else ./cluster.toml, \
            else the built-in local layout (3 servers on 127.0.0.1). Logs go to stderr; \
            set PHOTOCLOUD_LOG=debug for more.
            """,
        version: "0.1.0",
        subcommands: [ClusterCommand.self, ServerCommand.self, StatusCommand.self, PeerCommand.self, ShareCommand.self, AlbumCommand.self, BrowseCommand.self, RequestCommand.self, RequestsCommand.self,
                      ApproveCommand.self, DenyCommand.self, SendCommand.self, InboxCommand.self, ViewCommand.self, GrantCommand.self, WhoCommand.self, EncryptCommand.self, StegoCommand.self, BenchCommand.self, SimulateCommand.self]
    )

    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["PHOTOCLOUD_LOG"] ?? "") ?? .warning
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(reporting: error)
        }
    }

    /// The contract of every command: success exits 0; a failure prints one
    /// `error:` line on stderr and exits 1; a usage error exits 2.
    static func exit(reporting error: any Error) -> Never {
        if let message = UserFacingError.message(for: error) {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            Foundation.exit(1)
        }
        let code = exitCode(for: error)
        if code == .success {
            print(fullMessage(for: error))
            Foundation.exit(0)
        }
        if code == .validationFailure {
            FileHandle.standardError.write(Data("\(fullMessage(for: error))\n".utf8))
            Foundation.exit(2)
        }
        if let exitCode = error as? ExitCode { Foundation.exit(exitCode.rawValue) }   // already reported
        // Anything no module described still gets the one-line contract.
        let line = String(describing: error).split(separator: "\n").first.map(String.init) ?? "failed"
        FileHandle.standardError.write(Data("error: \(line)\n".utf8))
        Foundation.exit(1)
    }
}
