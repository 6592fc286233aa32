// What the outbox stores: one county report with its priority, and how engine reports map onto it.
import CountyProtocol
import Crypto
import Foundation
import WarningLogic

/// How urgently a report must reach the county, and whether it may ever be thinned.
/// Raw values order the send queue: alarms first.
package enum OutboxPriority: Int, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    /// Level changes, 叫应, sensor health, outbox health: never thinned, never dropped.
    case alarm = 0
    /// Drills, rejected inputs, configuration changes, shell audit: never dropped while undelivered.
    case event = 1
    /// Observation summaries: thinned oldest-first, with a recorded gap, when the store is full.
    case routine = 2

    package static func < (a: OutboxPriority, b: OutboxPriority) -> Bool { a.rawValue < b.rawValue }

    package var description: String {
        switch self {
        case .alarm: "alarm"
        case .event: "event"
        case .routine: "routine"
        }
    }
}

/// A report as handed to the outbox, before it has a sequence number.
package struct OutboxReport: Sendable, Hashable {
    package var time: Timestamp
    /// A short machine name, such as `levelChanged` or `observationSummary`.
    package var kind: String
    package var priority: OutboxPriority
    /// Drill reports are marked so the county never mistakes a drill for an event.
    package var exercise: Bool
    /// JSON text; checked on append.
    package var payload: String
    /// Where the report came from, when it may be handed over more than once: the outbox stores
    /// a report with a key it already holds only once. Engine reports get one from their content
    /// (see `engineOriginKey`), because after a kill -9 the engine owner performs an unfinished
    /// decision again and the journal replay re-decides events; summaries get one from their period.
    package var originKey: String?

    package init(time: Timestamp, kind: String, priority: OutboxPriority, exercise: Bool, payload: String, originKey: String? = nil) {
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
    package static func engineOriginKey(time: Timestamp, kind: String, exercise: Bool, payload: String) -> String {
        let text = "\(time.millisecondsSinceUnixEpoch)\n\(kind)\n\(exercise)\n\(payload)"
        return "engine:" + SHA256.hash(data: Array(text.utf8)).hexText
    }

    /// Maps an engine report: what the engine calls an alarm is an alarm here; the rest are events.
    /// Observation summaries do not come from the engine and are built as `.routine` by their owner.
    package init(_ report: Report) {
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

    package static func kindName(_ kind: Report.Kind) -> String {
        ReportKind(kind).boxName
    }
}

/// A report as stored, with its sequence number and delivery time.
package struct StoredOutboxReport: Sendable, Hashable {
    package var sequence: Int64
    package var report: OutboxReport
    package var deliveredAt: Timestamp?
    /// The payload in contract v2's form (`WirePayload`), made when it was stored; nil for a
    /// report stored before the outbox kept it, whose v2 form is made when it is served.
    package var wirePayload: String?
    /// Why the row cannot be read as a report (a bit flip, a tampered file); nil for a sound row.
    /// A damaged row's `report` holds what could be read, and is not to be served as a report.
    package var damage: String?

    package init(sequence: Int64, report: OutboxReport, deliveredAt: Timestamp? = nil, wirePayload: String? = nil, damage: String? = nil) {
        self.sequence = sequence
        self.report = report
        self.deliveredAt = deliveredAt
        self.wirePayload = wirePayload
        self.damage = damage
    }
}

/// Reports the county will never receive, because the outbox thinned them to make room.
/// `count` reports between `fromSequence` and `throughSequence` (inclusive) are missing;
/// any report in that range that is not counted here was kept and is sent as usual.
package struct OutboxGap: Sendable, Hashable {
    package var fromSequence: Int64
    package var throughSequence: Int64
    package var count: Int64
    package var reason: String
    package var recordedAt: Timestamp

    package init(fromSequence: Int64, throughSequence: Int64, count: Int64, reason: String, recordedAt: Timestamp) {
        self.fromSequence = fromSequence
        self.throughSequence = throughSequence
        self.count = count
        self.reason = reason
        self.recordedAt = recordedAt
    }
}

/// What one pull returns: reports in sequence order and the gaps that touch the same range.
package struct OutboxPull: Sendable, Hashable {
    package var reports: [StoredOutboxReport]
    package var gaps: [OutboxGap]

    package init(reports: [StoredOutboxReport], gaps: [OutboxGap]) {
        self.reports = reports
        self.gaps = gaps
    }
}

/// How much is waiting, for the health page and the `outbox` command.
package struct OutboxBacklog: Sendable, Hashable {
    package var undeliveredAlarms: Int64
    package var undeliveredEvents: Int64
    package var undeliveredRoutine: Int64
    package var delivered: Int64
    /// Bytes counted against `outboxBytesMax`.
    package var storedBytes: Int64
    package var oldestUndeliveredTime: Timestamp?
    /// Rows that cannot be read back as reports (a bit flip, a tampered file); served to the
    /// county as damaged, and not counted in the priorities above.
    package var damaged: Int64

    package var undelivered: Int64 { undeliveredAlarms + undeliveredEvents + undeliveredRoutine }

    package init(undeliveredAlarms: Int64, undeliveredEvents: Int64, undeliveredRoutine: Int64, delivered: Int64, storedBytes: Int64, oldestUndeliveredTime: Timestamp? = nil, damaged: Int64 = 0) {
        self.undeliveredAlarms = undeliveredAlarms
        self.undeliveredEvents = undeliveredEvents
        self.undeliveredRoutine = undeliveredRoutine
        self.delivered = delivered
        self.storedBytes = storedBytes
        self.oldestUndeliveredTime = oldestUndeliveredTime
        self.damaged = damaged
    }
}

/// What `enforceSizeLimit` did, and the health alarm the caller must append when it did anything
/// the county needs to know about.
package struct OutboxThinning: Sendable, Hashable {
    package var deliveredPurged: Int64
    package var routineThinned: Int64
    package var gaps: [OutboxGap]
    package var storedBytesAfter: Int64
    /// Still over `outboxBytesMax` because only alarms and undelivered events are left; kept anyway.
    package var overLimitWithProtectedReports: Bool
    package var healthAlarm: OutboxReport?

    package init(deliveredPurged: Int64, routineThinned: Int64, gaps: [OutboxGap], storedBytesAfter: Int64, overLimitWithProtectedReports: Bool, healthAlarm: OutboxReport? = nil) {
        self.deliveredPurged = deliveredPurged
        self.routineThinned = routineThinned
        self.gaps = gaps
        self.storedBytesAfter = storedBytesAfter
        self.overLimitWithProtectedReports = overLimitWithProtectedReports
        self.healthAlarm = healthAlarm
    }
}
