// The daemon's recent log lines in memory, for the shell's `log [N]`: a swift-log handler that
// keeps the last lines in a bounded ring beside the stderr handler.
import Logging
import Synchronization

/// The last `linesMax` log lines, each cut to `lineCharactersMax`; older ones are forgotten (the
/// journal of systemd keeps the full log; this is what a technician at the console needs).
final class LogRing: Sendable {
    static let linesMax = 500
    static let lineCharactersMax = 400

    private struct Ring {
        var lines: [String?] = Array(repeating: nil, count: LogRing.linesMax)
        var next = 0
        var count = 0
    }

    private let ring = Mutex(Ring())

    func append(_ line: String) {
        let cut = line.count > Self.lineCharactersMax ? String(line.prefix(Self.lineCharactersMax - 1)) + "…" : line
        ring.withLock { ring in
            ring.lines[ring.next] = cut
            ring.next = (ring.next + 1) % Self.linesMax
            ring.count = min(ring.count + 1, Self.linesMax)
        }
    }

    /// The last `count` lines, oldest first.
    func last(_ count: Int) -> [String] {
        ring.withLock { ring in
            let taken = min(max(count, 0), ring.count)
            return (0..<taken).compactMap { offset in
                ring.lines[(ring.next - taken + offset + Self.linesMax) % Self.linesMax]
            }
        }
    }
}

/// Writes each log record as one line into a `LogRing`: `2026-11-22T17:40:03+08:00 notice
/// decision at …`, the box's offset, the metadata after the message as in the stderr log.
struct RingLogHandler: LogHandler {
    let ring: LogRing
    let utcOffsetMinutes: Int
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(ring: LogRing, utcOffsetMinutes: Int, logLevel: Logger.Level) {
        self.ring = ring
        self.utcOffsetMinutes = utcOffsetMinutes
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        ring.append(LogLine.format(event, handlerMetadata: metadata, utcOffsetMinutes: utcOffsetMinutes))
    }
}
