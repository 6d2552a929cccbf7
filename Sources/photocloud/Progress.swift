import Foundation

/// Stages of long work, shown on stderr when it is a terminal and silent when piped.
struct Progress {
    let enabled = isatty(STDERR_FILENO) != 0
    private let start = ContinuousClock.now

    func stage(_ text: String) {
        guard enabled else { return }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        FileHandle.standardError.write(Data(String(format: "\r\u{1B}[K[%5.2fs] %@", seconds, text).utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
