// The engine's reports as OASIS CAP 1.2 alerts for the county: the mapping and its reasons.
//
// Mapping (one `<alert>` with one `<info>` in zh-CN and one `<area>` per report):
//
// | report                                  | msgType                 | level used for <info>      |
// |-----------------------------------------|-------------------------|----------------------------|
// | levelChanged none → colour              | Alert                   | the new level              |
// | levelChanged colour → other colour      | Update                  | the new level              |
// | levelChanged colour → none              | Cancel                  | none (all clear)           |
// | countyWarning (not cancelled)           | Alert                   | the county's level         |
// | countyWarning (cancelled)               | Cancel                  | none (all clear)           |
// | acknowledged (叫应 answered)             | Update                  | the answered level         |
// | latchCleared                            | Update                  | the latched level, Monitor |
// | anything else (health, 叫应 requests,    | no CAP alert: those go  |                            |
// | escalation, drills' start, rejections)  | to the county otherwise |                            |
//
// | level  | urgency   | severity | certainty | responseType | why                                  |
// |--------|-----------|----------|-----------|--------------|--------------------------------------|
// | blue   | Future    | Minor    | Possible  | Monitor      | 四级: watch, nothing to do yet       |
// | yellow | Expected  | Moderate | Possible  | Monitor      | 三级: watch closely                  |
// | orange | Expected  | Severe   | Likely    | Prepare      | 二级: 准备转移                        |
// | red    | Immediate | Extreme  | Likely    | Evacuate     | 一级: 立即转移                        |
// | none   | Past      | Minor    | Observed  | AllClear     | the level measured has fallen back   |
//
// Certainty is never `Observed` for a colour: the box measures rain and movement, which make a
// flood or a slide likely or possible, not observed. `latchCleared` says Monitor whatever its
// level: the latch is released but the rules may still hold a level, and that level's own
// Update/Cancel carries the call to action; repeating Evacuate there would be a second, stale order.
//
// Other fields:
// - identifier `VG-<station id>-<sequence>`: the outbox's sequence number is unique and never
//   reused per station, so the pair is unique and the same report always gets the same identifier
//   (a resend after a lost answer is recognisably the same alert).
// - sender `sl651:<station id>`: the 10-digit SL 651 address the county already knows the box by.
// - sent: the report's time in the station's offset, whole seconds (`2020-08-04T03:30:00+08:00`):
//   the schema's pattern allows neither fractions nor `Z`. Seconds are floored, so a resend is
//   byte-identical.
// - status `Exercise` for drill reports (with a `<note>` and 【演练】 in the headline, so a person
//   reading only the text is not misled either), otherwise `Actual`. scope `Public`.
// - references `sender,identifier,sent` of the earlier alert when the caller knows it.
// - category/event from the hazards of the causing rules' measures (see `CAPHazard`): rain and
//   water → Met/山洪灾害预警, displacement → Geo/地质灾害预警, both or unknown (manual, county,
//   latch, drill causes only) → Met and Geo/山洪地质灾害预警.
// - instruction: the broadcast message, when the caller gives one.
// - `<parameter>` `level` = `none|blue|yellow|orange|red`, so the county need not parse Chinese.
// - area: areaDesc the village name, geocode valueName `SL651`, value the station id; with
//   `[station] latitude`/`longitude` also a `<circle>` of `villageRadiusKilometres` around the box
//   (the box does not know the village's outline; the circle says where, the geocode says which).
import WarningLogic

/// What hazard a warning is about, from the measure of the rule that caused it.
package enum CAPHazard: Hashable, Sendable, CaseIterable {
    /// Rain and water level: 山洪 (flash flood), CAP category Met.
    case flashFlood
    /// Slope displacement: 地质灾害 (landslide), CAP category Geo.
    case landslide

    package init(measure: Measure) {
        switch measure {
        case .rainAccumulation, .rainAntecedent, .waterLevel, .waterRise: self = .flashFlood
        case .displacement, .displacementRate, .tangentAngle: self = .landslide
        }
    }

    /// The hazards behind a level change's causes: rule ids map through their measure, combined
    /// rule ids through each of their conditions' rules. Causes that are not rules (`manual`,
    /// `county:<id>`, `latch`, `drill`) and unknown ids add nothing.
    package static func hazards(causes: [String], rules: [Rule], combinedRules: [CombinedRule]) -> Set<CAPHazard> {
        var measures: [String: Measure] = [:]
        for rule in rules { measures[rule.id] = rule.measure }
        var hazards: Set<CAPHazard> = []
        for cause in causes {
            if let measure = measures[cause] {
                hazards.insert(CAPHazard(measure: measure))
            } else if let combined = combinedRules.first(where: { $0.id == cause }) {
                for condition in combined.conditions {
                    if let measure = measures[condition.ruleId] { hazards.insert(CAPHazard(measure: measure)) }
                }
            }
        }
        return hazards
    }
}

/// Which earlier alert a new one refers to: CAP's `sender,identifier,sent`.
package struct CAPReference: Hashable, Sendable {
    package var sender: String
    package var identifier: String
    package var sent: String

    /// The reference of the alert this writer made (or would make) for that report.
    package init(station: StationIdentity, sequenceNumber: Int64, time: Timestamp) {
        sender = CAPAlertWriter.sender(station)
        identifier = CAPAlertWriter.identifier(station, sequenceNumber)
        sent = CAPAlertWriter.sentText(time, utcOffsetMinutes: station.utcOffsetMinutes)
    }

    package init(sender: String, identifier: String, sent: String) {
        self.sender = sender
        self.identifier = identifier
        self.sent = sent
    }

    package var text: String { sender + "," + identifier + "," + sent }
}

/// The values one alert carries, before they are written as XML; tests check the mapping here
/// and the document with a schema validator.
package struct CAPAlert: Hashable, Sendable {
    package var identifier: String
    package var sender: String
    package var sent: String
    package var status: String
    package var msgType: String
    package var note: String?
    package var references: String?
    package var categories: [String]
    package var event: String
    package var responseType: String
    package var urgency: String
    package var severity: String
    package var certainty: String
    package var senderName: String
    package var headline: String
    package var description: String
    package var instruction: String?
    package var level: WarningLevel
    package var areaDescription: String
    /// CAP's `"lat,lon radius"` (WGS-84 degrees, km), when the station's place is configured.
    package var circle: String?
    package var stationId: String

    package static let namespace = "urn:oasis:names:tc:emergency:cap:1.2"

    /// How later alerts refer to this one.
    package var reference: CAPReference { CAPReference(sender: sender, identifier: identifier, sent: sent) }

    /// The UTF-8 XML document, elements in the schema's order.
    package var xml: String {
        var writer = CAPXMLWriter()
        writer.open("alert", namespace: Self.namespace)
        writer.element("identifier", identifier)
        writer.element("sender", sender)
        writer.element("sent", sent)
        writer.element("status", status)
        writer.element("msgType", msgType)
        writer.element("scope", "Public")
        if let note { writer.element("note", note) }
        if let references { writer.element("references", references) }
        writer.open("info")
        writer.element("language", "zh-CN")
        for category in categories { writer.element("category", category) }
        writer.element("event", event)
        writer.element("responseType", responseType)
        writer.element("urgency", urgency)
        writer.element("severity", severity)
        writer.element("certainty", certainty)
        writer.element("senderName", senderName)
        writer.element("headline", headline)
        writer.element("description", description)
        if let instruction { writer.element("instruction", instruction) }
        writer.open("parameter")
        writer.element("valueName", "level")
        writer.element("value", level.name)
        writer.close()
        writer.open("area")
        writer.element("areaDesc", areaDescription)
        if let circle { writer.element("circle", circle) }
        writer.open("geocode")
        writer.element("valueName", "SL651")
        writer.element("value", stationId)
        writer.close()
        writer.close()
        writer.close()
        writer.close()
        return writer.document
    }

    package init(identifier: String, sender: String, sent: String, status: String, msgType: String, note: String? = nil, references: String? = nil, categories: [String], event: String, responseType: String, urgency: String, severity: String, certainty: String, senderName: String, headline: String, description: String, instruction: String? = nil, level: WarningLevel, areaDescription: String, circle: String? = nil, stationId: String) {
        self.identifier = identifier
        self.sender = sender
        self.sent = sent
        self.status = status
        self.msgType = msgType
        self.note = note
        self.references = references
        self.categories = categories
        self.event = event
        self.responseType = responseType
        self.urgency = urgency
        self.severity = severity
        self.certainty = certainty
        self.senderName = senderName
        self.headline = headline
        self.description = description
        self.instruction = instruction
        self.level = level
        self.areaDescription = areaDescription
        self.circle = circle
        self.stationId = stationId
    }
}

package enum CAPAlertWriter {
    package struct Problem: Error, CustomStringConvertible, Equatable {
        package var description: String

        package init(description: String) {
            self.description = description
        }
    }

    /// xs:dateTime allows offsets up to ±14:00.
    package static let utcOffsetMinutesMax = 14 * 60

    /// The CAP alert for `report`, or nil when that kind of report is not an alert (see the table
    /// at the top of this file). Throws when the station identity cannot make a valid alert: the
    /// configuration loader already refuses those, so this is the last check before the county.
    /// - sequenceNumber: the outbox's number for this report.
    /// - hazards: from `CAPHazard.hazards(causes:…)`; empty when not known.
    /// - references: the earlier alert this one updates or cancels, when known.
    /// - instruction: the broadcast message spoken for this report, when there is one.
    package static func alert(
        for report: Report,
        sequenceNumber: Int64,
        station: StationIdentity,
        hazards: Set<CAPHazard> = [],
        references: CAPReference? = nil,
        instruction: String? = nil
    ) throws(Problem) -> CAPAlert? {
        try check(station)
        guard sequenceNumber >= 0 else {
            throw Problem(description: "CAP alert: the report sequence number \(sequenceNumber) is negative")
        }
        let name = station.name
        let hazardWord = event(hazards)
        let drillPrefix = report.exercise ? "【演练】" : ""

        let msgType: String
        let level: WarningLevel
        var responseOverride: String?
        let headline: String
        let description: String
        switch report.kind {
        case .levelChanged(let from, let to, let causes):
            guard from != to else { return nil }
            let causeText = causes.isEmpty ? "" : "原因：" + causes.map(causeDescription).joined(separator: "、") + "。"
            if to == .none {
                msgType = "Cancel"
                level = .none
                headline = "\(drillPrefix)\(name)\(hazardWord)解除"
                description = "\(name)的\(from.chineseName)已解除，预警等级降为无预警。"
            } else {
                msgType = from == .none ? "Alert" : "Update"
                level = to
                let verb = to > from ? "升为" : "降为"
                headline = "\(drillPrefix)\(name)\(hazardWord)：\(to.chineseName)（\(actionWords(to))）"
                description = "\(name)预警等级由\(from.chineseName)\(verb)\(to.chineseName)，\(actionWords(to))。\(causeText)"
            }
        case .countyWarning(let id, let countyLevel, let cancelled):
            if cancelled || countyLevel == .none {
                msgType = "Cancel"
                level = .none
                headline = "\(drillPrefix)\(name)县级预警解除"
                description = "县级平台预警\(id)已取消（原为\(countyLevel.chineseName)）。"
            } else {
                msgType = "Alert"
                level = countyLevel
                headline = "\(drillPrefix)\(name)县级预警：\(countyLevel.chineseName)（\(actionWords(countyLevel))）"
                description = "\(name)收到并执行县级平台预警\(id)：\(countyLevel.chineseName)，\(actionWords(countyLevel))。"
            }
        case .acknowledged(let answered, let by, let requestedAt, _, _):
            guard answered > .none else { return nil }
            msgType = "Update"
            level = answered
            let asked = sentText(requestedAt, utcOffsetMinutes: station.utcOffsetMinutes)
            headline = "\(drillPrefix)\(name)\(answered.chineseName)已应答"
            description = "\(name)的\(answered.chineseName)（\(asked)发出叫应）已由\(by)应答。"
        case .latchCleared(let latched, let by):
            guard latched > .none else { return nil }
            msgType = "Update"
            level = latched
            responseOverride = "Monitor"
            headline = "\(drillPrefix)\(name)\(latched.chineseName)锁定已解除"
            description = "\(name)锁定的\(latched.chineseName)已由\(by)解除，预警等级此后按监测数据确定。"
        case .sensorHealth, .acknowledgementRequested, .escalated, .acknowledgementUnanswered,
            .drill, .manualLevel, .inputRejected, .callEnded, .answerNotTaken:
            return nil
        }

        let table = levelTable(level)
        return CAPAlert(
            identifier: identifier(station, sequenceNumber),
            sender: sender(station),
            sent: sentText(report.time, utcOffsetMinutes: station.utcOffsetMinutes),
            status: report.exercise ? "Exercise" : "Actual",
            msgType: msgType,
            note: report.exercise ? "演练，非真实预警 (drill, not a real warning)" : nil,
            references: references?.text,
            categories: categories(hazards),
            event: hazardWord,
            responseType: responseOverride ?? table.responseType,
            urgency: table.urgency,
            severity: table.severity,
            certainty: table.certainty,
            senderName: name,
            headline: headline,
            description: description,
            instruction: instruction.flatMap { $0.isEmpty ? nil : $0 },
            level: level,
            areaDescription: name,
            circle: circle(station),
            stationId: station.id
        )
    }

    /// The circle drawn around a box with coordinates: about a hill village's extent.
    package static let villageRadiusKilometres = 1.0

    /// `"28.13520,120.95710 1.0"`; nil without both coordinates.
    package static func circle(_ station: StationIdentity) -> String? {
        guard let latitude = station.latitude, let longitude = station.longitude else { return nil }
        return "\(fixed5(latitude)),\(fixed5(longitude)) \(villageRadiusKilometres)"
    }

    /// Five decimals (about a metre) without Foundation: WarningLogic's numbers stay plain.
    static func fixed5(_ value: Double) -> String {
        let scaled = Int64((abs(value) * 100_000).rounded())
        let fraction = String(scaled % 100_000)
        return (value < 0 && scaled != 0 ? "-" : "") + "\(scaled / 100_000)." + String(repeating: "0", count: 5 - fraction.count) + fraction
    }

    package static func identifier(_ station: StationIdentity, _ sequenceNumber: Int64) -> String {
        "VG-\(station.id)-\(sequenceNumber)"
    }

    package static func sender(_ station: StationIdentity) -> String { "sl651:\(station.id)" }

    /// Whole seconds, floored (also before 1970), with the station's `±hh:mm`.
    package static func sentText(_ time: Timestamp, utcOffsetMinutes: Int) -> String {
        let milliseconds = time.millisecondsSinceUnixEpoch
        let remainder = ((milliseconds % 1000) + 1000) % 1000
        let seconds = Timestamp(millisecondsSinceUnixEpoch: milliseconds - remainder)
        return ISO8601.format(seconds, utcOffsetMinutes: utcOffsetMinutes)
    }

    package struct LevelValues: Equatable {
        package var urgency: String
        package var severity: String
        package var certainty: String
        package var responseType: String

        package init(urgency: String, severity: String, certainty: String, responseType: String) {
            self.urgency = urgency
            self.severity = severity
            self.certainty = certainty
            self.responseType = responseType
        }
    }

    package static func levelTable(_ level: WarningLevel) -> LevelValues {
        switch level {
        case .none: LevelValues(urgency: "Past", severity: "Minor", certainty: "Observed", responseType: "AllClear")
        case .blue: LevelValues(urgency: "Future", severity: "Minor", certainty: "Possible", responseType: "Monitor")
        case .yellow: LevelValues(urgency: "Expected", severity: "Moderate", certainty: "Possible", responseType: "Monitor")
        case .orange: LevelValues(urgency: "Expected", severity: "Severe", certainty: "Likely", responseType: "Prepare")
        case .red: LevelValues(urgency: "Immediate", severity: "Extreme", certainty: "Likely", responseType: "Evacuate")
        }
    }

    /// What the village is to do, in the words the broadcast uses.
    package static func actionWords(_ level: WarningLevel) -> String {
        switch level {
        case .none: "解除"
        case .blue, .yellow: "注意防范"
        case .orange: "准备转移"
        case .red: "立即转移"
        }
    }

    package static func event(_ hazards: Set<CAPHazard>) -> String {
        switch (hazards.contains(.flashFlood), hazards.contains(.landslide)) {
        case (true, false): "山洪灾害预警"
        case (false, true): "地质灾害预警"
        default: "山洪地质灾害预警"
        }
    }

    package static func categories(_ hazards: Set<CAPHazard>) -> [String] {
        switch (hazards.contains(.flashFlood), hazards.contains(.landslide)) {
        case (true, false): ["Met"]
        case (false, true): ["Geo"]
        default: ["Met", "Geo"]
        }
    }

    /// A cause as a person reads it; rule ids are the county's own names and stay as they are.
    package static func causeDescription(_ cause: String) -> String {
        switch cause {
        case "manual": "人工设定"
        case "latch": "锁定保持"
        case "drill": "演练"
        default:
            cause.hasPrefix("county:") ? "县级平台预警" + cause.dropFirst("county:".count) : "规则" + cause
        }
    }

    /// The identity must make a valid sender and identifier (CAP forbids spaces, commas, `<` and
    /// `&` there) and a schema-valid offset.
    package static func check(_ station: StationIdentity) throws(Problem) {
        guard station.id.utf8.count == 10, station.id.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw Problem(description: "CAP alert: station id \"\(station.id)\" is not the 10-digit SL 651 address")
        }
        guard abs(station.utcOffsetMinutes) <= utcOffsetMinutesMax else {
            throw Problem(description: "CAP alert: UTC offset \(station.utcOffsetMinutes) min is beyond ±14:00")
        }
        guard !station.name.isEmpty else {
            throw Problem(description: "CAP alert: the station has no name for areaDesc")
        }
    }
}
