// `county pull` against boxes that follow docs/county-api.md: real outboxes served by Hummingbird
// on localhost, checking signatures with RequestVerifier. Resume, no duplicates, gaps, failures
// of one station among good ones, and acknowledgement only after the county has committed.
import Foundation
import HTTPTypes
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import TimeSeam
import WarningLogic
@testable import VillageCounty
@testable import VillageGateway

/// A box for the tests: a real `Outbox` behind the contract's two report endpoints.
final class TestBox: Sendable {
    static let now: Int64 = 1_780_000_000_000

    struct State {
        var reportRequests: [Int64] = []
        var acknowledgements: [Int64] = []
        /// Answer 503 to report requests after this many.
        var reportRequestsBeforeFailing: Int?
        /// Instead of the outbox's page, answer this document (a forgery or a hostile box), signed
        /// or not as `signsAnswers` says.
        var forgedPage: String?
        /// The real box signs every answer; a forger on the path cannot.
        var signsAnswers = true
        /// Answer this many report requests with 429 and `Retry-After: 7` first.
        var rateLimitedAnswers = 0
    }

    let station: String
    let key: SigningKey
    let outbox: Outbox
    let verifier: RequestVerifier
    let state = Mutex(State())
    /// Runs when an acknowledgement arrives, before the box applies it: the test checks the
    /// county's database there.
    let onAcknowledgement: @Sendable (Int64) -> Void
    /// The box's clock for checking timestamps: fixed, unless the binary (signing with the real
    /// clock) is the client.
    let nowMilliseconds: @Sendable () -> Int64

    init(station: String, key: SigningKey, outbox: Outbox, nowMilliseconds: @escaping @Sendable () -> Int64 = { TestBox.now },
         onAcknowledgement: @escaping @Sendable (Int64) -> Void = { _ in }) {
        self.station = station
        self.nowMilliseconds = nowMilliseconds
        self.key = key
        self.outbox = outbox
        self.verifier = RequestVerifier(station: station, key: key, clockSkewMillisecondsMax: 300_000)
        self.onAcknowledgement = onAcknowledgement
    }

    func refusal(_ request: Request, body: [UInt8]) -> Response? {
        let headers = request.headers
        let reason = verifier.verify(
            method: request.method.rawValue, pathAndQuery: request.uri.string,
            header: { name in headers.first { $0.name.canonicalName == name.lowercased() }?.value }, body: body, nowMilliseconds: nowMilliseconds())
        return reason.map { json(APIErrorAnswer(error: "unauthorized", reason: $0.reason), status: .unauthorized, to: request) }
    }

    /// The answer, signed for `request` as the box signs (docs/county-api.md) unless told not to.
    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, to request: Request) -> Response {
        answer(Array(try! ReportsDocument.encoder().encode(value)), status: status, to: request)
    }

    func answer(_ body: [UInt8], status: HTTPResponse.Status = .ok, to request: Request) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if state.withLock({ $0.signsAnswers }), let nonce = request.headers[HTTPField.Name(RequestSignature.nonceHeader)!] {
            headers[HTTPField.Name(RequestSignature.responseSignatureHeader)!] = RequestSignature.responseSignature(
                key: key, station: station, nonce: nonce, status: Int(status.code), body: body)
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.get("/v2/reports") { request, _ -> Response in
            if let refused = self.refusal(request, body: []) { return refused }
            let limited = self.state.withLock { state -> Bool in
                guard state.rateLimitedAnswers > 0 else { return false }
                state.rateLimitedAnswers -= 1
                return true
            }
            if limited {
                var response = self.json(APIErrorAnswer(error: "too many requests", reason: "test: over the rate"), status: .tooManyRequests, to: request)
                response.headers[.retryAfter] = "7"
                return response
            }
            let after = Int64(request.uri.queryParameters["after"].map(String.init) ?? "0") ?? 0
            let limit = Int(request.uri.queryParameters["limit"].map(String.init) ?? "500") ?? 500
            let failing = self.state.withLock { state -> Bool in
                state.reportRequests.append(after)
                if let left = state.reportRequestsBeforeFailing {
                    if left == 0 { return true }
                    state.reportRequestsBeforeFailing = left - 1
                }
                return false
            }
            if failing {
                return self.json(APIErrorAnswer(error: "unavailable", reason: "test: the link dropped"), status: .serviceUnavailable, to: request)
            }
            if let forged = self.state.withLock({ $0.forgedPage }) { return self.answer(Array(forged.utf8), to: request) }
            let last = try self.outbox.lastSequence()
            let pull = try self.outbox.reports(after: after, limit: limit)
            let page = CountyAPI.page(
                station: StationIdentity(id: self.station, name: "测试村", utcOffsetMinutes: 480), after: after, pull: pull, lastSequence: last,
                contract: .v2)
            return self.answer(page, to: request)
        }
        router.post("/v2/reports/ack") { request, _ -> Response in
            let body = Array(buffer: try await request.body.collect(upTo: 4_096))
            if let refused = self.refusal(request, body: body) { return refused }
            let acknowledge = try JSONDecoder().decode(AcknowledgeRequest.self, from: Data(body))
            self.onAcknowledgement(acknowledge.through)
            guard acknowledge.through <= (try self.outbox.lastSequence()) else {
                return self.json(APIErrorAnswer(error: "bad request", reason: "beyond last_sequence"), status: .badRequest, to: request)
            }
            let marked = try self.outbox.acknowledge(through: acknowledge.through, at: Timestamp(millisecondsSinceUnixEpoch: self.nowMilliseconds()))
            self.state.withLock { $0.acknowledgements.append(acknowledge.through) }
            return self.json(AcknowledgeAnswer(acknowledged: marked, through: acknowledge.through), to: request)
        }
        var logger = Logger(label: "test-box")
        logger.logLevel = .critical
        return Application(router: router, logger: logger)
    }

    /// Serves every box on its own localhost port while `body` runs.
    static func serve(_ boxes: [TestBox], _ body: @escaping @Sendable ([Int]) async throws -> Void) async throws {
        try await serve(boxes[...], ports: [], body)
    }

    private static func serve(_ boxes: ArraySlice<TestBox>, ports: [Int], _ body: @escaping @Sendable ([Int]) async throws -> Void) async throws {
        guard let first = boxes.first else { return try await body(ports) }
        try await first.application().test(.live) { client in
            try await serve(boxes.dropFirst(), ports: ports + [try #require(client.port)], body)
        }
    }
}

@Suite struct CountyPullTests {
    static let key = try! SigningKey(hex: String(repeating: "5a", count: 32))
    static let otherKey = try! SigningKey(hex: String(repeating: "a5", count: 32))

    /// A folder with a key file, a county database path and a fresh outbox.
    struct Site {
        let directory: String
        var keyFile: String { directory + "/station.hex" }
        var otherKeyFile: String { directory + "/other.hex" }
        var countyPath: String { directory + "/county.sqlite" }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-county-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try (String(repeating: "5a", count: 32) + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
            try (String(repeating: "a5", count: 32) + "\n").write(toFile: otherKeyFile, atomically: true, encoding: .utf8)
        }

        func outbox(_ name: String = "outbox", limits: OutboxLimits = .standard) throws -> Outbox {
            try Outbox(path: "\(directory)/\(name).sqlite", limits: limits)
        }

        func station(_ id: String = "0011223344", port: Int, keyFile: String? = nil) -> PullStation {
            PullStation(id: id, name: "黄坑村", url: "http://localhost:\(port)", keyFile: keyFile ?? self.keyFile)
        }

        var stationsFile: String { directory + "/stations.toml" }

        /// Writes `stationsFile` naming the one box 0011223344 on `port`; returns its path.
        @discardableResult
        func writeStationsFile(port: Int) throws -> String {
            let path = stationsFile
            try """
                [[station]]
                id = "0011223344"
                name = "黄坑村"
                url = "http://localhost:\(port)"
                key_file = "\(keyFile)"
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func puller(
            reportsPerPage: Int = 100, clock: any GatewayClock = StandingClock(time: Timestamp(millisecondsSinceUnixEpoch: TestBox.now))
        ) throws -> CountyPuller {
            var options = PullOptions()
            options.reportsPerPage = reportsPerPage
            // The in-test boxes run on the same (two-thread, on this machine) cooperative pool as
            // every other suite; a test that blocks a thread (a child process waited for) stalls
            // them. A 20 s timeout then cut pulls off after a page or two under a full `make test`.
            // Only a hang may fail these tests, so the timeout is the largest the pull allows.
            options.timeoutMilliseconds = Int64(PullOptions.timeoutSecondsAllowed.upperBound) * 1_000
            return CountyPuller(database: try CountyDatabase(path: countyPath), options: options, clock: clock)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Reports of every priority, some drills, payloads with numbers and Chinese text.
    static func fill(_ outbox: Outbox, count: Int) throws {
        var batch: [OutboxReport] = []
        for index in 0..<count {
            let time = Timestamp(millisecondsSinceUnixEpoch: TestBox.now - Int64(count - index) * 60_000)
            switch index % 7 {
            case 3: batch.append(OutboxReport(Report(time: time, kind: .levelChanged(from: .none, to: .yellow, causes: ["rain1 \(index) mm"]), exercise: false)))
            case 5: batch.append(OutboxReport(Report(time: time, kind: .inputRejected(reason: "未知传感器 \(index)"), exercise: index % 2 == 0)))
            default:
                batch.append(OutboxReport(
                    time: time, kind: "observationSummary", priority: .routine, exercise: false,
                    payload: #"{"level":"none","sensors":[{"id":"rain1","rainMillimetersPeriod":\#(Double(index % 50) / 10)}],"index":\#(index)}"#))
            }
            if batch.count == 200 {
                _ = try outbox.appendBatch(batch)
                batch = []
            }
        }
        if !batch.isEmpty { _ = try outbox.appendBatch(batch) }
    }

    /// Every report the box holds, as the county must have it.
    static func expectSameReports(box outbox: Outbox, county path: String, station: String) throws {
        let boxReports = try outbox.reports(after: 0, limit: Int.max >> 1)
        var all = boxReports.reports
        var after = all.last?.sequence ?? 0
        while true {
            let next = try outbox.reports(after: after, limit: 500).reports
            guard let last = next.last else { break }
            all += next
            after = last.sequence
        }
        let rows = try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM reports WHERE station = ? ORDER BY sequence", arguments: [station])
        }
        #expect(rows.count == all.count)
        for (row, stored) in zip(rows, all) {
            #expect(row["sequence"] as Int64 == stored.sequence)
            #expect(row["time_ms"] as Int64 == stored.report.time.millisecondsSinceUnixEpoch)
            #expect(row["kind"] as String == ReportKind.wireName(boxName: stored.report.kind))
            #expect(row["priority"] as String == stored.report.priority.description)
            #expect(row["exercise"] as Bool == stored.report.exercise)
            let county = try JSONSerialization.jsonObject(with: Data((row["payload"] as String).utf8)) as? NSDictionary
            let box = try JSONSerialization.jsonObject(with: Data(try #require(stored.wirePayload).utf8)) as? NSDictionary
            #expect(county == box, "report \(stored.sequence)")
        }
    }

    // MARK: The stations file

    @Test func stationsFileMistakesAreLocatedWithWhatIsAllowed() {
        let text = """
            [[station]]
            id = "12345"
            name = "黄坑村"
            url = "http://10.0.0.7:8651/v1"
            keyfile = "keys/a.hex"

            [[station]]
            id = "0011223355"
            name = "下村"
            url = "ftp://10.0.0.8"
            key_file = "keys/b.hex"

            [[station]]
            id = "0011223355"
            name = "上村"
            url = "http://10.0.0.9:99999"
            key_file = "keys/c.hex"

            [stations]
            """
        var problems: [String] = []
        do {
            _ = try StationsFile.parse(text: text, file: "stations.toml")
        } catch {
            problems = error.problems.map(\.description)
        }
        #expect(problems == [
            #"stations.toml:2: [[station]] #1 id = "12345": must be the box's 10-digit station id, digits only, e.g. "0011223344" ([station] id in its gateway.toml)"#,
            #"stations.toml:4: [[station]] #1 url = "http://10.0.0.7:8651/v1": must be http:// or https:// with the box's host and optional port and no path, e.g. "http://10.0.0.7:8651""#,
            #"stations.toml:5: [[station]] #1: unknown key "keyfile"; did you mean "key_file"?"#,
            #"stations.toml:10: [[station]] #2 url = "ftp://10.0.0.8": must be http:// or https:// with the box's host and optional port and no path, e.g. "http://10.0.0.7:8651""#,
            #"stations.toml:14: [[station]] #3 id = "0011223355": station 0011223355 is already listed (line 7); list each box once"#,
            #"stations.toml:16: [[station]] #3 url = "http://10.0.0.9:99999": must be http:// or https:// with the box's host and optional port and no path, e.g. "http://10.0.0.7:8651""#,
            #"stations.toml:19: unknown "stations"; did you mean [[station]]?; a stations file has only [[station]] blocks"#,
        ])
    }

    @Test func aGoodStationsFileAndItsOtherFailures() throws {
        let stations = try StationsFile.parse(text: """
            # the county's boxes
            [[station]]
            id = "0011223344"
            name = "黄坑村"
            url = "http://10.0.0.7:8651"
            key_file = "keys/0011223344.hex"
            [[station]]
            id = "0011223345"
            name = "下村"
            url = "https://[fd00::7]:443/"
            key_file = "keys/0011223345.hex"
            """, file: "s.toml")
        #expect(stations == [
            PullStation(id: "0011223344", name: "黄坑村", url: "http://10.0.0.7:8651", keyFile: "keys/0011223344.hex"),
            PullStation(id: "0011223345", name: "下村", url: "https://[fd00::7]:443/", keyFile: "keys/0011223345.hex"),
        ])
        #expect(throws: ConfigurationError.self) { try StationsFile.parse(text: "", file: "s.toml") }
        do {
            _ = try StationsFile.parse(text: "[[station]]\nid = \"0011223344\"\n", file: "s.toml")
            Issue.record("accepted a station without name, url and key_file")
        } catch {
            #expect(error.description.contains("s.toml:1: [[station]] #1 name: missing; e.g. name = \"黄坑村\""), "\(error)")
            #expect(error.description.contains("[[station]] #1 url: missing"))
            #expect(error.description.contains("[[station]] #1 key_file: missing"))
        }
        do {
            _ = try StationsFile.parse(text: "[[station]]\nid = 11223344\n", file: "s.toml")
            Issue.record("accepted an id written without quotes")
        } catch {
            #expect(error.description.contains("s.toml:2: [[station]] #1 id = 11223344: must be text in quotes, not a whole number"), "\(error)")
        }
        do {
            _ = try StationsFile.load(path: "/nonexistent/stations.toml")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description == "/nonexistent/stations.toml: no such file")
        }
    }

    // MARK: Pulling

    @Test func everyReportArrivesOnceAndEachPageIsAcknowledgedOnlyAfterItIsCommitted() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox()
        try Self.fill(outbox, count: 1_234)
        let countyPath = site.countyPath
        let checks = Mutex<[String]>([])
        // At each acknowledgement, read the county database from another connection: everything
        // acknowledged must already be committed there.
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox, onAcknowledgement: { through in
            let stored = (try? DatabaseQueue(path: countyPath).read { db in
                try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM reports WHERE sequence <= ?", arguments: [through])
            }) ?? -1
            // Numbers 1...through were all issued and none thinned: all of them must be there.
            checks.withLock { $0.append(stored == through ? "ok" : "acknowledged through \(through) with \(stored) committed") }
        })
        let puller = try site.puller(reportsPerPage: 100)
        try await TestBox.serve([box]) { ports in
            let results = await puller.pull([site.station(port: ports[0])])
            let result = results[0]
            #expect(result.failure == nil, "\(String(describing: result.failure))")
            #expect(result.isComplete)
            #expect(result.newReports == 1_234)
            #expect(result.pages == 13)
            #expect(result.pulledThrough == 1_234 && result.acknowledgedThrough == 1_234)
        }
        #expect(checks.withLock { $0 } == Array(repeating: "ok", count: 13))
        #expect(box.state.withLock { $0.acknowledgements } == Array(stride(from: 100, through: 1_200, by: 100)) + [1_234])
        #expect(try outbox.backlog.undelivered == 0)
        try Self.expectSameReports(box: outbox, county: site.countyPath, station: "0011223344")
        #expect(try CountyDatabase(path: site.countyPath).durability() == ("wal", 2))
    }

    @Test func aPageThatCannotBeStoredIsNeverAcknowledged() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox()
        try Self.fill(outbox, count: 500)
        let puller = try site.puller(reportsPerPage: 100)
        // The county's disk refuses report 250 (as a full disk would, mid-page).
        try await DatabaseQueue(path: site.countyPath).write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_250 BEFORE INSERT ON reports WHEN NEW.sequence = 250
                BEGIN SELECT RAISE(ABORT, 'test: disk refused the write'); END
                """)
        }
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox)
        try await TestBox.serve([box]) { ports in
            let result = await puller.pull([site.station(port: ports[0])])[0]
            guard case .storage(let detail) = result.failure else {
                Issue.record("expected a storage failure, got \(String(describing: result.failure))")
                return
            }
            #expect(detail.contains("test: disk refused the write"))
            #expect(result.pulledThrough == 200 && result.acknowledgedThrough == 200)
        }
        #expect(box.state.withLock { $0.acknowledgements } == [100, 200])
        // The failed page left nothing behind: the transaction is all or nothing.
        let stored = try await DatabaseQueue(path: site.countyPath).read { db in try Int64.fetchOne(db, sql: "SELECT MAX(sequence) FROM reports") }
        #expect(stored == 200)
        #expect(try outbox.backlog.undelivered == 300)
    }

    /// (Issue 13 part 4) A box's 429 is waited out on the puller's clock, its Retry-After each
    /// time, and the pull then completes. The clock here records the waits and returns at once: a
    /// puller that slept on the wall behind its clock's back would leave it with none recorded.
    @Test func aRateLimitedBoxIsWaitedOutOnThePullersClock() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox()
        try Self.fill(outbox, count: 50)
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox)
        box.state.withLock { $0.rateLimitedAnswers = 2 }
        let clock = RecordingPullClock()
        try await TestBox.serve([box]) { ports in
            let result = try await site.puller(clock: clock).pull([site.station(port: ports[0])])[0]
            #expect(result.isComplete, "\(result)")
            #expect(result.newReports == 50)
        }
        #expect(clock.waitsMilliseconds == [7_000, 7_000])
        try Self.expectSameReports(box: outbox, county: site.countyPath, station: "0011223344")
    }

    @Test func aBrokenOffPullResumesFromTheLastStoredSequence() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox()
        try Self.fill(outbox, count: 730)
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox)
        box.state.withLock { $0.reportRequestsBeforeFailing = 3 }
        try await TestBox.serve([box]) { ports in
            let first = try await site.puller(reportsPerPage: 100).pull([site.station(port: ports[0])])[0]
            #expect(first.failure == .refused(status: 503, reason: "test: the link dropped"))
            #expect(first.pulledThrough == 300 && first.newReports == 300)
            box.state.withLock { $0.reportRequestsBeforeFailing = nil }
            let second = try await site.puller(reportsPerPage: 100).pull([site.station(port: ports[0])])[0]
            #expect(second.isComplete)
            #expect(second.newReports == 430 && second.alreadyStored == 0)
        }
        #expect(box.state.withLock { $0.reportRequests } == [0, 100, 200, 300, 300, 400, 500, 600, 700])
        try Self.expectSameReports(box: outbox, county: site.countyPath, station: "0011223344")
    }

    @Test func aRePullStoresNothingTwiceAndChangedContentIsKeptAsideAndReported() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox()
        try Self.fill(outbox, count: 350)
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox)
        try await TestBox.serve([box]) { ports in
            let station = site.station(port: ports[0])
            #expect(try await site.puller().pull([station])[0].newReports == 350)
            // As after a kill between store and acknowledgement, or a database restored from an
            // older copy: the county asks again for what it has.
            try await DatabaseQueue(path: site.countyPath).write { db in
                try db.execute(sql: "UPDATE stations SET pulled_through = 0, acknowledged_through = 0")
            }
            let again = try await site.puller().pull([station])[0]
            #expect(again.isComplete)
            #expect(again.newReports == 0 && again.alreadyStored == 350)

            // A box that sends a number again with other content: the first is kept, the second too.
            try await DatabaseQueue(path: site.countyPath).write { db in
                try db.execute(sql: "UPDATE stations SET pulled_through = 0")
                try db.execute(sql: #"UPDATE reports SET payload = '{"changed":true}' WHERE sequence = 17"#)
            }
            let conflicting = try await site.puller().pull([station])[0]
            #expect(conflicting.conflicts == [17])
            #expect(PullSummary.word(conflicting) == "CONFLICT")
        }
        let (count, conflicts) = try await DatabaseQueue(path: site.countyPath).read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM reports") ?? 0, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM conflicts WHERE sequence = 17") ?? 0)
        }
        #expect(count == 350 && conflicts == 1)
    }

    @Test func gapsTheBoxDeclaredAreRecordedAndANumberLostWithoutOneIsReported() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox(limits: OutboxRetentionTests.smallLimits)
        _ = try OutboxRetentionTests.fill(outbox)
        let thinning = try #require(try outbox.enforceSizeLimit(at: Timestamp(millisecondsSinceUnixEpoch: TestBox.now)))
        #expect(!thinning.gaps.isEmpty)
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox)
        try await TestBox.serve([box]) { ports in
            let result = try await site.puller(reportsPerPage: 7).pull([site.station(port: ports[0])])[0]
            #expect(result.isComplete, "\(result)")
            #expect(result.newMissing.isEmpty)
            #expect(result.newGaps.map { $0.from...$0.through } == thinning.gaps.map { $0.fromSequence...$0.throughSequence })
            let text = PullSummary.render([result], databasePath: site.countyPath)
            #expect(text.contains("0011223344 黄坑村: gap \(thinning.gaps[0].fromSequence)-\(thinning.gaps[0].throughSequence):"), "\(text)")
        }
        let recorded = try await DatabaseQueue(path: site.countyPath).read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM gaps") }
        #expect(recorded == thinning.gaps.count)

        // A box fault: a report vanishes from the box without a gap.
        let next = try outbox.appendBatch((0..<5).map { OutboxTests.routine($0) })
        try await DatabaseQueue(path: outbox.path).write { db in
            try db.execute(sql: "DELETE FROM reports WHERE sequence = ?", arguments: [next[2]])
        }
        try await TestBox.serve([box]) { ports in
            let result = try await site.puller().pull([site.station(port: ports[0])])[0]
            #expect(result.failure == nil)
            #expect(result.newMissing == [next[2]...next[2]])
            #expect(PullSummary.word(result) == "MISSING")
            #expect(result.pulledThrough == next[4])
        }
    }

    @Test func anUnreachableStationAndARefusedOneAreReportedWhileTheOthersArePulled() async throws {
        let site = try Site()
        defer { site.remove() }
        let good = try site.outbox("good")
        try Self.fill(good, count: 120)
        let refusing = try site.outbox("refusing")
        try Self.fill(refusing, count: 10)
        let refusingPort = try RefusingPort()
        defer { refusingPort.release() }
        let closedPort = refusingPort.port
        let boxes = [
            TestBox(station: "0011223344", key: Self.key, outbox: good),
            TestBox(station: "0011223355", key: Self.key, outbox: refusing),
        ]
        try await TestBox.serve(boxes) { ports in
            let stations = [
                site.station("0011223344", port: ports[0]),
                site.station("0011223355", port: ports[1], keyFile: site.otherKeyFile),
                site.station("0011223366", port: closedPort),
                site.station("0011223377", port: ports[0], keyFile: site.directory + "/absent.hex"),
            ]
            let results = try await site.puller().pull(stations)
            #expect(results.map(\.station.id) == stations.map(\.id))
            #expect(results[0].isComplete && results[0].newReports == 120)
            // The box signs its refusal with its own key, which this county's wrong key cannot
            // verify: the refusal is shown, marked as unverified.
            #expect(results[1].failure == .refused(
                status: 401,
                reason: "bad signature: the key, the body or the signed path does not match (unverified answer: its X-VG-Response-Signature does not match)"))
            guard case .unreachable(let why) = results[2].failure else {
                Issue.record("expected unreachable, got \(String(describing: results[2].failure))")
                return
            }
            #expect(why == "connection refused", "\(why)")
            guard case .keyFile(let keyProblem) = results[3].failure else {
                Issue.record("expected a key file failure, got \(String(describing: results[3].failure))")
                return
            }
            #expect(keyProblem.contains("cannot read the key file \(site.directory)/absent.hex"))
            let text = PullSummary.render(results, databasePath: site.countyPath)
            #expect(text.contains("county pull: 4 stations, 1 pulled, 3 not; 120 new reports stored in"))
            #expect(text.contains("refused 401") && text.contains("unreachable") && text.contains("no key"))
            #expect(text.contains("0011223355 黄坑村: the box refused the request: bad signature"))
            for line in text.split(separator: "\n") {
                #expect(PullSummary.displayWidth(String(line)) <= 80, "too wide: \(line)")
            }
        }
        #expect(try refusing.backlog.undelivered == 10)
    }

    /// A localhost port that refuses every connection: bound, so that no other test's server (port 0,
    /// in a parallel run) can be given it, but never listening. Held until `release()`; a port that
    /// was bound and closed again could be handed to another suite's server meanwhile, and the pull
    /// would then reach that server instead of being refused.
    struct RefusingPort {
        let descriptor: Int32
        let port: Int

        init() throws {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(descriptor >= 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
            }
            if !bound { close(descriptor) }
            try #require(bound)
            self.descriptor = descriptor
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func release() { close(descriptor) }
    }

    // MARK: The command

    @Test func theCommandRefusesABadStationsFileWithStatus2AndBadOptionsWith64() throws {
        let site = try Site()
        defer { site.remove() }
        let stations = site.directory + "/stations.toml"
        try "[[station]]\nid = \"0011223344\"\nname = \"黄坑村\"\nurl = \"http://10.0.0.7\"\nkey_file = \"k\"\nkey = \"x\"\n"
            .write(toFile: stations, atomically: true, encoding: .utf8)
        let bad = try GatewayBinary.run(["pull", "--stations", stations, "--db", site.countyPath], program: GatewayBinary.countyURL)
        #expect(bad.status == 2)
        #expect(bad.standardError.contains("\(stations):6: [[station]] #1: unknown key \"key\""), "\(bad.standardError)")
        #expect(bad.standardError.contains("nothing was pulled"))
        #expect(!FileManager.default.fileExists(atPath: site.countyPath), "nothing is created when the stations file is wrong")
        let options = try GatewayBinary.run(["pull", "--stations", stations, "--db", site.countyPath, "--concurrency", "0"], program: GatewayBinary.countyURL)
        #expect(options.status == 64)
        #expect(options.standardError.contains("--concurrency 0: allowed 1 to 64"))
        let help = try GatewayBinary.run(["pull", "--help"], program: GatewayBinary.countyURL)
        #expect(help.standardOutput.contains("Exit status: 0 every station pulled"))
    }

    @Test func theCommandPullsAndExitsWithWhatHappened() async throws {
        let site = try Site()
        defer { site.remove() }
        let outbox = try site.outbox()
        try Self.fill(outbox, count: 40)
        let box = TestBox(station: "0011223344", key: Self.key, outbox: outbox, nowMilliseconds: { SystemClock().now().millisecondsSinceUnixEpoch })
        let refusingPort = try RefusingPort()
        defer { refusingPort.release() }
        let closedPort = refusingPort.port
        try await TestBox.serve([box]) { ports in
            let stations = try site.writeStationsFile(port: ports[0])
            // The in-test box runs on this process's cooperative pool (two threads here), which other
            // suites' blocking waits can hold for longer than the default 30 s timeout under a
            // parallel run: only a hang may fail this test, so the pull gets the largest timeout.
            let timeout = String(PullOptions.timeoutSecondsAllowed.upperBound)
            let good = try await Self.runOffThePool(["pull", "--stations", stations, "--db", site.countyPath, "--timeout", timeout])
            #expect(good.status == 0, "\(good.standardOutput)\(good.standardError)")
            #expect(good.standardOutput.contains("county pull: 1 station, 1 pulled, 0 not; 40 new reports stored in"))
            #expect(good.standardOutput.contains("0011223344  黄坑村              40          40      0        0  ok"), "\(good.standardOutput)")
            try """
                [[station]]
                id = "0011223366"
                name = "下村"
                url = "http://127.0.0.1:\(closedPort)"
                key_file = "\(site.keyFile)"
                """.write(toFile: stations, atomically: true, encoding: .utf8)
            let down = try await Self.runOffThePool(["pull", "--stations", stations, "--db", site.countyPath, "--timeout", timeout])
            #expect(down.status == 1)
            #expect(down.standardOutput.contains("0011223366 下村: cannot reach the box (connection refused)"), "\(down.standardOutput)")
        }
    }

    /// The box's binary no longer carries the county side: `village-county` does.
    @Test func theBoxBinaryHasNoCountyCommand() throws {
        let outcome = try GatewayBinary.run(["county", "pull", "--stations", "s.toml", "--db", "c.sqlite"])
        #expect(outcome.status == 64, "\(outcome.standardOutput)")
        let help = try GatewayBinary.run(["--help"])
        #expect(!help.standardOutput.contains("\n  county "), "\(help.standardOutput)")
    }

    /// The binary runs as a child process; waiting for it must not hold a thread the in-test
    /// server's tasks need.
    static func runOffThePool(_ arguments: [String]) async throws -> GatewayBinary.Outcome {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try GatewayBinary.run(arguments, program: GatewayBinary.countyURL) })
            }
        }
    }
}

@Suite struct PullSummaryTests {
    @Test func longNamesAndMessagesWrapWithinEightyColumns() {
        var result = StationPullResult(station: PullStation(id: "0011223344", name: "黄坑村黄坑村黄坑村黄坑村黄坑村", url: "http://x", keyFile: "k"))
        result.newReports = 12_345_678
        result.pulledThrough = 9_876_543_210
        result.failure = .unreachable(String(repeating: "a very long reason ", count: 12))
        let text = PullSummary.render([result], databasePath: "/var/lib/village-county/" + String(repeating: "x", count: 120) + ".sqlite")
        for line in text.split(separator: "\n") {
            #expect(PullSummary.displayWidth(String(line)) <= 80, "too wide: \(line)")
        }
        #expect(text.contains("0011223344  黄坑村黄坑…"))
        #expect(PullSummary.displayWidth("黄坑村 ok") == 9)
    }

    @Test func answersThatBreakTheContractAreRefusedWithWhatIsWrong() throws {
        func check(_ json: String) throws -> CheckedPage {
            let document = try JSONDecoder().decode(ReportsDocument.self, from: Data(json.utf8))
            return try CheckedPage.check(document, station: "0011223344", after: 10, limit: 2)
        }
        func report(_ sequence: Int, priority: String = "routine") -> String {
            #"{"sequence":\#(sequence),"time":"2026-07-14T03:12:00+08:00","time_ms":1784056320000,"kind":"k","priority":"\#(priority)","exercise":false,"payload":{"b":1,"a":[0.5,"x"]}}"#
        }
        func document(station: String = "0011223344", after: Int = 10, reports: [String], gaps: String = "[]", last: Int = 20) -> String {
            #"{"schema":"village-gateway/reports/2","station":"\#(station)","after":\#(after),"reports":[\#(reports.joined(separator: ","))],"gaps":\#(gaps),"last_sequence":\#(last),"more":true}"#
        }
        let good = try check(document(reports: [report(11), report(13)]))
        #expect(good.through == 13 && good.reports.map(\.payload) == [#"{"a":[0.5,"x"],"b":1}"#, #"{"a":[0.5,"x"],"b":1}"#])
        #expect(try check(document(reports: [], last: 20)).through == 20, "an empty page accounts for everything up to the box's last number")
        let refusals: [(String, String)] = [
            (document(station: "0011223399", reports: []), "the box answering says it is station 0011223399"),
            (document(after: 5, reports: []), "it answered for after=5, not the after=10 asked"),
            (document(reports: [report(11), report(12), report(13)]), "3 reports, over the limit of 2 asked"),
            (document(reports: [report(12), report(12)]), "report 12 follows 12: sequences must increase"),
            (document(reports: [report(9)]), "report 9 follows 10"),
            (document(reports: [report(11, priority: "urgent")]), #"report 11 has priority "urgent""#),
            (document(reports: [], gaps: #"[{"from":15,"through":12,"count":1,"reason":"r","recorded_at":"t"}]"#), "gap 15-12 of 1 reports"),
            (document(reports: []).replacingOccurrences(of: "reports/2", with: "reports/1"), #"schema "village-gateway/reports/1""#),
        ]
        for (json, expected) in refusals {
            do {
                _ = try check(json)
                Issue.record("accepted: \(json)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func holesAreTheNumbersNeitherSentNorInsideAGap() {
        let page = CheckedPage(
            after: 10, through: 30, boxLastSequence: 40,
            reports: [11, 12, 15, 20, 30].map {
                CountyReport(sequence: $0, timeMilliseconds: 0, time: "", kind: "k", priority: "routine", exercise: false, payload: "{}")
            },
            gaps: [], more: true)
        #expect(page.holes(explainedBy: []) == [13...14, 16...19, 21...29])
        #expect(page.holes(explainedBy: [16...18, 1...13, 22...40]) == [14...14, 19...19, 21...21])
    }
}

@Suite struct OutboxKillTests {
    /// tools/outbox-kill-test.sh: the real box and the real pull, each killed with SIGKILL again
    /// and again; the script proves from both databases that nothing was lost or doubled.
    /// The script runs for a minute or more: it is waited for on a Dispatch thread, never on the
    /// cooperative pool, which the other suites' in-process servers need (two threads here).
    @Test func killedDuringWritesAndDeliveryNoReportIsLostOrStoredTwice() async throws {
        let kills = ProcessInfo.processInfo.environment["OUTBOX_KILLS"] ?? "60"
        let (status, text) = try await GatewayBinary.runScriptOffThePool(["tools/outbox-kill-test.sh", GatewayBinary.url.path, kills])
        #expect(status == 0, "\(text.suffix(3000))")
        #expect(text.contains("PASS: "), "\(text.suffix(3000))")
    }
}

/// The puller's clock in a test: the box's instant (its signatures check the time), and every
/// wait recorded and returned from at once.
final class RecordingPullClock: GatewayClock {
    private let waits = Mutex<[Int64]>([])
    var waitsMilliseconds: [Int64] { waits.withLock { $0 } }
    func nowNanoseconds() -> Int64 { TestBox.now * 1_000_000 }
    func sleep(untilNanoseconds deadline: Int64) async {
        waits.withLock { $0.append((deadline - nowNanoseconds()) / 1_000_000) }
    }
}
