// Issue 12 item 3: a damaged outbox row (a priority of 3, a payload that is not JSON) is served
// as what it is in every format, counted, and passed; no preconditionFailure on bytes from disk.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import WarningLogic
@testable import VillageCounty
@testable import VillageGateway

@Suite struct DamagedOutboxTests {
    /// A storm, then two rows damaged on disk (priority 3; a cut-off JSON payload), then one more report.
    static func damagedFixture() throws -> (fixture: CountyAPIFixture, sound: [Int64], damaged: [Int64], after: Int64) {
        let fixture = try CountyAPIFixture()
        let sound = try fixture.fillStorm()
        let damaged = try fixture.outbox.damageRowsForTesting()
        let after = try fixture.outbox.append(OutboxReport(Report(
            time: Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds - 60_000),
            kind: .levelChanged(from: .red, to: .none, causes: []), exercise: false)))
        return (fixture, sound, damaged, after)
    }

    @Test func theOutboxReadsADamagedRowBackAsDamagedWithTheReasonInsteadOfStopping() throws {
        let (fixture, sound, damaged, after) = try Self.damagedFixture()
        let pull = try fixture.outbox.reports(after: 0, limit: 500)
        #expect(pull.reports.map(\.sequence) == sound + damaged + [after])
        let byNumber = Dictionary(uniqueKeysWithValues: pull.reports.map { ($0.sequence, $0) })
        #expect(byNumber[damaged[0]]?.damage?.contains("priority 3 is not 0 (alarm), 1 (event) or 2 (routine)") == true)
        #expect(byNumber[damaged[1]]?.damage?.contains("the payload is not JSON") == true)
        #expect(sound.allSatisfy { byNumber[$0]?.damage == nil })
        // The push reads undelivered rows alarms first: the same rows, no crash.
        #expect(try fixture.outbox.undelivered(limit: 500).count == pull.reports.count)
        let backlog = try fixture.outbox.backlog
        #expect(backlog.damaged == 2)
        #expect(try fixture.outbox.damagedRows(limit: 10).map(\.sequence) == damaged)
        // SQLite's quick_check sees the priority outside its CHECK constraint (not the JSON).
        #expect(try fixture.outbox.quickCheck() == ["CHECK constraint failed in reports"])
    }

    @Test func aJSONPullServesTheDamagedRowsMarkedAndTheCountyPullGoesPastThem() async throws {
        let (fixture, sound, damaged, after) = try Self.damagedFixture()
        let path = "/v1/reports?after=0"
        try await fixture.test { client in
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[DamagedReports.countHeader] == "2")
                let document = try ReportsDocument.decode(Data(buffer: response.body))
                #expect(document.reports.map(\.sequence) == sound + damaged + [after])
                let served = document.reports.filter { $0.damaged == true }
                #expect(served.map(\.sequence) == damaged)
                #expect(served.allSatisfy { $0.kind == "damaged" && $0.priority == "alarm" && $0.reason?.hasPrefix("stored row damaged: ") == true })
                #expect(served[0].reason?.contains("priority 3") == true)
                #expect(served[1].reason?.contains("not JSON") == true)
                // Sound reports carry no marker at all.
                let raw = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                let first = (raw["reports"] as! [[String: Any]])[0]
                #expect(first["damaged"] == nil && first["reason"] == nil)
            }
            // Contract v2 serves them the same way; the county's own check takes that page, so
            // `village-county pull` stores them and goes on past, and the schema allows them.
            let v2 = "/v2/reports?after=0"
            try await client.execute(uri: v2, method: .get, headers: fixture.headers("GET", v2)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[DamagedReports.countHeader] == "2")
                let bytes = Array(buffer: response.body)
                let received = try ReportsPageReader.read(bytes)
                #expect(received.reports.filter { $0.kind == "damaged" }.map(\.sequence) == damaged)
                let page = try CheckedPage.check(received, station: fixture.station, after: 0, limit: 500)
                #expect(page.through == after)
                #expect(page.holes(explainedBy: []).isEmpty)
                let (status, output) = try await CountyContractV2Tests.validate([Data(bytes)])
                #expect(status == 0, "\(output)")
            }
            // Acknowledging past the damaged rows works as for any other.
            let ack = "/v1/reports/ack"
            let body = Array(#"{"through": \#(after)}"#.utf8)
            try await client.execute(uri: ack, method: .post, headers: fixture.headers("POST", ack, body: body), body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func theSL651FormLeavesThemOutAndNamesThemWithTheirReasonsInAHeader() async throws {
        let (fixture, _, damaged, after) = try Self.damagedFixture()
        let path = "/v1/reports?after=0&format=sl651"
        try await fixture.test { client in
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[CountyAPI.lastSequenceHeader] == String(after))
                let listed = try #require(response.headers[DamagedReports.header])
                #expect(listed.hasPrefix("\(damaged[0]);reason=\"stored row damaged: priority 3"))
                #expect(listed.contains(", \(damaged[1]);reason=\"stored row damaged: the payload is not JSON\""))
                let lines = String(buffer: response.body).split(separator: "\n")
                #expect(!lines.isEmpty && lines.allSatisfy { $0.allSatisfy(\.isHexDigit) })
            }
        }
    }

    @Test func theCAPFormServesEachAsASystemAlertTheSchemaAccepts() async throws {
        let (fixture, _, damaged, _) = try Self.damagedFixture()
        let path = "/v1/reports?after=0&format=cap"
        try await fixture.test { client in
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                for sequence in damaged {
                    #expect(body.contains("<identifier>VG-\(fixture.station)-\(sequence)</identifier>"))
                }
                #expect(body.components(separatedBy: "<status>System</status>").count == 3)
            }
        }
        let stored = try fixture.outbox.reports(after: damaged[0] - 1, limit: 1).reports[0]
        let alert = DamagedReports.capAlert(for: try #require(DamagedReports.Row(stored)), station: fixture.configuration.engine.station)
        let outcome = try CAPSchemaValidator.validate(alert.xml)
        #expect(outcome.isValid, "xmllint refused:\n\(outcome.output)\n\(alert.xml)")
    }

    @Test func statusAndTheShellsOutboxCountThem() throws {
        let (fixture, _, _, _) = try Self.damagedFixture()
        let backlog = try fixture.outbox.backlog
        let wire = StatusBacklog(backlog, lastSequence: try fixture.outbox.lastSequence(), utcOffsetMinutes: 480)
        #expect(wire.damaged == 2)
        let harness = try SessionHarness()
        harness.backend.recorded.withLock { $0.backlog = backlog }
        harness.logIn()
        #expect(harness.type("outbox\r").contains("Damaged: 2 (unreadable rows, served to the county as damaged with the reason)"))
        #expect(harness.type("status\r").contains("2 DAMAGED report(s) in the outbox"))
    }

    @Test func aSoundStoreChecksOK() throws {
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        let lines = LogLines()
        OutboxService.checkAtStart(fixture.outbox, logger: lines.logger)
        #expect(lines.text.contains("quick_check ok"))
        #expect(!lines.text.contains("damaged"))
    }

    @Test func theStartUpCheckSaysWhatItFound() throws {
        let (fixture, _, damaged, _) = try Self.damagedFixture()
        let lines = LogLines()
        OutboxService.checkAtStart(fixture.outbox, logger: lines.logger)
        let text = lines.text
        #expect(text.contains("quick_check found damage: CHECK constraint failed in reports"))
        #expect(text.contains("2 damaged row(s), served to the county as damaged: #\(damaged[0]) (stored row damaged: priority 3"))
    }
}

/// A logger whose lines a test can read.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let sink: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            sink.append("\(event.level): \(event.message)")
        }
    }
}
