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

    /// A damaged row: the outbox could not read it back, or its content is not what its kind says.
    struct Row: Equatable {
        var sequence: Int64
        var time: Timestamp
        var reason: String

        /// The row, when the outbox could not read it back.
        init?(_ stored: StoredOutboxReport) {
            guard let damage = stored.damage else { return nil }
            self.init(stored, reason: damage)
        }

        init(_ stored: StoredOutboxReport, reason: String) {
            sequence = stored.sequence
            time = stored.report.time
            self.reason = reason
        }
    }

    /// The headers for the damaged rows of an answer; empty when there are none.
    static func headerFields(_ damaged: [Row]) -> HTTPFields {
        guard !damaged.isEmpty else { return [:] }
        let items = damaged.prefix(listedMax).map { "\($0.sequence);reason=\(structuredString($0.reason))" }
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
    static func capAlert(for row: Row, station: StationIdentity) -> CAPAlert {
        let (sequence, time, reason) = (row.sequence, row.time, row.reason)
        return CAPAlert(
            identifier: CAPAlertWriter.identifier(station, sequence),
            sender: CAPAlertWriter.sender(station),
            sent: CAPAlertWriter.sentText(time, utcOffsetMinutes: station.utcOffsetMinutes),
            status: "System",
            msgType: "Alert",
            note: "damaged report \(sequence): \(reason)",
            references: nil,
            categories: ["Other"],
            event: "损坏的报告 (damaged report)",
            responseType: "None",
            urgency: "Unknown",
            severity: "Unknown",
            certainty: "Unknown",
            senderName: station.name,
            headline: "\(station.name)：第\(sequence)号报告在站内存储中损坏 (report \(sequence) is damaged in the box's store)",
            description: "报告\(sequence)无法读取，原因：\(reason)。请检查设备存储。",
            instruction: nil,
            level: .none,
            areaDescription: station.name,
            stationId: station.id)
    }
}
