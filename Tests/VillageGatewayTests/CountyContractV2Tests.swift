// Contract v2 (`/v2/`): every page a box serves is valid against docs/schemas/reports-v2.schema.json,
// checked by Python's `jsonschema` (pinned in the Makefile's venv), with a report of every kind.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct CountyContractV2Tests {
    static let schema = GatewayBinary.repositoryRoot.appendingPathComponent("docs/schemas/reports-v2.schema.json").path

    /// One report of every kind the box makes, after the fixture's storm.
    static func fillEveryKind(_ fixture: CountyAPIFixture) throws {
        try fixture.fillStorm()
        let time = Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds - 3_600_000)
        let kinds: [Report.Kind] = [
            .acknowledgementRequested(level: .orange, contacts: ["张村长", "李书记"], deadline: time.adding(milliseconds: 600_000)),
            .acknowledged(level: .orange, by: "张村长", requestedAt: time),
            .acknowledged(level: .orange, by: "李书记", requestedAt: time, channel: .sms, secondsToAnswer: 42),
            .escalated(level: .orange, step: 1, contacts: ["王镇长"]),
            .escalated(level: .orange, step: 2, contacts: [], called: ["王镇长"]),
            .acknowledgementUnanswered(level: .red),
            .acknowledgementUnanswered(level: .red, unanswered: ["王镇长"]),
            .callEnded(level: .red, contact: "王镇长", reached: true, detail: "picked up, heard the warning and pressed 1"),
            .callEnded(level: nil, contact: "王镇长", reached: false, detail: "busy"),
            .answerNotTaken(phone: "+8613711112222", channel: .call, reason: "the number is not a [[contact]]"),
            .latchCleared(level: .red, by: "shell"),
            .drill(started: true, level: .yellow, by: "shell"),
            .manualLevel(level: .blue, by: "button"),
            .inputRejected(reason: "未知传感器 rain9"),
        ]
        var reports = kinds.enumerated().map { index, kind in
            OutboxReport(Report(time: time.adding(milliseconds: Int64(index) * 1_000), kind: kind, exercise: false))
        }
        reports.append(OutboxReport(
            time: time, kind: "outboxReportsLost", priority: .alarm, exercise: false,
            payload: #"{"alarms":0,"events":1,"firstLost_ms":1784000000000,"reason":"the outbox could not store them","routine":7}"#))
        reports.append(OutboxReport(
            time: time, kind: "shellAudit", priority: .event, exercise: false,
            payload: #"{"change":"rain-1h.red = 50","command":"commit","port":"socket"}"#))
        reports.append(LinkOutageReport.report(
            LinkOutage(from: time, through: time.adding(milliseconds: 600_000), downReason: "connection refused", endedBy: "netlink: eth0 up"),
            reportsWaiting: 12, utcOffsetMinutes: 480))
        // An hourly summary as a box since issue 17 stores it: its rules (one without a value yet)
        // and the 5-minute series with slots the box did not watch.
        var hourly = ObservationSummary(
            observedAtMilliseconds: time.millisecondsSinceUnixEpoch, periodMilliseconds: Milliseconds.hour, level: "orange", supplyVolts: nil,
            sensors: [
                ObservedSensor(id: "rain1", kind: "rain_gauge", faulty: false, rainMillimetersPeriod: 12.2, rainMillimeters1h: 12.2,
                               rainMillimeters5min: [nil, nil] + Array(repeating: 1.2, count: 10)),
                ObservedSensor(id: "river1", kind: "water_level", faulty: false, waterLevelMeters: 3.1,
                               waterLevelMeters5min: Array(repeating: 3.1, count: 11) + [nil]),
            ])
        hourly.rules = [
            ObservedRule(MeasureStatus(
                ruleId: "rain-1h", sensorId: "rain1", measure: .rainAccumulation(windowMilliseconds: Milliseconds.hour), value: 12.2, levelMet: .none,
                thresholds: Thresholds(blue: 35, yellow: 45, orange: 60, red: 80))),
            ObservedRule(MeasureStatus(
                ruleId: "slope-angle", sensorId: "slope1", measure: .tangentAngle, value: nil, levelMet: .none,
                thresholds: Thresholds(blue: 50, yellow: 80, orange: 85, red: 89))),
        ]
        reports.append(ObservationSummariser.report(hourly))
        _ = try fixture.outbox.appendBatch(reports)
        // The size limit's health alarm, as the outbox itself makes it when it thins.
        let small = try Outbox(path: OutboxTests.temporaryStorePath(), limits: OutboxRetentionTests.smallLimits)
        _ = try OutboxRetentionTests.fill(small)
        let health = try #require(try small.enforceSizeLimit(at: time)?.healthAlarm)
        _ = try fixture.outbox.append(health)
    }

    /// Every page of `/v2/reports`, `limit` at a time, as the box served them.
    static func pages(_ fixture: CountyAPIFixture, limit: Int) async throws -> [Data] {
        try await fixture.test { client in
            var pages: [Data] = []
            var after: Int64 = 0
            while true {
                let path = "/v2/reports?after=\(after)&limit=\(limit)"
                let (page, last, more) = try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                    #expect(response.status == .ok)
                    let data = Data(buffer: response.body)
                    let document = try JSONDecoder().decode(ReportsDocument.self, from: data)
                    return (data, document.reports.last?.sequence, document.more)
                }
                pages.append(page)
                guard more, let last else { break }
                after = last
            }
            return pages
        }
    }

    /// Runs tools/validate-json.py with the project's venv; (exit status, output).
    static func validate(_ pages: [Data]) async throws -> (Int32, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-v2-pages-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var files: [String] = []
        for (index, page) in pages.enumerated() {
            let file = directory.appendingPathComponent("page-\(index).json")
            try page.write(to: file)
            files.append(file.path)
        }
        let arguments = [GatewayBinary.repositoryRoot.appendingPathComponent("tools/validate-json.py").path, schema] + files
        let python = GatewayBinary.repositoryRoot.appendingPathComponent(".venv/bin/python").path
        // Waited for on a Dispatch thread: the cooperative pool is the in-process servers'.
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: python)
                    process.arguments = arguments
                    let output = Pipe()
                    process.standardOutput = output
                    process.standardError = output
                    try process.run()
                    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    process.waitUntilExit()
                    return (process.terminationStatus, text)
                })
            }
        }
    }

    @Test func everyPageServedIsValidAgainstThePublishedSchemaWithEveryKind() async throws {
        let fixture = try CountyAPIFixture()
        try Self.fillEveryKind(fixture)
        let pages = try await Self.pages(fixture, limit: 4)
        #expect(pages.count >= 4)
        let (status, output) = try await Self.validate(pages)
        #expect(status == 0, "\(output)")

        var kinds: Set<String> = []
        var levels: [String] = []
        for page in pages {
            let document = try JSONSerialization.jsonObject(with: page) as! [String: Any]
            #expect(document["schema"] as? String == "village-gateway/reports/2")
            for report in document["reports"] as! [[String: Any]] {
                kinds.insert(report["kind"] as! String)
                if report["kind"] as? String == "level_changed" {
                    levels.append((report["payload"] as! [String: Any])["to"] as! String)
                }
            }
        }
        #expect(kinds == Set(ReportKind.allCases.map(\.rawValue)), "kinds missing: \(Set(ReportKind.allCases.map(\.rawValue)).subtracting(kinds))")
        #expect(levels == ["yellow", "red"], "levels travel as names")
    }

    /// Each of `broken` (the page with one thing changed) is refused by the schema.
    static func expectRefused(_ broken: [String], changedFrom page: String) async throws {
        for text in broken {
            #expect(text != page)
            let (status, output) = try await validate([Data(text.utf8)])
            #expect(status == 1, "accepted: \(text)\n\(output)")
        }
    }

    @Test func theSchemaRefusesALevelAsANumberAnUnknownKindAndAMissingField() async throws {
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        let page = String(decoding: try await Self.pages(fixture, limit: 500)[0], as: UTF8.self)
        #expect(page.contains(#""to":"yellow""#))
        let broken = [
            page.replacingOccurrences(of: #""to":"yellow""#, with: #""to":2"#),
            page.replacingOccurrences(of: #""kind":"sensor_health""#, with: #""kind":"sensorHealth""#),
            page.replacingOccurrences(of: #""priority":"alarm","#, with: ""),
        ]
        try await Self.expectRefused(broken, changedFrom: page)
    }

    @Test func aSummarysRulesTravelWithTheirThresholdsAndTheSchemaHoldsThemToTheirForm() async throws {
        let fixture = try CountyAPIFixture()
        try Self.fillEveryKind(fixture)
        let page = String(decoding: try await Self.pages(fixture, limit: 500)[0], as: UTF8.self)
        #expect(page.contains(#""thresholds":{"blue":50,"orange":85,"red":89,"yellow":80}"#), "thresholds by level name")
        #expect(page.contains(#""measure":"tangent_angle""#))
        #expect(page.contains(#""rain_millimeters5min":[null,null,1.2"#), "a slot the box did not watch is null")
        let broken = [
            page.replacingOccurrences(of: #""thresholds":{"blue":"#, with: #""thresholds":{"purple":"#),
            page.replacingOccurrences(of: #""measure":"tangent_angle""#, with: #""measure":"tangentAngle""#),
            page.replacingOccurrences(of: #""level_met":"none","#, with: ""),
        ]
        try await Self.expectRefused(broken, changedFrom: page)
    }

    @Test func v1StillAnswersWithTheBoxsOwnKindsAndPayloads() async throws {
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        let path = "/v1/reports?after=0"
        try await fixture.test { client in
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                let document = try JSONDecoder().decode(ReportsDocument.self, from: Data(buffer: response.body))
                #expect(document.schema == "village-gateway/reports/1")
                #expect(document.reports[1].kind == "levelChanged")
            }
        }
    }
}

/// The county reads pages without a JSON tree (`ReportsPageReader`); it must read what the box
/// writes (`ReportsPage`) exactly, keep payload text byte for byte, and refuse what is not JSON.
@Suite struct ReportsPageReaderTests {
    static let rows = [
        ReportsPage.Row(
            sequence: 7, time: "2026-07-14T03:12:00+08:00", timeMilliseconds: 1_784_056_320_000, kind: "level_changed", priority: "alarm",
            exercise: false, payload: #"{"causes":["rain-1h","\"quoted\" \\ back\u00e9"],"from":"none","to":"red"}"#),
        ReportsPage.Row(
            sequence: 9, time: "2026-07-14T04:00:00+08:00", timeMilliseconds: 1_784_059_200_000, kind: "input_rejected", priority: "event",
            exercise: true, payload: #"{"reason":"未知传感器\n第二行\ttab 😀 \ud83d\ude00","n":[1,-2.5e3,0,true,false,null,{}]}"#),
    ]

    @Test func readsWhatTheBoxWritesAndKeepsEachPayloadsText() throws {
        let gap = WireGap(from: 8, through: 8, count: 1, reason: "store \"full\"\nthinned", recordedAt: "2026-07-14T03:30:00+08:00")
        let bytes = ReportsPage.write(
            schema: ReportsDocument.schemaVersion2, station: "0011223344", after: 6, rows: Self.rows, gaps: [gap], lastSequence: 12, more: true)
        let page = try ReportsPageReader.read(bytes)
        #expect(page.schema == "village-gateway/reports/2" && page.station == "0011223344" && page.after == 6)
        #expect(page.lastSequence == 12 && page.more)
        #expect(page.gaps == [gap])
        #expect(page.reports.map(\.payload) == Self.rows.map(\.payload), "payloads are kept as sent")
        #expect(page.reports.map(\.sequence) == [7, 9] && page.reports[1].exercise && page.reports[1].kind == "input_rejected")
        // The same page through JSONDecoder: the same fields.
        let decoded = try JSONDecoder().decode(ReportsDocument.self, from: Data(bytes))
        #expect(decoded.reports.map(\.time) == page.reports.map(\.time))
        #expect(decoded.reports.map(\.timeMilliseconds) == page.reports.map(\.timeMilliseconds))
        #expect(decoded.gaps == page.gaps)
        for (text, wire) in zip(page.reports.map(\.payload), decoded.reports) {
            #expect(JSONValue.parse(Data(text.utf8)) == wire.payload)
        }
    }

    @Test func refusesWhatIsNotAReportsPage() throws {
        let good = String(decoding: ReportsPage.write(
            schema: ReportsDocument.schemaVersion2, station: "0011223344", after: 6, rows: Self.rows, gaps: [], lastSequence: 12, more: false),
            as: UTF8.self)
        let cases: [(String, String)] = [
            (String(good.dropLast()), "ends inside"),
            (good.replacingOccurrences(of: #""to":"red"}"#, with: #""to":red}"#), "not JSON"),
            (good.replacingOccurrences(of: #"\"quoted\""#, with: #"\qquoted\""#), "bad escape"),
            (good.replacingOccurrences(of: #""sequence":7"#, with: #""sequence":7.5"#), "reports[0] \"sequence\" is not a whole number"),
            (good.replacingOccurrences(of: #""payload":{"causes""#, with: #""payload":["causes""#).replacingOccurrences(of: #""to":"red"}"#, with: #""to","red"]"#),
             "reports[0] has no JSON payload"),
            (good.replacingOccurrences(of: #","more":false"#, with: ""), "has no \"more\""),
            (good + " x", "text after the document"),
            (String(repeating: "[", count: 100), "is not an object"),
        ]
        for (text, expected) in cases {
            #expect(text != good)
            do {
                _ = try ReportsPageReader.read(Array(text.utf8))
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.contains(expected), "\(error.description) for \(text)")
            }
        }
    }
}
