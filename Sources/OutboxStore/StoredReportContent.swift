// A stored report as a type: what CAP, SL 651 and the SL 651 centre's queries switch on.
import CountyProtocol

extension StoredOutboxReport {
    /// What the report says, read from its payload text on each call: on demand, so the JSON
    /// page, which splices the stored text as it is, never pays for a parse (issue 16 item 3).
    /// A row the outbox could not read back is `.damaged` with the outbox's reason; one whose
    /// text is JSON but not what its kind says is `.damaged` with what is wrong.
    package var content: ReportContent {
        if let damage { return .damaged(reason: damage) }
        return ReportContent(boxKind: report.kind, payload: report.payload)
    }
}
