// The box's side of the reports documents: pages made from the outbox's stored reports.
import CountyProtocol
import Foundation
import OutboxStore
import WarningLogic

extension ReportsDocument {
    init(station: String, after: Int64, pull: OutboxPull, lastSequence: Int64, utcOffsetMinutes: Int) throws(OutboxError) {
        var reports: [WireReport] = []
        reports.reserveCapacity(pull.reports.count)
        for stored in pull.reports { reports.append(try WireReport(stored, utcOffsetMinutes: utcOffsetMinutes)) }
        self.init(
            schema: Self.currentSchema, station: station, after: after, reports: reports,
            gaps: pull.gaps.map { WireGap($0, utcOffsetMinutes: utcOffsetMinutes) }, lastSequence: lastSequence,
            more: (reports.last?.sequence ?? after) < lastSequence)
    }
}

extension WireReport {
    init(_ stored: StoredOutboxReport, utcOffsetMinutes: Int) throws(OutboxError) {
        // The outbox checks every row it reads back; a damaged one is served as what it is, so
        // the county hears of it and its pull goes on past it (never a 503 for every pull).
        if let damage = stored.damage {
            self = Self.damaged(stored, reason: damage, utcOffsetMinutes: utcOffsetMinutes)
            return
        }
        guard let value = JSONValue.parse(Data(stored.report.payload.utf8)) else {
            self = Self.damaged(stored, reason: "stored row damaged: the payload is not JSON", utcOffsetMinutes: utcOffsetMinutes)
            return
        }
        self.init(
            sequence: stored.sequence, time: ISO8601.format(stored.report.time, utcOffsetMinutes: utcOffsetMinutes),
            timeMilliseconds: stored.report.time.millisecondsSinceUnixEpoch, kind: stored.report.kind,
            priority: stored.report.priority.description, exercise: stored.report.exercise, payload: value)
    }

    /// A damaged row on the wire: its sequence, `damaged`, the reason; kind `damaged` and
    /// priority `alarm` (someone must look), and in the payload what could still be read.
    static func damaged(_ stored: StoredOutboxReport, reason: String, utcOffsetMinutes: Int) -> WireReport {
        var readable: [String: JSONValue] = ["reason": .string(reason)]
        if !stored.report.kind.isEmpty { readable["stored_kind"] = .string(stored.report.kind) }
        if !stored.report.payload.isEmpty { readable["stored_payload"] = .string(String(stored.report.payload.prefix(damagedPayloadCharactersMax))) }
        var wire = WireReport(
            sequence: stored.sequence, time: ISO8601.format(stored.report.time, utcOffsetMinutes: utcOffsetMinutes),
            timeMilliseconds: stored.report.time.millisecondsSinceUnixEpoch, kind: damagedKind, priority: OutboxPriority.alarm.description,
            exercise: false, payload: .object(readable))
        wire.damaged = true
        wire.reason = reason
        return wire
    }

    /// Back to the outbox's form (the push tests compare with what was stored).
    func outboxReport() -> OutboxReport? {
        guard let priority = OutboxPriority.allCases.first(where: { $0.description == self.priority }) else { return nil }
        return OutboxReport(
            time: Timestamp(millisecondsSinceUnixEpoch: timeMilliseconds), kind: kind, priority: priority, exercise: exercise,
            payload: payloadText())
    }
}

extension WireGap {
    init(_ gap: OutboxGap, utcOffsetMinutes: Int) {
        self.init(
            from: gap.fromSequence, through: gap.throughSequence, count: gap.count, reason: gap.reason,
            recordedAt: ISO8601.format(gap.recordedAt, utcOffsetMinutes: utcOffsetMinutes))
    }
}
