// Issue 16 item 2: a stored report keeps its type after the engine. Every consumer (SL 651 in
// the pull and the push, CAP, the centre's 38H query) switches on `ReportContent`; a payload
// that is JSON but not what its kind says is damaged in each of them, never silently skipped;
// the county gets the box's SL 651 bytes from a report it holds.
import Foundation
import GRDB
import HummingbirdTesting
import Logging
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct TypedReportTests {
    /// Rewrites a stored payload behind the outbox's back with JSON of the wrong shape, as a
    /// tampered file or a flip that still leaves valid JSON would: the outbox's own read-back
    /// check (`json_valid`) passes it, only reading its content finds it.
    static func tamper(_ outbox: Outbox, sequence: Int64, payload: String) throws {
        let queue = try DatabaseQueue(path: outbox.path)
        try queue.write { try $0.execute(sql: "UPDATE reports SET payload = ? WHERE sequence = ?", arguments: [payload, sequence]) }
    }

    /// The storm of `CountyAPIFixture` (summary, level change to yellow, sensor health, county
    /// warning, drill to red) with the summary, the level change and the county warning tampered.
    static func tamperedStorm() throws -> (fixture: CountyAPIFixture, sequences: [Int64]) {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        try tamper(fixture.outbox, sequence: sequences[0], payload: #"{"level":3}"#)
        let rejected = OutboxReport(Report(time: Timestamp(millisecondsSinceUnixEpoch: 0), kind: .inputRejected(reason: "x"), exercise: false))
        try tamper(fixture.outbox, sequence: sequences[1], payload: rejected.payload)
        try tamper(fixture.outbox, sequence: sequences[3], payload: #"{"nonsense":true}"#)
        return (fixture, sequences)
    }

    /// A signed GET of the fixture's pull API.
    static func get(_ path: String, from fixture: CountyAPIFixture) async throws -> TestResponse {
        try await fixture.test { client in try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) }
    }

    // MARK: The one reading

    @Test func everyKindTheBoxStoresReadsBackAsItsType() throws {
        let fixture = try CountyAPIFixture()
        let storm = try fixture.fillStorm()
        let time = Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds)
        let records = try fixture.outbox.appendBatch([
            OutboxReport(time: time, kind: "shellAudit", priority: .event, exercise: false, payload: #"{"change":"x","command":"set","port":"console"}"#),
            OutboxReport(time: time, kind: "outboxReportsLost", priority: .alarm, exercise: false, payload: #"{"alarms":1,"events":0,"routine":2}"#),
            LinkOutageReport.report(
                LinkOutage(from: time.adding(milliseconds: -60_000), through: time, downReason: "refused", endedBy: "probe"), reportsWaiting: 3,
                utcOffsetMinutes: 480),
        ])
        let contents = try fixture.outbox.reports(after: 0, limit: 100).reports.map(\.content)
        let summary = try #require(contents[0].observationSummary)
        #expect(summary.supplyVolts == 12.5 && summary.sensors.map(\.id) == ["rain1", "river1"] && summary.sensors[1].waterLevelMeters == 10.49)
        #expect(contents[1] == .engine(.levelChanged(from: .none, to: .yellow, causes: ["rain-1h"])))
        #expect(contents[2] == .engine(.sensorHealth(sensorId: "slope1", faulty: true, reason: "no data for 30m")))
        #expect(contents[3] == .engine(.countyWarning(id: "county-1", level: .orange, cancelled: false)))
        #expect(contents[4] == .engine(.levelChanged(from: .none, to: .red, causes: ["drill"])))
        #expect(Array(contents[storm.count...]) == [.boxRecord(.shellAudit), .boxRecord(.outboxReportsLost), .boxRecord(.linkOutage)])
        #expect(records.count == 3 && contents.allSatisfy { $0.damage == nil })
    }

    @Test func aPayloadThatIsNotWhatItsKindSaysIsDamagedWithWhatIsWrong() {
        let rejected = OutboxReport(Report(time: Timestamp(millisecondsSinceUnixEpoch: 0), kind: .inputRejected(reason: "x"), exercise: false))
        #expect(ReportContent(boxKind: "levelChanged", payload: rejected.payload).damage == "a levelChanged report whose payload is not a levelChanged")
        #expect(ReportContent(boxKind: "levelChanged", payload: "[]").damage == "a levelChanged report whose payload is not a levelChanged")
        // A summary's reason names the field, for whoever repairs the store.
        let payload = #"{"level":3,"observedAtMilliseconds":1,"periodMilliseconds":1,"sensors":[]}"#
        let summary = ReportContent(boxKind: "observationSummary", payload: payload).damage ?? ""
        #expect(summary.hasPrefix("a observationSummary report whose payload is not a observationSummary (level "), "\(summary)")
        let missing = ReportContent(boxKind: "observationSummary", payload: #"{"level":"none"}"#).damage ?? ""
        #expect(missing.hasSuffix("(no observedAtMilliseconds)"), "\(missing)")
        #expect(ReportContent(boxKind: "k", payload: "{}").damage == #"the kind "k" is none the box makes"#)
        // The outbox's own reason wins: the row could not even be read back.
        let stored = StoredOutboxReport(sequence: 7, report: rejected, damage: "stored row damaged: the payload is not JSON")
        #expect(stored.content == .damaged(reason: "stored row damaged: the payload is not JSON"))
    }

    @Test func aRowTheOutboxCouldNotReadBackIsDamagedWithTheOutboxsReason() throws {
        let fixture = try CountyAPIFixture()
        let damaged = try fixture.outbox.damageRowsForTesting()
        let rows = try fixture.outbox.reports(after: 0, limit: 10).reports
        #expect(rows.map(\.sequence) == damaged)
        for row in rows {
            #expect(row.content == .damaged(reason: try #require(row.damage)))
        }
    }

    // MARK: SL 651 from a typed report: the county's bytes are the box's

    @Test func theSharedMappingGivesTheCountyTheBoxsBytesFromATypedReport() throws {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        let stored = try fixture.outbox.reports(after: 0, limit: 100).reports
        let sendTime = try SL651LocalTime(year: 2026, month: 7, day: 15, hour: 9, minute: 0, second: 12)
        let summary = try #require(stored[0].content.observationSummary)
        for (index, latest) in [(0, nil), (1, summary), (4, summary)] as [(Int, ObservationSummary?)] {
            let box = try #require(try SL651ReportMapping.frame(
                for: stored[index], identity: SL651PushFixture.identity, serialNumber: 9, sendTime: sendTime, utcOffsetMinutes: 480,
                latestObservation: latest))
            // What a county holds: the report's time, drill flag and content, made without the outbox.
            let content: ReportContent = switch index {
            case 0: .observationSummary(summary)
            case 1: .engine(.levelChanged(from: .none, to: .yellow, causes: ["rain-1h"]))
            default: .engine(.levelChanged(from: .none, to: .red, causes: ["drill"]))
            }
            let county = try #require(try SL651ReportMapping.frame(
                content, sequence: sequences[index], time: stored[index].report.time, exercise: stored[index].report.exercise,
                identity: SL651PushFixture.identity, serialNumber: 9, sendTime: sendTime, utcOffsetMinutes: 480, latestObservation: latest))
            #expect(county == box, "report \(index)")
            #expect(try sl651DecodeUplink(county).function == (index == 0 ? 0x32 : 0x33))
        }
        // Kinds without an SL 651 form have none, typed or not.
        for content in [ReportContent.engine(.countyWarning(id: "c", level: .red, cancelled: false)), .boxRecord(.shellAudit), .damaged(reason: "x")] {
            #expect(try SL651ReportMapping.frame(
                content, sequence: 1, time: stored[0].report.time, exercise: false, identity: SL651PushFixture.identity, serialNumber: 1,
                sendTime: sendTime, utcOffsetMinutes: 480) == nil)
        }
    }

    // MARK: A damaged content through every consumer

    @Test func theJSONPageReadsNoPayloadAndServesTheTamperedTextAsStored() async throws {
        let (fixture, sequences) = try Self.tamperedStorm()
        let response = try await Self.get("/v1/reports?after=0", from: fixture)
        #expect(response.status == .ok)
        // Splicing, not parsing: nothing is judged beyond what the outbox checked on reading.
        #expect(response.headers[DamagedReports.header] == nil)
        let document = try ReportsDocument.decode(Data(buffer: response.body))
        #expect(document.reports.map(\.sequence) == sequences)
        #expect(document.reports[0].payloadText() == #"{"level":3}"#)
    }

    @Test func theSL651PullNamesTheDamagedReportsAndSendsTheRestWithoutTheirValues() async throws {
        let (fixture, sequences) = try Self.tamperedStorm()
        let response = try await Self.get("/v1/reports?after=0&format=sl651", from: fixture)
        #expect(response.status == .ok)
        // The summary and the first level change are damaged; the county warning has no SL 651 form, so it is not read.
        #expect(response.headers[DamagedReports.countHeader] == "2")
        let listed = try #require(response.headers[DamagedReports.header])
        #expect(listed.hasPrefix("\(sequences[0]);reason=\"a observationSummary report whose payload is not a observationSummary"))
        #expect(listed.contains(", \(sequences[1]);reason=\"a levelChanged report whose payload is not a levelChanged\""))
        let lines = String(buffer: response.body).split(separator: "\n").map(String.init)
        #expect(lines.count == 1)
        // The drill's level change goes with its level only: the summary before it is damaged.
        let drill = try sl651DecodeUplink(sl651Bytes(lines[0]))
        #expect(drill.function == 0x33 && drill.serial == Int(sequences[4]))
        #expect(drill.elements.map(\.guide) == [0x45])
        #expect(drill.elements[0].value == "0x000C0000")
    }

    @Test func theSL651PushLeavesADamagedReportUnsentAndSaysWhy() throws {
        let (fixture, sequences) = try Self.tamperedStorm()
        let lines = LogLines()
        let maker = try SL651FrameMaker(
            configuration: fixture.configuration.engine, county: fixture.configuration.county, outbox: fixture.outbox, logger: lines.logger)
        let stored = try fixture.outbox.reports(after: 0, limit: 100).reports
        let sendTime = try SL651LocalTime(year: 2026, month: 7, day: 15, hour: 9, minute: 0, second: 12)
        #expect(maker.frame(for: stored[0], serialNumber: 1, sendTime: sendTime) == nil)
        #expect(maker.frame(for: stored[1], serialNumber: 2, sendTime: sendTime) == nil)
        #expect(lines.text.contains("report \(sequences[0]) (observationSummary) is damaged: a observationSummary report whose payload is not"))
        #expect(lines.text.contains("report \(sequences[1]) (levelChanged) is damaged: a levelChanged report whose payload is not a levelChanged"))
        // The sound drill still has its frame, looked up without the damaged summary's values.
        let drill = try sl651DecodeUplink(try #require(maker.frame(for: stored[4], serialNumber: 5, sendTime: sendTime)))
        #expect(drill.elements.map(\.guide) == [0x45])
    }

    @Test func theCAPPullServesEachDamagedEngineReportAsASystemAlert() async throws {
        let (fixture, sequences) = try Self.tamperedStorm()
        let response = try await Self.get("/v1/reports?after=0&format=cap", from: fixture)
        #expect(response.status == .ok)
        let body = String(buffer: response.body)
        // The level change and the county warning were the storm's alerts: each is now a
        // System alert with the reason; the drill is still its Exercise alert.
        #expect(body.components(separatedBy: "<status>System</status>").count == 3)
        #expect(body.components(separatedBy: "<status>Exercise</status>").count == 2)
        for sequence in [sequences[1], sequences[3], sequences[4]] {
            #expect(body.contains("<identifier>VG-\(fixture.station)-\(sequence)</identifier>"))
        }
        #expect(body.contains("damaged report \(sequences[3]): a countyWarning report whose payload is not a countyWarning"))
        #expect(response.headers[DamagedReports.countHeader] == "2")
        let listed = try #require(response.headers[DamagedReports.header])
        #expect(listed.hasPrefix("\(sequences[1]);") && listed.contains(", \(sequences[3]);"))
    }

    @Test func theCentresTimeRangeQueryLeavesADamagedSummaryOutAndLogsIt() throws {
        let (fixture, sequences) = try Self.tamperedStorm()
        let base = Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds - 3 * Milliseconds.hour)
        let sound = ObservationSummary(
            observedAtMilliseconds: base.adding(milliseconds: Milliseconds.hour).millisecondsSinceUnixEpoch, periodMilliseconds: Milliseconds.hour,
            level: "yellow", sensors: [ObservedSensor(id: "river1", kind: "water_level", faulty: false, waterLevelMeters: 10.7)])
        _ = try fixture.outbox.append(ObservationSummariser.report(sound))
        let lines = LogLines()
        let service = OutboxService(outbox: fixture.outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: lines.logger)
        let feed = SummaryFeed(ObservationSummariser(configuration: fixture.configuration.engine, summaryEveryMilliseconds: Milliseconds.hour))
        let sources = CountyRuntime.sl651CommandSources(summaries: feed, service: service, clockSetter: RefusingClockSetter(reason: "test"), logger: lines.logger)
        let answered = sources.summaries(base.adding(milliseconds: -Milliseconds.hour), base.adding(milliseconds: 2 * Milliseconds.hour), 10)
        #expect(answered == [sound])
        #expect(lines.text.contains("report \(sequences[0]) is left out, it is damaged"))
    }

    @Test func theHTTPPushSendsEachPayloadAsStoredAndADamagedRowAsDamaged() async throws {
        let fixture = try PushFixture()
        let sound = try fixture.outbox.append(OutboxReport(Report(
            time: Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds), kind: .levelChanged(from: .none, to: .orange, causes: ["rain-1h"]),
            exercise: false)))
        let damaged = try fixture.outbox.damageRowsForTesting()
        let county = TestCounty()
        try await county.serve { port in
            try await withHTTPClient { client in
                let push = try fixture.transport(port: port, batchMax: 10, client: client)
                guard case .delivered(let sent, _) = await push.pushOnce(allowRoutine: true) else { Issue.record("not delivered"); return }
                #expect(Set(sent) == Set(damaged + [sound]))
            }
        }
        let reports = Dictionary(uniqueKeysWithValues: try #require(county.bodies.first?.reports).map { ($0.sequence, $0) })
        #expect(Set(reports.keys) == Set(damaged + [sound]))
        #expect(damaged.allSatisfy { reports[$0]?.kind == "damaged" && reports[$0]?.damaged == true && reports[$0]?.reason?.hasPrefix("stored row damaged: ") == true })
        // The sound report's payload is the stored text, spliced: the county reads back the box's own form.
        let stored = try #require(try fixture.outbox.reports(after: sound - 1, limit: 1).reports.first)
        #expect(reports[sound]?.kind == "levelChanged" && reports[sound]?.payloadText() == stored.report.payload)
        #expect(county.bodies.first?.more == false)
    }
}
