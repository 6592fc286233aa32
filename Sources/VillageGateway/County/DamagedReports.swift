// Damaged outbox rows in the SL 651 and CAP forms of a pull (JSON carries them in the document):
// the county hears the sequence and the reason in every format, and its pull goes on past them.
import HTTPTypes
import WarningLogic

enum DamagedReports {
    /// `X-VG-Damaged: 17;reason="…", 23;reason="…"`, a structured-field list (RFC 8941) on every
    /// format's answer whose range holds damaged rows: the one place the SL 651 form can say so.
    static let header = HTTPField.Name("X-VG-Damaged")!
    /// A header is no place for a long list: past this many, the rest are counted
    /// (`X-VG-Damaged-Count`) and the JSON form has each of them.
    static let listedMax = 32
    static let countHeader = HTTPField.Name("X-VG-Damaged-Count")!

    /// The headers for `reports`; empty when none is damaged.
    static func headerFields(_ reports: [StoredOutboxReport]) -> HTTPFields {
        let damaged = reports.filter { $0.damage != nil }
        guard !damaged.isEmpty else { return [:] }
        let items = damaged.prefix(listedMax).map { "\($0.sequence);reason=\(structuredString($0.damage ?? ""))" }
        return [header: items.joined(separator: ", "), countHeader: String(damaged.count)]
    }

    /// An RFC 8941 sf-string: printable ASCII only, `"` and `\` escaped; anything else becomes `?`.
    static func structuredString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": result += "\\" + String(scalar)
            case _ where scalar.value >= 0x20 && scalar.value < 0x7F: result.unicodeScalars.append(scalar)
            default: result += "?"
            }
        }
        return result + "\""
    }

    /// A damaged row as CAP: status `System` (an alert network's own message, which no CAP tool
    /// broadcasts to the public), the reason in `note` and the description.
    static func capAlert(for stored: StoredOutboxReport, station: StationIdentity) -> CAPAlert {
        let reason = stored.damage ?? "damaged"
        return CAPAlert(
            identifier: CAPAlertWriter.identifier(station, stored.sequence),
            sender: CAPAlertWriter.sender(station),
            sent: CAPAlertWriter.sentText(stored.report.time, utcOffsetMinutes: station.utcOffsetMinutes),
            status: "System",
            msgType: "Alert",
            note: "damaged report \(stored.sequence): \(reason)",
            references: nil,
            categories: ["Other"],
            event: "损坏的报告 (damaged report)",
            responseType: "None",
            urgency: "Unknown",
            severity: "Unknown",
            certainty: "Unknown",
            senderName: station.name,
            headline: "\(station.name)：第\(stored.sequence)号报告在站内存储中损坏 (report \(stored.sequence) is damaged in the box's store)",
            description: "报告\(stored.sequence)无法读取，原因：\(reason)。请检查设备存储。",
            instruction: nil,
            level: .none,
            areaDescription: station.name,
            stationId: station.id)
    }
}
