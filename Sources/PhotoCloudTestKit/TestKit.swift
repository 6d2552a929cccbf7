@_exported import AsyncUDP
@_exported import PhotoCloudSimulation
import Foundation

/// A fresh temporary folder, removed when `body` returns.
public func withTemporaryFolder<R>(_ body: (String) async throws -> R) async rethrows -> R {
    let path = NSTemporaryDirectory() + "photocloud-test-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}
