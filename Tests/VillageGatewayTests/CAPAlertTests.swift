// CAP 1.2 alerts for the county: the mapping a county operator relies on, and schema validity
// of every alert checked by xmllint against the OASIS schema.
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct CAPAlertTests {
    let station = StationIdentity(id: "0011223344", name: "石门村", utcOffsetMinutes: 480)
    /// Typhoon Hagupit's landfall, 2020-08-04 03:30 +08:00, plus 250 ms.
    let landfall = Timestamp(millisecondsSinceUnixEpoch: 1_596_483_000_250)

    func report(_ kind: Report.Kind, exercise: Bool = false) -> Report {
        Report(time: landfall, kind: kind, exercise: exercise)
    }

    func alert(
        _ kind: Report.Kind, exercise: Bool = false, sequenceNumber: Int64 = 42,
        hazards: Set<CAPHazard> = [.flashFlood], references: CAPReference? = nil, instruction: String? = nil,
        station: StationIdentity? = nil
    ) throws -> CAPAlert {
        try #require(
            try CAPAlertWriter.alert(
                for: report(kind, exercise: exercise), sequenceNumber: sequenceNumber, station: station ?? self.station,
                hazards: hazards, references: references, instruction: instruction))
    }

    func expectValid(_ alert: CAPAlert, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try CAPSchemaValidator.validate(alert.xml)
        #expect(outcome.isValid, "xmllint refused:\n\(outcome.output)\n\(alert.xml)", sourceLocation: sourceLocation)
    }

    @Test func aFirstRiseFromNoneIsAnAlertThatTheSchemaAccepts() throws {
        let alert = try alert(.levelChanged(from: .none, to: .orange, causes: ["rain_1h"]), instruction: "山洪橙色预警，请准备转移")
        #expect(alert.msgType == "Alert")
        #expect(alert.status == "Actual")
        #expect(alert.identifier == "VG-0011223344-42")
        #expect(alert.sender == "sl651:0011223344")
        #expect(alert.sent == "2020-08-04T03:30:00+08:00")
        #expect(alert.categories == ["Met"])
        #expect(alert.event == "山洪灾害预警")
        #expect(alert.responseType == "Prepare")
        #expect([alert.urgency, alert.severity, alert.certainty] == ["Expected", "Severe", "Likely"])
        #expect(alert.description.contains("橙色预警") && alert.description.contains("准备转移") && alert.description.contains("rain_1h"))
        #expect(alert.instruction == "山洪橙色预警，请准备转移")
        #expect(alert.references == nil)
        #expect(alert.xml.hasPrefix(#"<?xml version="1.0" encoding="UTF-8"?>"#))
        #expect(alert.xml.contains(#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">"#))
        #expect(try CAPSchemaValidator.text(of: "areaDesc", in: alert.xml) == "石门村")
        #expect(try CAPSchemaValidator.text(of: "geocode", in: alert.xml).contains("SL651"))
        try expectValid(alert)
    }

    @Test func aChangeBetweenColoursIsAnUpdateReferringToTheEarlierAlert() throws {
        let earlier = CAPReference(station: station, sequenceNumber: 41, time: landfall.adding(milliseconds: -600_000))
        let alert = try alert(.levelChanged(from: .orange, to: .red, causes: ["rain_1h", "rain_3h"]), references: earlier)
        #expect(alert.msgType == "Update")
        #expect(alert.responseType == "Evacuate")
        #expect([alert.urgency, alert.severity, alert.certainty] == ["Immediate", "Extreme", "Likely"])
        #expect(alert.references == "sl651:0011223344,VG-0011223344-41,2020-08-04T03:20:00+08:00")
        #expect(try CAPSchemaValidator.text(of: "references", in: alert.xml) == alert.references)
        #expect(alert.headline.contains("立即转移"))
        try expectValid(alert)

        let lower = try self.alert(.levelChanged(from: .red, to: .yellow, causes: ["rain_24h"]))
        #expect(lower.msgType == "Update")
        #expect(lower.responseType == "Monitor")
        #expect(lower.description.contains("降为"))
        try expectValid(lower)
    }

    @Test func aReturnToNoneCancelsTheEarlierAlertWithAllClear() throws {
        let rise = try alert(.levelChanged(from: .none, to: .red, causes: ["rain_1h"]), sequenceNumber: 7)
        let cancel = try alert(.levelChanged(from: .red, to: .none, causes: []), sequenceNumber: 9, references: rise.reference)
        #expect(cancel.msgType == "Cancel")
        #expect(cancel.references == "sl651:0011223344,VG-0011223344-7,2020-08-04T03:30:00+08:00")
        #expect(cancel.responseType == "AllClear")
        #expect([cancel.urgency, cancel.severity, cancel.certainty] == ["Past", "Minor", "Observed"])
        #expect(cancel.level == .none)
        #expect(cancel.headline.contains("解除"))
        try expectValid(cancel)
        // Without a known earlier alert the cancel still goes out, without references.
        let unreferenced = try alert(.levelChanged(from: .blue, to: .none, causes: []))
        #expect(unreferenced.msgType == "Cancel" && unreferenced.references == nil)
        #expect(!unreferenced.xml.contains("<references>"))
        try expectValid(unreferenced)
    }

    @Test func aDrillIsAnExerciseTheCountyCannotMistakeForAnEvent() throws {
        let drill = try alert(.levelChanged(from: .none, to: .red, causes: ["drill"]), exercise: true, hazards: [])
        #expect(drill.status == "Exercise")
        #expect(try CAPSchemaValidator.text(of: "status", in: drill.xml) == "Exercise")
        #expect(drill.note?.contains("演练") == true)
        #expect(drill.headline.hasPrefix("【演练】"))
        // A drill's causes name no rule: the hazard is unknown, so both categories.
        #expect(drill.categories == ["Met", "Geo"])
        #expect(drill.event == "山洪地质灾害预警")
        try expectValid(drill)
        let real = try alert(.levelChanged(from: .none, to: .red, causes: ["rain_1h"]))
        #expect(real.status == "Actual" && real.note == nil && !real.headline.contains("演练"))
    }

    @Test func responseTypeAndSeverityFollowTheLevel() throws {
        let expected: [WarningLevel: [String]] = [
            .blue: ["Monitor", "Future", "Minor", "Possible"],
            .yellow: ["Monitor", "Expected", "Moderate", "Possible"],
            .orange: ["Prepare", "Expected", "Severe", "Likely"],
            .red: ["Evacuate", "Immediate", "Extreme", "Likely"],
        ]
        for level in WarningLevel.colours {
            let alert = try alert(.levelChanged(from: .none, to: level, causes: ["slope_rate"]), hazards: [.landslide])
            #expect([alert.responseType, alert.urgency, alert.severity, alert.certainty] == expected[level], "\(level)")
            #expect(alert.categories == ["Geo"] && alert.event == "地质灾害预警")
            #expect(try CAPSchemaValidator.text(of: "value", in: alert.xml) == level.name)
            try expectValid(alert)
        }
    }

    @Test func countyWarningsAcknowledgementsAndLatchesAreAlertsToo() throws {
        let county = try alert(.countyWarning(id: "HN-2020-0804-01", level: .orange, cancelled: false))
        #expect(county.msgType == "Alert" && county.responseType == "Prepare")
        #expect(county.description.contains("HN-2020-0804-01"))
        try expectValid(county)
        let countyCancel = try alert(.countyWarning(id: "HN-2020-0804-01", level: .orange, cancelled: true), references: county.reference)
        #expect(countyCancel.msgType == "Cancel" && countyCancel.responseType == "AllClear")
        try expectValid(countyCancel)

        let answered = try alert(.acknowledged(level: .red, by: "张三", requestedAt: landfall.adding(milliseconds: -60_000)))
        #expect(answered.msgType == "Update" && answered.responseType == "Evacuate")
        #expect(answered.description.contains("张三") && answered.description.contains("2020-08-04T03:29:00+08:00"))
        try expectValid(answered)

        let latch = try alert(.latchCleared(level: .red, by: "李四"))
        #expect(latch.msgType == "Update")
        // The latch's release is not a new order to evacuate.
        #expect(latch.responseType == "Monitor")
        try expectValid(latch)
    }

    @Test func everyLevelChangeRealOrDrillAndEveryHazardGivesAValidAlert() throws {
        var checked = 0
        for from in WarningLevel.allCases {
            for to in WarningLevel.allCases where to != from {
                for exercise in [false, true] {
                    for hazards: Set<CAPHazard> in [[.flashFlood], [.landslide], []] {
                        let alert = try alert(.levelChanged(from: from, to: to, causes: ["rain_1h", "latch"]), exercise: exercise, hazards: hazards)
                        let msgType = to == .none ? "Cancel" : (from == .none ? "Alert" : "Update")
                        #expect(alert.msgType == msgType, "\(from) → \(to)")
                        #expect(alert.status == (exercise ? "Exercise" : "Actual"))
                        #expect(alert.responseType == CAPAlertWriter.levelTable(to).responseType)
                        try expectValid(alert)
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 20 * 2 * 3)
    }

    @Test func reportsThatAreNotWarningsGiveNoAlert() throws {
        let kinds: [Report.Kind] = [
            .sensorHealth(sensorId: "rain", faulty: true, reason: "no data"),
            .acknowledgementRequested(level: .red, contacts: ["张三"], deadline: landfall),
            .escalated(level: .red, step: 1, contacts: ["李四"]),
            .acknowledgementUnanswered(level: .red),
            .drill(started: true, level: .red, by: "technician"),
            .manualLevel(level: .orange, by: "technician"),
            .inputRejected(reason: "unknown sensor"),
            .levelChanged(from: .red, to: .red, causes: ["rain_1h"]),
        ]
        for kind in kinds {
            let made = try CAPAlertWriter.alert(for: report(kind), sequenceNumber: 1, station: station)
            #expect(made == nil, "\(kind)")
        }
    }

    @Test func escapedTextSurvivesAParserAndTheSchema() throws {
        let tricky = StationIdentity(id: "0011223344", name: #"李家&"坳"<上>'村'"#, utcOffsetMinutes: 480)
        let message = "请注意 <紧急> & \"立即\" 转移到'安全'地点]]>\r\n第二行\u{7}结束"
        let alert = try alert(
            .levelChanged(from: .none, to: .red, causes: ["rain<1h>&"]), instruction: message, station: tricky)
        try expectValid(alert)
        #expect(try CAPSchemaValidator.text(of: "areaDesc", in: alert.xml) == tricky.name)
        #expect(try CAPSchemaValidator.text(of: "senderName", in: alert.xml) == tricky.name)
        // CR kept as a character reference; BEL (not allowed in XML 1.0) replaced by U+FFFD.
        #expect(try CAPSchemaValidator.text(of: "instruction", in: alert.xml) == "请注意 <紧急> & \"立即\" 转移到'安全'地点]]>\r\n第二行\u{FFFD}结束")
        #expect(try CAPSchemaValidator.text(of: "description", in: alert.xml).contains("rain<1h>&"))
        #expect(!alert.xml.contains("]]>"))
        #expect(CAPXMLWriter.escaped(#"a&b<c>d"e'f"#) == "a&amp;b&lt;c&gt;d&quot;e&apos;f")
    }

    @Test func sentAlwaysCarriesAnOffsetAndWholeSecondsNeverZ() throws {
        let pattern = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}/
        let cases: [(Int64, Int, String)] = [
            (1_596_483_000_250, 480, "2020-08-04T03:30:00+08:00"),
            (1_596_483_000_999, 0, "2020-08-03T19:30:00+00:00"),
            (-1, 0, "1969-12-31T23:59:59+00:00"),
            (951_881_399_250, -210, "2000-02-29T23:59:59-03:30"),
        ]
        for (milliseconds, offset, text) in cases {
            let sent = CAPAlertWriter.sentText(Timestamp(millisecondsSinceUnixEpoch: milliseconds), utcOffsetMinutes: offset)
            #expect(sent == text)
            #expect(sent.wholeMatch(of: pattern) != nil && !sent.contains("Z"))
        }
        let utcStation = StationIdentity(id: "0011223344", name: "石门村", utcOffsetMinutes: 0)
        let alert = try alert(.levelChanged(from: .none, to: .blue, causes: ["rain_1h"]), station: utcStation)
        #expect(alert.sent == "2020-08-03T19:30:00+00:00")
        try expectValid(alert)
    }

    @Test func theValidatorRejectsABrokenAlert() throws {
        let good = try alert(.levelChanged(from: .none, to: .red, causes: ["rain_1h"]))
        try expectValid(good)
        let zulu = good.xml.replacingOccurrences(of: "<sent>2020-08-04T03:30:00+08:00</sent>", with: "<sent>2020-08-03T19:30:00Z</sent>")
        #expect(zulu != good.xml)
        let zuluOutcome = try CAPSchemaValidator.validate(zulu)
        #expect(!zuluOutcome.isValid)
        #expect(zuluOutcome.output.contains("sent"))
        let fraction = good.xml.replacingOccurrences(of: "03:30:00+08:00", with: "03:30:00.250+08:00")
        #expect(try !CAPSchemaValidator.validate(fraction).isValid)
        let unknownResponse = good.xml.replacingOccurrences(of: "<responseType>Evacuate</responseType>", with: "<responseType>Run</responseType>")
        #expect(try !CAPSchemaValidator.validate(unknownResponse).isValid)
        let unescaped = good.xml.replacingOccurrences(of: "<areaDesc>石门村</areaDesc>", with: "<areaDesc>石门村 & 李家坳</areaDesc>")
        #expect(try !CAPSchemaValidator.validate(unescaped).isValid)
    }

    @Test func theSameReportGivesTheSameAlertAndANewNumberANewIdentifier() throws {
        let kind = Report.Kind.levelChanged(from: .none, to: .yellow, causes: ["rain_6h"])
        #expect(try alert(kind).xml == (try alert(kind).xml))
        #expect(try alert(kind, sequenceNumber: 43).identifier != (try alert(kind).identifier))
        let other = StationIdentity(id: "0011223355", name: "石门村", utcOffsetMinutes: 480)
        #expect(try alert(kind, station: other).identifier != (try alert(kind).identifier))
    }

    @Test func aStationThatCannotMakeAValidAlertIsRefused() {
        let bad = [
            StationIdentity(id: "00112233", name: "石门村"),
            StationIdentity(id: "00112233 4", name: "石门村"),
            StationIdentity(id: "0011223344", name: "石门村", utcOffsetMinutes: 15 * 60),
            StationIdentity(id: "0011223344", name: ""),
        ]
        for station in bad {
            #expect(throws: CAPAlertWriter.Problem.self) {
                try CAPAlertWriter.alert(
                    for: report(.levelChanged(from: .none, to: .red, causes: [])), sequenceNumber: 1, station: station)
            }
        }
        #expect(throws: CAPAlertWriter.Problem.self) {
            try CAPAlertWriter.alert(
                for: report(.levelChanged(from: .none, to: .red, causes: [])), sequenceNumber: -1, station: station)
        }
    }

    @Test func theHazardComesFromTheCausingRulesMeasures() {
        let rules = [
            Rule(id: "rain_1h", sensorId: "rain", measure: .rainAccumulation(windowMilliseconds: Milliseconds.hour), thresholds: Thresholds(red: 80)),
            Rule(id: "pond", sensorId: "level", measure: .waterLevel, thresholds: Thresholds(red: 3)),
            Rule(id: "crack", sensorId: "crack", measure: .displacementRate(spanMilliseconds: Milliseconds.day), thresholds: Thresholds(red: 10)),
            Rule(id: "angle", sensorId: "crack", measure: .tangentAngle, thresholds: Thresholds(red: 85)),
        ]
        let combined = [
            CombinedRule(id: "wet_slope", conditions: [.init(ruleId: "rain_1h", atLeast: .yellow), .init(ruleId: "crack", atLeast: .blue)], level: .orange)
        ]
        func hazards(_ causes: [String]) -> Set<CAPHazard> {
            CAPHazard.hazards(causes: causes, rules: rules, combinedRules: combined)
        }
        #expect(hazards(["rain_1h", "pond"]) == [.flashFlood])
        #expect(hazards(["angle", "latch"]) == [.landslide])
        #expect(hazards(["wet_slope"]) == [.flashFlood, .landslide])
        #expect(hazards(["manual", "county:HN-1", "drill", "gone"]).isEmpty)
        #expect(CAPAlertWriter.categories(hazards(["crack", "pond"])) == ["Met", "Geo"])
        #expect(CAPAlertWriter.event(hazards(["pond"])) == "山洪灾害预警")
    }
}
