// The box's side of the reports documents: damaged rows and gaps on the wire (the pages
// themselves are written by `CountyAPI.page`, splicing each stored payload's text).
import CountyProtocol
import Foundation
import OutboxStore
import WarningLogic

extension WireReport {
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
