// What the outbox stores: one county report with its priority, and how engine reports map onto it.
import Crypto
import Foundation
import WarningLogic

/// How urgently a report must reach the county, and whether it may ever be thinned.
/// Raw values order the send queue: alarms first.
enum OutboxPriority: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    /// Level changes, 叫应, sensor health, outbox health: never thinned, never dropped.
    case alarm = 0
    /// Drills, rejected inputs, configuration changes, shell audit: never dropped while undelivered.
    case event = 1
    /// Observation summaries: thinned oldest-first, with a recorded gap, when the store is full.
    case routine = 2

    static func < (a: OutboxPriority, b: OutboxPriority) -> Bool { a.rawValue < b.rawValue }

    var description: String {
        switch self {
        case .alarm: "alarm"
        case .event: "event"
        case .routine: "routine"
        }
    }
}

/// A report as handed to the outbox, before it has a sequence number.
struct OutboxReport: Sendable, Hashable {
    var time: Timestamp
    /// A short machine name, such as `levelChanged` or `observationSummary`.
    var kind: String
    var priority: OutboxPriority
    /// Drill reports are marked so the county never mistakes a drill for an event.
    var exercise: Bool
    /// JSON text; checked on append.
    var payload: String
    /// Where the report came from, when it may be handed over more than once: the outbox stores
    /// a report with a key it already holds only once. Engine reports get one from their content
    /// (see `engineOriginKey`), because after a kill -9 the engine owner performs an unfinished
    /// decision again and the journal replay re-decides events; summaries get one from their period.
    var originKey: String?

    init(time: Timestamp, kind: String, priority: OutboxPriority, exercise: Bool, payload: String, originKey: String? = nil) {
        self.time = time
        self.kind = kind
        self.priority = priority
        self.exercise = exercise
        self.payload = payload
        self.originKey = originKey
    }

    /// The same engine report always gets the same key: the engine is deterministic, so a
    /// re-performed or replayed decision yields byte-identical reports (time, kind, drill flag),
    /// while two real reports differ in at least one of them.
    static func engineOriginKey(time: Timestamp, kind: String, exercise: Bool, payload: String) -> String {
        let text = "\(time.millisecondsSinceUnixEpoch)\n\(kind)\n\(exercise)\n\(payload)"
        return "engine:" + SHA256.hash(data: Array(text.utf8)).hexText
    }

    /// Maps an engine report: what the engine calls an alarm is an alarm here; the rest are events.
    /// Observation summaries do not come from the engine and are built as `.routine` by their owner.
    init(_ report: Report) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding a Codable enum of strings, numbers and arrays cannot fail; if it ever did,
        // that is a programmer error, and a crash (systemd restarts us) beats a silent loss.
        let data = try! encoder.encode(report.kind)
        self.init(
            time: report.time,
            kind: Self.kindName(report.kind),
            priority: report.isAlarm ? .alarm : .event,
            exercise: report.exercise,
            payload: String(decoding: data, as: UTF8.self)
        )
        originKey = Self.engineOriginKey(time: time, kind: kind, exercise: exercise, payload: payload)
    }

    static func kindName(_ kind: Report.Kind) -> String {
        switch kind {
        case .levelChanged: "levelChanged"
        case .sensorHealth: "sensorHealth"
        case .acknowledgementRequested: "acknowledgementRequested"
        case .acknowledged: "acknowledged"
        case .escalated: "escalated"
        case .acknowledgementUnanswered: "acknowledgementUnanswered"
        case .latchCleared: "latchCleared"
        case .drill: "drill"
        case .manualLevel: "manualLevel"
        case .countyWarning: "countyWarning"
        case .inputRejected: "inputRejected"
        case .callEnded: "callEnded"
        case .answerNotTaken: "answerNotTaken"
        }
    }
}

/// A report as stored, with its sequence number and delivery time.
struct StoredOutboxReport: Sendable, Hashable {
    var sequence: Int64
    var report: OutboxReport
    var deliveredAt: Timestamp?
    /// Why the row cannot be read as a report (a bit flip, a tampered file); nil for a sound row.
    /// A damaged row's `report` holds what could be read, and is not to be served as a report.
    var damage: String? = nil
}

/// Reports the county will never receive, because the outbox thinned them to make room.
/// `count` reports between `fromSequence` and `throughSequence` (inclusive) are missing;
/// any report in that range that is not counted here was kept and is sent as usual.
struct OutboxGap: Sendable, Hashable {
    var fromSequence: Int64
    var throughSequence: Int64
    var count: Int64
    var reason: String
    var recordedAt: Timestamp
}

/// What one pull returns: reports in sequence order and the gaps that touch the same range.
struct OutboxPull: Sendable, Hashable {
    var reports: [StoredOutboxReport]
    var gaps: [OutboxGap]
}

/// How much is waiting, for the health page and the `outbox` command.
struct OutboxBacklog: Sendable, Hashable {
    var undeliveredAlarms: Int64
    var undeliveredEvents: Int64
    var undeliveredRoutine: Int64
    var delivered: Int64
    /// Bytes counted against `outboxBytesMax`.
    var storedBytes: Int64
    var oldestUndeliveredTime: Timestamp?
    /// Rows that cannot be read back as reports (a bit flip, a tampered file); served to the
    /// county as damaged, and not counted in the priorities above.
    var damaged: Int64 = 0

    var undelivered: Int64 { undeliveredAlarms + undeliveredEvents + undeliveredRoutine }
}

/// What `enforceSizeLimit` did, and the health alarm the caller must append when it did anything
/// the county needs to know about.
struct OutboxThinning: Sendable, Hashable {
    var deliveredPurged: Int64
    var routineThinned: Int64
    var gaps: [OutboxGap]
    var storedBytesAfter: Int64
    /// Still over `outboxBytesMax` because only alarms and undelivered events are left; kept anyway.
    var overLimitWithProtectedReports: Bool
    var healthAlarm: OutboxReport?
}
