// The `run` console's live line on a terminal: one line, redrawn in place at most a few times a
// second, never wider than the terminal (Chinese text takes two columns a character), and log
// lines printed whole above it instead of glued onto it.
import Foundation
import Logging
import Synchronization

/// Owns what `run` writes to a terminal, so the live line and the log never interleave.
final class LiveConsole: Sendable {
    /// At most two redraws a second: enough to watch a storm at --speed 60, and a serial
    /// console at 115200 baud is not flooded.
    static let redrawMillisecondsMin: Int64 = 500
    /// When the terminal does not say its width.
    static let columnsDefault = 80
    static let clearLine = "\r\u{1B}[K"

    private struct State {
        /// The text on the screen now (nil: no live line drawn, or it was finished).
        var shown: String?
        var lastDrawMilliseconds: Int64?
        var finished = false
    }

    private let state = Mutex(State())
    private let columns: @Sendable () -> Int
    private let write: @Sendable (_ standardError: Bool, _ text: String) -> Void

    init(
        columns: @escaping @Sendable () -> Int = { LiveConsole.terminalColumns() },
        write: @escaping @Sendable (_ standardError: Bool, _ text: String) -> Void = LiveConsole.writeToTerminal
    ) {
        self.columns = columns
        self.write = write
    }

    /// Draws `line` in place of the live line, cut to the terminal's width (one column spare:
    /// writing the last column makes some terminals wrap). Skipped when nothing changed or the
    /// last draw was less than `redrawMillisecondsMin` ago.
    func show(_ line: String, nowMilliseconds now: Int64) {
        let fitted = line.truncated(toColumns: max(columns() - 1, 10))
        state.withLock { state in
            guard !state.finished, fitted != state.shown,
                state.lastDrawMilliseconds.map({ now - $0 >= Self.redrawMillisecondsMin }) ?? true
            else { return }
            state.shown = fitted
            state.lastDrawMilliseconds = now
            write(false, Self.clearLine + fitted)
        }
    }

    /// A log line, whole and on its own line: the live line is cleared first and drawn again
    /// after it.
    func log(_ line: String) {
        state.withLock { state in
            guard let shown = state.shown, !state.finished else {
                write(true, line + "\n")
                return
            }
            write(false, Self.clearLine)
            write(true, line + "\n")
            write(false, shown)
        }
    }

    /// Leaves the last live line on the screen and moves below it; later log lines print plainly.
    func finish() {
        state.withLock { state in
            if state.shown != nil, !state.finished { write(false, "\n") }
            state.finished = true
        }
    }

    static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return columnsDefault }
        return Int(size.ws_col)
    }

    @Sendable static func writeToTerminal(_ standardError: Bool, _ text: String) {
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(standardError ? STDERR_FILENO : STDOUT_FILENO, $0.baseAddress! + written, bytes.count - written) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return }
            written += count
        }
    }
}

/// The stderr log when `run` has a live line on the same terminal: each record one line,
/// `2026-12-05T08:30:00+08:00 notice village-gateway: armed …`, through the console.
struct LiveConsoleLogHandler: LogHandler {
    let console: LiveConsole
    let label: String
    let utcOffsetMinutes: Int
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        console.log(LogLine.format(event, handlerMetadata: metadata, label: label, utcOffsetMinutes: utcOffsetMinutes))
    }
}
