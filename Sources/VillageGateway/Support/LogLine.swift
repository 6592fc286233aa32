// One log record as one line of text, for every handler of ours that writes lines (the shell's
// `log` ring, the `run` console): the same time, level, message and metadata everywhere.
import Logging
import TimeSeam

enum LogLine {
    /// `2026-11-22T17:40:03+08:00 notice label: message key=value …`: the box's time with its
    /// offset, the handler's metadata overridden by the record's, keys in order.
    static func format(_ event: LogEvent, handlerMetadata: Logger.Metadata, label: String? = nil, utcOffsetMinutes: Int) -> String {
        let merged = handlerMetadata.merging(event.metadata ?? [:]) { $1 }
        let extra = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = ISO8601.format(SystemClock().now(), utcOffsetMinutes: utcOffsetMinutes)
        return "\(time) \(event.level) " + (label.map { "\($0): " } ?? "") + "\(event.message)\(extra)"
    }
}
