// When the push may use the link: the optional daily window (station-local time); alarms go at once anyway.
import WarningLogic

/// `push_window` for costly links: routine and event reports wait for the window, alarm reports
/// never wait. No window: always open.
struct PushSchedule: Sendable, Equatable {
    var window: DailyWindow?
    var utcOffsetMinutes: Int

    /// The station-local minute of the day (0–1439) at `time`.
    func minuteOfDay(at time: Timestamp) -> Int {
        let local = time.millisecondsSinceUnixEpoch + Int64(utcOffsetMinutes) * Milliseconds.minute
        let intoDay = ((local % Milliseconds.day) + Milliseconds.day) % Milliseconds.day
        return Int(intoDay / Milliseconds.minute)
    }

    func isOpen(at time: Timestamp) -> Bool {
        guard let window else { return true }
        return window.contains(minuteOfDay: minuteOfDay(at: time))
    }

    /// Whether a report of `priority` may be pushed at `time`.
    func allows(_ priority: OutboxPriority, at time: Timestamp) -> Bool {
        priority == .alarm || isOpen(at: time)
    }

    /// Milliseconds from `time` until the window next opens; 0 when it is open (or there is none).
    /// nil for an empty window (start == end), which never opens.
    func millisecondsUntilOpen(at time: Timestamp) -> Int64? {
        guard let window else { return 0 }
        if isOpen(at: time) { return 0 }
        guard window.startMinuteOfDay != window.endMinuteOfDay else { return nil }
        let local = time.millisecondsSinceUnixEpoch + Int64(utcOffsetMinutes) * Milliseconds.minute
        let intoDay = ((local % Milliseconds.day) + Milliseconds.day) % Milliseconds.day
        let start = Int64(window.startMinuteOfDay) * Milliseconds.minute
        return start > intoDay ? start - intoDay : Milliseconds.day - intoDay + start
    }
}
