// Contract v2's report kinds and payloads (docs/county-api.md, docs/schemas/): every kind named
// once, in snake_case; levels by name; field names written here by hand, so that renaming a Swift
// case or property can never change what a county receives.
import Foundation
import WarningLogic

/// Every kind of report a box sends. The raw value is the v2 wire name.
package enum ReportKind: String, CaseIterable, Sendable {
    case levelChanged = "level_changed"
    case sensorHealth = "sensor_health"
    case acknowledgementRequested = "acknowledgement_requested"
    case acknowledged = "acknowledged"
    case escalated = "escalated"
    case acknowledgementUnanswered = "acknowledgement_unanswered"
    case latchCleared = "latch_cleared"
    case drill = "drill"
    case manualLevel = "manual_level"
    case countyWarning = "county_warning"
    case inputRejected = "input_rejected"
    case callEnded = "call_ended"
    case answerNotTaken = "answer_not_taken"
    case observationSummary = "observation_summary"
    case outboxFull = "outbox_full"
    case outboxReportsLost = "outbox_reports_lost"
    case shellAudit = "shell_audit"
    case linkOutage = "link_outage"

    /// The name the box's outbox stores, and contract v1 sends.
    package var boxName: String {
        switch self {
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
        case .observationSummary: "observationSummary"
        case .outboxFull: "outboxFull"
        case .outboxReportsLost: "outboxReportsLost"
        case .shellAudit: "shellAudit"
        case .linkOutage: "linkOutage"
        }
    }

    package init?(boxName: String) {
        guard let kind = Self.byBoxName[boxName] else { return nil }
        self = kind
    }

    private static let byBoxName: [String: ReportKind] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.boxName, $0) })

    package init(_ kind: Report.Kind) {
        switch kind {
        case .levelChanged: self = .levelChanged
        case .sensorHealth: self = .sensorHealth
        case .acknowledgementRequested: self = .acknowledgementRequested
        case .acknowledged: self = .acknowledged
        case .escalated: self = .escalated
        case .acknowledgementUnanswered: self = .acknowledgementUnanswered
        case .latchCleared: self = .latchCleared
        case .drill: self = .drill
        case .manualLevel: self = .manualLevel
        case .countyWarning: self = .countyWarning
        case .inputRejected: self = .inputRejected
        case .callEnded: self = .callEnded
        case .answerNotTaken: self = .answerNotTaken
        }
    }

    /// The kinds the engine makes (their box payload is `Report.Kind`'s own encoding).
    package var isEngineKind: Bool {
        switch self {
        case .observationSummary, .outboxFull, .outboxReportsLost, .shellAudit, .linkOutage: false
        default: true
        }
    }

    /// The v2 wire name for a kind the box stores; a name outside the list (never made by this
    /// box) is put in snake_case the same way, and the schema refuses it.
    package static func wireName(boxName: String) -> String {
        ReportKind(boxName: boxName)?.rawValue ?? WirePayload.snakeCase(boxName)
    }
}

/// Why a stored payload has no v2 form: its text is not what its kind says.
package struct WirePayloadProblem: Error, CustomStringConvertible, Equatable {
    package var description: String
}

/// Contract v2 payloads, made once when a report is stored (the outbox keeps the text beside the
/// box's own form), so serving a page splices text and never parses a payload.
package enum WirePayload {
    /// The v2 payload of an engine report.
    package static func engine(_ kind: Report.Kind) -> String {
        let fields: [String: Any]
        switch kind {
        case .levelChanged(let from, let to, let causes):
            fields = ["from": from.name, "to": to.name, "causes": causes]
        case .sensorHealth(let sensorId, let faulty, let reason):
            fields = ["sensor_id": sensorId, "faulty": faulty, "reason": reason]
        case .acknowledgementRequested(let level, let contacts, let deadline):
            fields = ["level": level.name, "contacts": contacts, "deadline_ms": deadline.millisecondsSinceUnixEpoch]
        case .acknowledged(let level, let by, let requestedAt, let channel, let secondsToAnswer):
            var acknowledged: [String: Any] = ["level": level.name, "by": by, "requested_at_ms": requestedAt.millisecondsSinceUnixEpoch]
            // Absent only in reports stored before 叫应 kept how and how fast.
            if let channel { acknowledged["channel"] = channel.rawValue }
            if let secondsToAnswer { acknowledged["seconds_to_answer"] = secondsToAnswer }
            fields = acknowledged
        case .escalated(let level, let step, let contacts, let called):
            var escalated: [String: Any] = ["level": level.name, "step": step, "contacts": contacts]
            if let called { escalated["called"] = called }
            fields = escalated
        case .acknowledgementUnanswered(let level, let unanswered):
            var unansweredFields: [String: Any] = ["level": level.name]
            if let unanswered { unansweredFields["unanswered"] = unanswered }
            fields = unansweredFields
        case .callEnded(let level, let contact, let reached, let detail):
            var call: [String: Any] = ["contact": contact, "reached": reached, "detail": detail]
            if let level { call["level"] = level.name }
            fields = call
        case .answerNotTaken(let phone, let channel, let reason):
            fields = ["phone": phone, "channel": channel.rawValue, "reason": reason]
        case .latchCleared(let level, let by):
            fields = ["level": level.name, "by": by]
        case .drill(let started, let level, let by, let preemptedBy):
            var drill: [String: Any] = ["started": started, "level": level.name, "by": by]
            // Only on a drill's end: what real warning ended it early.
            if let preemptedBy { drill["preempted_by"] = preemptedBy }
            fields = drill
        case .manualLevel(let level, let by):
            fields = ["level": level.name, "by": by]
        case .countyWarning(let id, let level, let cancelled):
            fields = ["id": id, "level": level.name, "cancelled": cancelled]
        case .inputRejected(let reason):
            fields = ["reason": reason]
        }
        return text(fields)
    }

    /// The v2 payload of a stored report, from the box's kind name and payload text. Engine
    /// reports are read back into their type (`ReportContent`); the box's own records (summaries,
    /// outbox health, shell audit) are objects whose keys are put in snake_case, which the schema
    /// pins. Made once, when a report is stored (or served, for one stored before).
    package static func make(boxKind: String, boxPayload: String) throws(WirePayloadProblem) -> String {
        if let kind = ReportKind(boxName: boxKind), kind.isEngineKind {
            switch ReportContent(boxKind: boxKind, payload: boxPayload) {
            case .engine(let decoded): return engine(decoded)
            case .damaged(let reason): throw WirePayloadProblem(description: reason)
            case .observationSummary, .boxRecord: preconditionFailure("an engine kind reads as the engine's report or as damaged")
            }
        }
        // Text is parsed here, and only here besides `ReportContent`: the v2 form of a box record
        // is its own object with every key renamed, which needs the tree; its fields mean nothing
        // to this function. `ReportContent` reads a summary into its type for the consumers.
        guard let object = try? JSONSerialization.jsonObject(with: Data(boxPayload.utf8), options: [.fragmentsAllowed]) else {
            throw WirePayloadProblem(description: "a \(boxKind) report whose payload is not JSON")
        }
        return text(snakeCaseKeys(object))
    }

    /// "rainMillimeters1h" → "rain_millimeters1h", "firstLost_ms" → "first_lost_ms".
    package static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                if !result.isEmpty && !result.hasSuffix("_") { result.append("_") }
                result += character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }

    private static func snakeCaseKeys(_ value: Any) -> Any {
        switch value {
        case let object as [String: Any]:
            var converted: [String: Any] = [:]
            for (key, element) in object { converted[snakeCase(key)] = snakeCaseKeys(element) }
            return converted
        case let array as [Any]:
            return array.map(snakeCaseKeys)
        default:
            return value
        }
    }

    private static func text(_ value: Any) -> String {
        // Strings, numbers, booleans, arrays and objects of them always serialize.
        guard let text = JSONValue.sortedText(value) else { preconditionFailure("a payload of JSON values always serializes") }
        return text
    }
}
