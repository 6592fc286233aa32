// What a stored report says, as a type: the one reading of a box payload's text. The box's
// outbox, CAP, SL 651, the county API's status and the push switch on it; the county can build
// one from what it holds (to draw a report's SL 651 form) and hand it to the same mapping.
import Foundation
import WarningLogic

/// A report's content, typed. Made on demand from the stored text (`init(boxKind:payload:)`),
/// never on the JSON page path, which splices the stored text as it is.
package enum ReportContent: Sendable, Equatable {
    /// A decision of the engine (level change, 叫应, drill, county warning, …).
    case engine(Report.Kind)
    /// The routine report of one summary period.
    case observationSummary(ObservationSummary)
    /// A record the box keeps about itself (`outboxFull`, `outboxReportsLost`, `shellAudit`,
    /// `linkOutage`). No consumer in the box reads their fields (the county gets the stored text,
    /// and v2's form of it made at append), so they are typed by kind only.
    case boxRecord(ReportKind)
    /// A payload that is not what its kind says, or a kind the box never makes: served as
    /// `damaged` with the reason, in every format (issue 12).
    case damaged(reason: String)

    /// The one place a box payload's text becomes a type.
    package init(boxKind: String, payload: String) {
        guard let kind = ReportKind(boxName: boxKind) else {
            self = .damaged(reason: "the kind \(Self.quoted(boxKind)) is none the box makes")
            return
        }
        let data = Data(payload.utf8)
        switch kind {
        case .observationSummary:
            do {
                self = .observationSummary(try JSONDecoder().decode(ObservationSummary.self, from: data))
            } catch {
                self = .damaged(reason: "a \(boxKind) report whose payload is not a \(boxKind) (\(Self.describe(error)))")
            }
        case _ where !kind.isEngineKind:
            // Their text is checked as JSON when stored and when read back (`json_valid`); their
            // fields are read by nobody here, so nothing is parsed.
            self = .boxRecord(kind)
        default:
            guard let decoded = try? JSONDecoder().decode(Report.Kind.self, from: data), ReportKind(decoded) == kind else {
                self = .damaged(reason: "a \(boxKind) report whose payload is not a \(boxKind)")
                return
            }
            self = .engine(decoded)
        }
    }

    /// The reason, when the content could not be read.
    package var damage: String? {
        if case .damaged(let reason) = self { return reason }
        return nil
    }

    /// The observation summary, when that is what the report is.
    package var observationSummary: ObservationSummary? {
        if case .observationSummary(let summary) = self { return summary }
        return nil
    }

    /// The engine's report kind, when the engine made the report.
    package var engineKind: Report.Kind? {
        if case .engine(let kind) = self { return kind }
        return nil
    }

    private static func quoted(_ text: String) -> String {
        "\"" + String(text.prefix(64)) + (text.count > 64 ? "…" : "") + "\""
    }

    /// DecodingError's own description is a wall of Swift; the path and the debug text are what
    /// someone repairing the store can use.
    private static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: "no \(key.stringValue)"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?, .dataCorrupted(let context)?:
            (context.codingPath.map(\.stringValue).joined(separator: ".") + " " + context.debugDescription)
                .trimmingCharacters(in: .whitespaces)
        default: "\(error)"
        }
    }
}
