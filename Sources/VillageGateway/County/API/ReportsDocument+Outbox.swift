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
        // The outbox checked the payload was JSON when it was stored; failing now means the
        // file was damaged, which the county must hear about rather than get a silent hole.
        guard let value = JSONValue.parse(Data(stored.report.payload.utf8)) else {
            throw .corrupt(path: "report \(stored.sequence)", detail: "its stored payload is not JSON")
        }
        self.init(
            sequence: stored.sequence, time: ISO8601.format(stored.report.time, utcOffsetMinutes: utcOffsetMinutes),
            timeMilliseconds: stored.report.time.millisecondsSinceUnixEpoch, kind: stored.report.kind,
            priority: stored.report.priority.description, exercise: stored.report.exercise, payload: value)
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
