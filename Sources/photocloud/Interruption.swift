import Foundation

/// Ctrl-C (SIGINT) and SIGTERM, for the commands that run until stopped:
/// the signals are taken from their default action (exit at once) and call
/// `handler` instead, so the command can stop its children or say goodbye.
/// Keep the returned value for as long as the handler should be called.
final class Interruption {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable () -> Void) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    deinit { for source in sources { source.cancel() } }
}
