import Foundation
import PhotoCloudNode
import Synchronization

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

/// A byte-count bar for transfers (`label [#####.....] 42% 12.3 MB/s`), drawn
/// on stderr at most ten times a second when it is a terminal; callable from
/// any thread (transfer endpoints report from their event loops).
final class ProgressBar: Sendable {
    private let label: String
    private let enabled = isatty(STDERR_FILENO) != 0
    private let start = ContinuousClock.now
    private let lastDrawn = Mutex<ContinuousClock.Instant?>(nil)

    init(_ label: String) { self.label = label }

    func update(_ done: Int, of total: Int) {
        guard enabled, total > 0 else { return }
        let now = ContinuousClock.now
        let draw = lastDrawn.withLock { last in
            guard done == total || last.map({ now - $0 >= .milliseconds(100) }) ?? true else { return false }
            last = now
            return true
        }
        guard draw else { return }
        let fraction = Double(min(done, total)) / Double(total)
        let filled = Int(fraction * 30)
        let elapsed = now - start
        let seconds = max(1e-3, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        let line = String(format: "\r\u{1B}[K%@ [%@] %3d%% %.1f MB/s", label, bar, Int(fraction * 100), Double(done) / seconds / 1e6)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Draws the progress frames a peer daemon sends while it works for a
/// one-shot command: a bar for measured work (a new bar when the label
/// changes), a stage line otherwise; nothing when stderr is not a terminal.
final class DaemonProgress: Sendable {
    private let stages = Progress()
    private let current = Mutex<(label: String, bar: ProgressBar)?>(nil)

    func show(_ progress: LocalProgress) {
        guard progress.total > 0 else {
            stages.stage(progress.label)
            return
        }
        let bar = current.withLock { current in
            if let current, current.label == progress.label { return current.bar }
            let bar = ProgressBar(progress.label)
            current = (progress.label, bar)
            return bar
        }
        bar.update(Int(clamping: progress.done), of: Int(clamping: progress.total))
    }

    func finish() { stages.finish() }
}
