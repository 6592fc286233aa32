// The county pull API through HummingbirdTesting: every endpoint, every format, every HMAC refusal.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TimeSeam
import WarningLogic
@testable import VillageGateway

/// Collects the events the API submits, instead of an engine.
actor RecordingEventSink: EventSink {
    private(set) var events: [Event] = []
    func submit(_ event: Event) async { events.append(event) }
}

/// A box clock that stands still at a chosen instant.
typealias StoppedClock = StandingClock

/// One API over a fresh outbox, with the example configuration and a known key.
struct CountyAPIFixture {
    static let keyHex = String(repeating: "0123456789abcdef", count: 4)
    static let wrongKeyHex = String(repeating: "fedcba9876543210", count: 4)
    /// Wall clock of the fixture: requests are signed at this instant unless a test says otherwise.
    static let nowMilliseconds: Int64 = 1_784_056_320_000

    let configuration: GatewayConfiguration
    let outbox: Outbox
    let events = RecordingEventSink()
    let api: CountyAPI
    let key: SigningKey

    /// `pace`: the verifier's monotonic clock (its rate bucket), injected by the rate tests.
    /// `outbox`: a store the test made (with a write guard); a fresh one otherwise.
    init(status: DaemonStatus? = nil, pace: @escaping @Sendable () -> Int64 = { monotonicMilliseconds() }, outbox: Outbox? = nil) throws {
        var configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        configuration.county.api = CountyAPIConfiguration(host: "127.0.0.1", port: 0, keyFile: "unused")
        self.configuration = configuration
        self.outbox = try outbox ?? Outbox(path: OutboxTests.temporaryStorePath())
        key = try SigningKey(hex: Self.keyHex)
        let logger = Logger(label: "county-api-test")
        api = CountyAPI(environment: CountyAPIEnvironment(
            configuration: configuration.engine, county: configuration.county, outbox: self.outbox, outboxWriter: self.outbox.writer,
            verifier: RequestVerifier(
                station: configuration.engine.station.id, key: key, clockSkewMillisecondsMax: 5 * 60_000, monotonicMilliseconds: pace),
            events: events, boxClock: StoppedClock(time: Timestamp(millisecondsSinceUnixEpoch: Self.nowMilliseconds)),
            wallClockMilliseconds: { Self.nowMilliseconds }, status: { status }, logger: logger))
    }

    var station: String { configuration.engine.station.id }

    /// Signed headers for a request, as `county pull` makes them.
    func headers(
        _ method: String, _ pathAndQuery: String, body: [UInt8] = [], key: SigningKey? = nil, timestamp: Int64 = nowMilliseconds,
        station: String? = nil, extra: HTTPFields = [:]
    ) -> HTTPFields {
        var fields = extra
        for (name, value) in RequestSignature.headers(
            key: key ?? self.key, method: method, pathAndQuery: pathAndQuery, station: station ?? self.station,
            timestampMilliseconds: timestamp, body: body)
        {
            fields[HTTPField.Name(name)!] = value
        }
        return fields
    }

    func test<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        let app = Application(router: api.router())
        return try await app.test(.router, body)
    }

    /// A storm's worth of reports: summaries around a level change, a county warning, a drill.
    @discardableResult
    func fillStorm() throws -> [Int64] {
        let base = Timestamp(millisecondsSinceUnixEpoch: Self.nowMilliseconds - 3 * Milliseconds.hour)
        let summary = ObservationSummary(
            observedAtMilliseconds: base.millisecondsSinceUnixEpoch, periodMilliseconds: Milliseconds.hour, level: "none", supplyVolts: 12.5,
            sensors: [
                ObservedSensor(id: "rain1", kind: "rain_gauge", faulty: false, rainMillimetersPeriod: 4.0, rainMillimetersTotal: 4.0,
                               rainMillimeters1h: 4.0, rainMillimeters6h: 10.2, rainMillimetersToday: 12.4),
                ObservedSensor(id: "river1", kind: "water_level", faulty: false, waterLevelMeters: 10.49),
            ])
        return try outbox.appendBatch([
            ObservationSummariser.report(summary),
            OutboxReport(Report(time: base.adding(milliseconds: 600_000), kind: .levelChanged(from: .none, to: .yellow, causes: ["rain-1h"]), exercise: false)),
            OutboxReport(Report(time: base.adding(milliseconds: 700_000), kind: .sensorHealth(sensorId: "slope1", faulty: true, reason: "no data for 30m"), exercise: false)),
            OutboxReport(Report(time: base.adding(milliseconds: 800_000), kind: .countyWarning(id: "county-1", level: .orange, cancelled: false), exercise: false)),
            OutboxReport(Report(time: base.adding(milliseconds: 900_000), kind: .levelChanged(from: .none, to: .red, causes: ["drill"]), exercise: true)),
        ])
    }
}

@Suite struct CountyAPITests {
    static func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: buffer))
    }

    @Test func reportsAsJSONFollowTheContract() async throws {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        let path = "/v1/reports?after=0&limit=2"
        try await fixture.test { client in
            try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let document = try Self.decode(ReportsDocument.self, response.body)
                #expect(document.schema == "village-gateway/reports/1")
                #expect(document.station == "0011223344")
                #expect(document.reports.map(\.sequence) == Array(sequences.prefix(2)))
                #expect(document.reports[1].kind == "levelChanged")
                #expect(document.reports[1].priority == "alarm")
                #expect(document.reports[1].time.hasSuffix("+08:00"))
                #expect(document.lastSequence == sequences.last)
                #expect(document.more)
                let raw = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect(raw["last_sequence"] as? Int64 == sequences.last)
                let first = (raw["reports"] as! [[String: Any]])[1]
                #expect(first["time_ms"] != nil)
                #expect((first["payload"] as? [String: Any])?["levelChanged"] != nil)
            }
            // The rest, after the last collected number.
            let next = "/v1/reports?after=\(sequences[1])"
            try await client.execute(uri: next, method: .get, headers: fixture.headers("GET", next)) { response in
                let document = try Self.decode(ReportsDocument.self, response.body)
                #expect(document.reports.map(\.sequence) == Array(sequences.dropFirst(2)))
                #expect(!document.more)
            }
        }
    }

    @Test func badQueriesAreRefusedWithAReason() async throws {
        let fixture = try CountyAPIFixture()
        try await fixture.test { client in
            for (path, words) in [
                ("/v1/reports?after=-1", "after=-1"), ("/v1/reports?limit=501", "limit=501"), ("/v1/reports?format=xml", "json, sl651 or cap"),
                ("/v1/reports?aftr=3", "unknown query parameter"),
            ] {
                try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path)) { response in
                    #expect(response.status == .badRequest, "\(path)")
                    let answer = try Self.decode(APIErrorAnswer.self, response.body)
                    #expect(answer.reason.contains(words), "\(path): \(answer.reason)")
                }
            }
        }
    }

    @Test func reportsAsSL651FramesDecodeWithTheIndependentDecoder() async throws {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        try await fixture.test { client in
            // By Accept, and the same by ?format=.
            let path = "/v1/reports?after=0"
            let byAccept = try await client.execute(
                uri: path, method: .get, headers: fixture.headers("GET", path, extra: [.accept: "text/plain"]))
            let formatPath = "/v1/reports?after=0&format=sl651"
            let byFormat = try await client.execute(
                uri: formatPath, method: .get, headers: fixture.headers("GET", formatPath, extra: [.accept: "application/json"]))
            #expect(String(buffer: byAccept.body) == String(buffer: byFormat.body))
            #expect(byAccept.headers[CountyAPI.lastSequenceHeader] == String(sequences.last!))
            let lines = String(buffer: byAccept.body).split(separator: "\n").map(String.init)
            // The summary (32) and the two level changes (33); health and county warnings have no SL 651 form.
            #expect(lines.count == 3)
            let summary = try sl651DecodeUplink(sl651Bytes(lines[0]))
            #expect(summary.function == 0x32)
            #expect(summary.station == "0011223344")
            #expect(summary.centre == 1)
            #expect(summary.stationClass == 0x48)
            #expect(summary.observationTime == "2607150012")
            #expect(summary.serial == Int(sequences[0]))
            let values = Dictionary(summary.elements.map { ($0.guide, $0.value) }, uniquingKeysWith: { a, _ in a })
            #expect(values[0x20] == "4.0")
            #expect(values[0x26] == "4.0")
            #expect(values[0x1A] == "4.0")
            #expect(values[0x1D] == "10.2")
            #expect(values[0x1F] == "12.4")
            #expect(values[0x39] == "10.490")
            #expect(values[0x38] == "12.50")
            #expect(values[0x45] == "0x00000000")

            let change = try sl651DecodeUplink(sl651Bytes(lines[1]))
            #expect(change.function == 0x33)
            #expect(change.observationTime == "2607150022")
            let changeValues = Dictionary(change.elements.map { ($0.guide, $0.value) }, uniquingKeysWith: { a, _ in a })
            // The current values are the newest summary's; ZT carries yellow (2) in bits 16-18.
            #expect(changeValues[0x39] == "10.490")
            #expect(changeValues[0x45] == "0x00020000")
            let drill = try sl651DecodeUplink(sl651Bytes(lines[2]))
            let drillValues = Dictionary(drill.elements.map { ($0.guide, $0.value) }, uniquingKeysWith: { a, _ in a })
            #expect(drillValues[0x45] == "0x000C0000")
        }
    }

    @Test func reportsAsCAPAreSchemaValidAlertsInOneMultipartAnswer() async throws {
        let fixture = try CountyAPIFixture()
        try fixture.fillStorm()
        try await fixture.test { client in
            let path = "/v1/reports?after=0&format=cap"
            let response = try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path))
            #expect(response.status == .ok)
            let contentType = try #require(response.headers[.contentType])
            #expect(contentType.hasPrefix("multipart/mixed; boundary="))
            let boundary = String(contentType.dropFirst("multipart/mixed; boundary=".count))
            let parts = String(buffer: response.body).components(separatedBy: "--\(boundary)")
            #expect(parts.last == "--\r\n")
            let alerts = parts.dropFirst().dropLast().map { part -> String in
                let split = part.components(separatedBy: "\r\n\r\n")
                #expect(split[0].contains("Content-Type: application/cap+xml"))
                return String(split.dropFirst().joined(separator: "\r\n\r\n").dropLast(2))
            }
            // The yellow level change, the county warning and the drill's red: three alerts.
            #expect(alerts.count == 3)
            for alert in alerts {
                let outcome = try CAPSchemaValidator.validate(alert)
                #expect(outcome.isValid, "\(outcome.output)\n\(alert)")
            }
            #expect(try CAPSchemaValidator.text(of: "status", in: alerts[2]) == "Exercise")
            #expect(try CAPSchemaValidator.text(of: "status", in: alerts[0]) == "Actual")
            #expect(try CAPSchemaValidator.text(of: "sent", in: alerts[0]).hasSuffix("+08:00"))
            // By Accept as well.
            let plain = "/v1/reports?after=0"
            let byAccept = try await client.execute(
                uri: plain, method: .get, headers: fixture.headers("GET", plain, extra: [.accept: "application/cap+xml"]))
            #expect(byAccept.headers[.contentType]?.hasPrefix("multipart/mixed") == true)
        }
    }

    @Test func noAlertInTheRangeIsNoContent() async throws {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        try await fixture.test { client in
            let path = "/v1/reports?after=\(sequences.last!)&format=cap"
            let response = try await client.execute(uri: path, method: .get, headers: fixture.headers("GET", path))
            #expect(response.status == .noContent)
            #expect(response.headers[CountyAPI.lastSequenceHeader] == String(sequences.last!))
        }
    }

    @Test func acknowledgingMarksDeliveredAndIsIdempotent() async throws {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        try await fixture.test { client in
            let body = Array(#"{"through": \#(sequences[2])}"#.utf8)
            let ack = { () async throws -> TestResponse in
                try await client.execute(
                    uri: "/v1/reports/ack", method: .post, headers: fixture.headers("POST", "/v1/reports/ack", body: body),
                    body: ByteBuffer(bytes: body))
            }
            let first = try await ack()
            #expect(first.status == .ok)
            #expect(try Self.decode(AcknowledgeAnswer.self, first.body) == AcknowledgeAnswer(acknowledged: 3, through: sequences[2]))
            let again = try await ack()
            #expect(try Self.decode(AcknowledgeAnswer.self, again.body) == AcknowledgeAnswer(acknowledged: 0, through: sequences[2]))
            #expect(try fixture.outbox.backlog.delivered == 3)

            let beyond = Array(#"{"through": \#(sequences.last! + 1)}"#.utf8)
            let refused = try await client.execute(
                uri: "/v1/reports/ack", method: .post, headers: fixture.headers("POST", "/v1/reports/ack", body: beyond),
                body: ByteBuffer(bytes: beyond))
            #expect(refused.status == .badRequest)
            #expect(try Self.decode(APIErrorAnswer.self, refused.body).reason.contains("beyond the last sequence"))
            #expect(try fixture.outbox.backlog.delivered == 3)
        }
    }

    @Test func statusIsTheDaemonsStatusWithTheBacklog() async throws {
        let station = StationStatus(
            time: Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds), level: .yellow, causes: ["rain-1h"], drillLevel: nil,
            outputLevel: .yellow, degraded: false, lowerAt: nil, latchedLevel: nil, acknowledgementDeadline: nil, sensors: [], measures: [])
        let status = DaemonStatus(
            stationId: "0011223344", stationName: "黄坑村", board: "sim", pid: 1, stateDirectory: "/tmp", uptimeSeconds: 5, utcOffsetMinutes: 480,
            level: "yellow", causes: ["rain-1h"], station: station, outputs: .safe, inputs: [], inputCounters: [], counters: RuntimeCounters(),
            queueLimit: 256)
        let fixture = try CountyAPIFixture(status: status)
        let sequences = try fixture.fillStorm()
        try await fixture.test { client in
            let response = try await client.execute(uri: "/v1/status", method: .get, headers: fixture.headers("GET", "/v1/status"))
            #expect(response.status == .ok)
            let raw = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
            #expect(raw["level"] as? String == "yellow")
            #expect(raw["causes"] as? [String] == ["rain-1h"])
            let backlog = try #require(raw["backlog"] as? [String: Any])
            #expect(backlog["undelivered"] as? Int == 5)
            // Both level changes, the sensor health and the county warning are alarms; the drill's too.
            #expect(backlog["undeliveredAlarms"] as? Int == 4)
            #expect(backlog["lastSequence"] as? Int64 == sequences.last)
        }
    }

    @Test func aCountyWarningAndItsCancellationBecomeEngineEvents() async throws {
        let fixture = try CountyAPIFixture()
        try await fixture.test { client in
            for text in [#"{"id": "county-2026-07-14-01", "level": "orange", "message": "上游水库泄洪，请立即转移"}"#, #"{"id": "county-2026-07-14-01", "cancel": true}"#] {
                let body = Array(text.utf8)
                let response = try await client.execute(
                    uri: "/v1/warnings", method: .post, headers: fixture.headers("POST", "/v1/warnings", body: body), body: ByteBuffer(bytes: body))
                #expect(response.status == .accepted)
            }
        }
        let time = Timestamp(millisecondsSinceUnixEpoch: CountyAPIFixture.nowMilliseconds)
        #expect(await fixture.events.events == [
            Event(time: time, kind: .countyWarning(id: "county-2026-07-14-01", level: .orange, text: "上游水库泄洪，请立即转移")),
            Event(time: time, kind: .countyCancel(id: "county-2026-07-14-01")),
        ])
    }

    @Test func badWarningsAreRefusedWithAReasonAndRaiseNothing() async throws {
        let fixture = try CountyAPIFixture()
        try await fixture.test { client in
            for (text, words) in [
                (#"{"id": "c1", "level": "purple"}"#, "blue, yellow, orange or red"),
                (#"{"id": "c1", "level": "none"}"#, "cancel"),
                (#"{"level": "red"}"#, "\"id\" is missing"),
                (#"{"id": "c1"}"#, "\"level\" is missing"),
                (#"{"id": "c1", "cancel": true, "level": "red"}"#, "only \"id\" and \"cancel\""),
                (#"{"id": "c1", "levl": "red"}"#, "unknown field \"levl\""),
                (#"{"id": "has space", "level": "red"}"#, "without spaces"),
                ("not json", "must be a JSON object"),
                (#"{"id": "c1", "level": "red", "message": "\#(String(repeating: "水", count: 501))"}"#, "at most 500"),
            ] {
                let body = Array(text.utf8)
                let response = try await client.execute(
                    uri: "/v1/warnings", method: .post, headers: fixture.headers("POST", "/v1/warnings", body: body), body: ByteBuffer(bytes: body))
                #expect(response.status == .badRequest, "\(text)")
                let reason = try Self.decode(APIErrorAnswer.self, response.body).reason
                #expect(reason.contains(words), "\(text): \(reason)")
            }
            // Too large: refused before anything is read further.
            let huge = [UInt8](repeating: 0x20, count: CountyAPI.requestBodyBytesMax + 1)
            let response = try await client.execute(
                uri: "/v1/warnings", method: .post, headers: fixture.headers("POST", "/v1/warnings", body: huge), body: ByteBuffer(bytes: huge))
            #expect(response.status == .contentTooLarge)
        }
        #expect(await fixture.events.events.isEmpty)
    }

    // MARK: HMAC refusals: 401 with a reason, and nothing changed

    @Test func wrongKeyReplayStaleAndTamperedRequestsAreRefusedAndChangeNothing() async throws {
        let fixture = try CountyAPIFixture()
        let sequences = try fixture.fillStorm()
        let wrongKey = try SigningKey(hex: CountyAPIFixture.wrongKeyHex)
        try await fixture.test { client in
            func expectRefused(_ response: TestResponse, _ words: String) throws {
                #expect(response.status == .unauthorized)
                let answer = try Self.decode(APIErrorAnswer.self, response.body)
                #expect(answer.error == "unauthorized")
                #expect(answer.reason.contains(words), "\(answer.reason)")
            }
            let ack = Array(#"{"through": \#(sequences.last!)}"#.utf8)
            let warning = Array(#"{"id": "c1", "level": "red"}"#.utf8)

            // Wrong key, on an acknowledgement and on a warning.
            try expectRefused(try await client.execute(
                uri: "/v1/reports/ack", method: .post, headers: fixture.headers("POST", "/v1/reports/ack", body: ack, key: wrongKey),
                body: ByteBuffer(bytes: ack)), "bad signature")
            try expectRefused(try await client.execute(
                uri: "/v1/warnings", method: .post, headers: fixture.headers("POST", "/v1/warnings", body: warning, key: wrongKey),
                body: ByteBuffer(bytes: warning)), "bad signature")

            // Stale: signed 10 minutes ago with the right key.
            try expectRefused(try await client.execute(
                uri: "/v1/reports/ack", method: .post,
                headers: fixture.headers("POST", "/v1/reports/ack", body: ack, timestamp: CountyAPIFixture.nowMilliseconds - 600_000),
                body: ByteBuffer(bytes: ack)), "stale timestamp")

            // Tampered: signed for one body, sent with another.
            let signedFor = Array(#"{"id": "c1", "level": "blue"}"#.utf8)
            try expectRefused(try await client.execute(
                uri: "/v1/warnings", method: .post, headers: fixture.headers("POST", "/v1/warnings", body: signedFor),
                body: ByteBuffer(bytes: warning)), "bad signature")
            // Tampered path: signed for after=0, sent for after=2.
            try expectRefused(try await client.execute(
                uri: "/v1/reports?after=2", method: .get, headers: fixture.headers("GET", "/v1/reports?after=0")), "bad signature")

            // Unsigned, and for another station.
            try expectRefused(try await client.execute(uri: "/v1/status", method: .get), "unsigned request")
            try expectRefused(try await client.execute(
                uri: "/v1/status", method: .get, headers: fixture.headers("GET", "/v1/status", station: "9999999999")), "wrong station")

            // Replayed: the same signed warning twice; the first is taken, the second refused.
            let headers = fixture.headers("POST", "/v1/warnings", body: warning)
            let first = try await client.execute(uri: "/v1/warnings", method: .post, headers: headers, body: ByteBuffer(bytes: warning))
            #expect(first.status == .accepted)
            try expectRefused(try await client.execute(
                uri: "/v1/warnings", method: .post, headers: headers, body: ByteBuffer(bytes: warning)), "replayed")
            // And a replayed acknowledgement after a genuine GET is refused too.
            let getHeaders = fixture.headers("GET", "/v1/status")
            _ = try await client.execute(uri: "/v1/status", method: .get, headers: getHeaders)
            try expectRefused(try await client.execute(uri: "/v1/status", method: .get, headers: getHeaders), "replayed")
        }
        // Nothing acknowledged; exactly the one genuine warning raised.
        #expect(try fixture.outbox.backlog.delivered == 0)
        #expect(try fixture.outbox.backlog.undelivered == Int64(sequences.count))
        #expect(await fixture.events.events.count == 1)
    }
}
