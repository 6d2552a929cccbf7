import Foundation

/// One JSON document on stdout, or in a file (written atomically).
enum JSONOutput {
    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func print(_ value: some Encodable) throws {
        Swift.print(String(decoding: try encode(value), as: UTF8.self))
    }

    /// Writes the document to `path` ("-" for stdout).
    static func write(_ value: some Encodable, to path: String) throws {
        try write(document: String(decoding: try encode(value), as: UTF8.self) + "\n", to: path)
    }

    /// A document already encoded (ending in a newline) to `path` ("-" for stdout).
    static func write(document: String, to path: String) throws {
        if path == "-" { return Swift.print(document, terminator: "") }
        do {
            try Data(document.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CLIError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
