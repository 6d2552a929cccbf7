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

/// Runs long synchronous work (a simulation of many seeds) on a thread of its
/// own: on the Swift runtime's cooperative pool (one thread per core) it would
/// hold a thread for seconds, and the suite's timing tests, waiting for that
/// pool, stalled for over a minute on two cores.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { done in
        Thread { done.resume(returning: body()) }.start()
    }
}
