import AsyncUDP
import Foundation
import PNGCodec
import PhotoCloudNode
import PhotoCloudProtocol
import Steganography

/// A failure the CLI itself detects (a file it cannot write, a bad option value).
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Turns the modules' errors into the one-line message a user sees.
enum UserFacingError {
    static func message(for error: any Error) -> String? {
        switch error {
        case let error as CLIError: return error.message
        case let error as NodeError: return error.message
        case let error as PNGError: return error.message
        case let error as UDPError: return error.message
        case let error as WireError: return error.message
        case let error as StegoError: return error.message
        case let error as TransferError: return error.message
        case is CancellationError: return "interrupted"
        default: return nil
        }
    }
}
