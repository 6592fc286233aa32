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
            .escalated(level: .orange, step: 1, contacts: ["王镇长"]),
            .acknowledgementUnanswered(level: .red),
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
        for text in broken {
            #expect(text != page)
            let (status, output) = try await Self.validate([Data(text.utf8)])
            #expect(status == 1, "accepted: \(text)\n\(output)")
        }
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
