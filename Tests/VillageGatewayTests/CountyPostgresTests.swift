// Issue 16 item 4: `village-county pull --db postgres://…` keeps the SQLite store's guarantees on a
// real PostgreSQL server (Debian's, started by `make test` through tools/with-postgres.sh): one
// transaction per page, acknowledgement only after commit, nothing stored twice, conflicts kept
// aside, gaps and missing numbers recorded. Without the server these tests fail, never skip.
import CountyDashboard
import Foundation
import GRDB
import Logging
import PostgresNIO
import Synchronization
import Testing
import TimeSeam
import WarningLogic
@testable import VillageCounty
@testable import VillageGateway

/// A database of its own on the test server, so tests never see each other's rows.
struct PostgresTestDatabase {
    static let environmentVariable = "VG_TEST_POSTGRES_URL"

    let name: String
    let url: String

    static func serverURL() throws -> String {
        try #require(
            ProcessInfo.processInfo.environment[environmentVariable],
            "no PostgreSQL server for the county store's tests: run `make test`, or `tools/with-postgres.sh swift test …`, which set \(environmentVariable)")
    }

    static func make() async throws -> PostgresTestDatabase {
        let server = try PostgresLocation.parse(try serverURL())
        let name = "county_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await withConnection(database: server.database) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Self.logger)
        }
        var components = try #require(URLComponents(string: try serverURL()))
        components.path = "/" + name
        return PostgresTestDatabase(name: name, url: try #require(components.string))
    }

    static let logger = Logger(label: "county-postgres-test")

    static func withConnection<T: Sendable>(database: String, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await PostgresLocation.parse(try serverURL()).withConnection(database: database, logger: logger, body)
    }

    /// Runs SQL in this database from a connection of its own (not the store's).
    func execute(_ sql: String) async throws {
        try await Self.withConnection(database: name) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger)
        }
    }

    func integer(_ sql: String) async throws -> Int64? {
        try await Self.withConnection(database: name) { connection in
            var value: Int64?
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger).decode(Int64?.self) { value = row }
            return value
        }
    }

    func drop() async {
        _ = try? await Self.withConnection(database: "postgres") { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: Self.logger)
        }
    }
}

/// Passes everything to a store and remembers, at each return of `store`, how far is committed.
final class CommitRecordingStore: CountyStore {
    let inner: any CountyStore
    let committedThrough = Mutex<Int64>(0)
    var location: String { inner.location }

    init(_ inner: any CountyStore) { self.inner = inner }

    func begin(_ stations: [PullStation]) async throws(CountyDatabaseError) -> [StationProgress] { try await inner.begin(stations) }
    func progress(station: String) async throws(CountyDatabaseError) -> StationProgress { try await inner.progress(station: station) }
    func store(_ page: CheckedPage, station: String, atMilliseconds now: Int64) async throws(CountyDatabaseError) -> StoredPage {
        let stored = try await inner.store(page, station: station, atMilliseconds: now)
        committedThrough.withLock { $0 = max($0, stored.pulledThrough) }
        return stored
    }
    func recordAcknowledged(station: String, through: Int64) async throws(CountyDatabaseError) {
        try await inner.recordAcknowledged(station: station, through: through)
    }
    func recordSeen(station: String, boxLastSequence: Int64, atMilliseconds now: Int64) async throws(CountyDatabaseError) {
        try await inner.recordSeen(station: station, boxLastSequence: boxLastSequence, atMilliseconds: now)
    }
    func reportCount(station: String) async throws(CountyDatabaseError) -> Int64 { try await inner.reportCount(station: station) }
    func stations() async throws(CountyDatabaseError) -> [StoredStation] { try await inner.stations() }
    func reports(station: String, after: Int64, limit: Int) async throws(CountyDatabaseError) -> [CountyReport] {
        try await inner.reports(station: station, after: after, limit: limit)
    }
    func close() async { await inner.close() }
}

@Suite struct CountyPostgresTests {
    static func puller(_ store: any CountyStore, reportsPerPage: Int = 100) -> CountyPuller {
        var options = PullOptions()
        options.reportsPerPage = reportsPerPage
        // As CountyPullTests: only a hang may fail these tests.
        options.timeoutMilliseconds = Int64(PullOptions.timeoutSecondsAllowed.upperBound) * 1_000
        return CountyPuller(database: store, options: options, clock: StandingClock(time: Timestamp(millisecondsSinceUnixEpoch: TestBox.now)))
    }

    /// Every report the box holds is in the store once, as the box made it for contract v2.
    static func expectSameReports(box outbox: Outbox, store: any CountyStore, station: String) async throws {
        var boxReports: [StoredOutboxReport] = []
        var after: Int64 = 0
        while true {
            let next = try outbox.reports(after: after, limit: 500).reports
            guard let last = next.last else { break }
            boxReports += next
            after = last.sequence
        }
        let stored = try await store.reports(station: station, after: 0, limit: boxReports.count + 10)
        #expect(stored.count == boxReports.count)
        for (county, box) in zip(stored, boxReports) {
            #expect(county.sequence == box.sequence)
            #expect(county.timeMilliseconds == box.report.time.millisecondsSinceUnixEpoch)
            #expect(county.kind == ReportKind.wireName(boxName: box.report.kind))
            #expect(county.priority == box.report.priority.description)
            #expect(county.exercise == box.report.exercise)
            // Byte for byte: the text the box checked and stored is the text the county keeps.
            #expect(county.payload == box.wirePayload, "report \(box.sequence)")
        }
    }

    @Test func everyReportArrivesOnceAndEachPageIsAcknowledgedOnlyAfterItIsCommitted() async throws {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let database = try await PostgresTestDatabase.make()
        let store = CommitRecordingStore(try await CountyStores.open(database.url))
        let outbox = try site.outbox()
        try CountyPullTests.fill(outbox, count: 1_234)
        let checks = Mutex<[String]>([])
        let box = TestBox(station: "0011223344", key: CountyPullTests.key, outbox: outbox, onAcknowledgement: { through in
            let committed = store.committedThrough.withLock { $0 }
            checks.withLock { $0.append(committed >= through ? "ok" : "acknowledged through \(through) with \(committed) committed") }
        })
        try await TestBox.serve([box]) { ports in
            let result = await Self.puller(store).pull([site.station(port: ports[0])])[0]
            #expect(result.failure == nil, "\(String(describing: result.failure))")
            #expect(result.isComplete)
            #expect(result.newReports == 1_234 && result.pages == 13)
            #expect(result.pulledThrough == 1_234 && result.acknowledgedThrough == 1_234)
        }
        #expect(checks.withLock { $0 } == Array(repeating: "ok", count: 13))
        #expect(try outbox.backlog.undelivered == 0)
        try await Self.expectSameReports(box: outbox, store: store, station: "0011223344")
        let stations = try await store.stations()
        #expect(stations.map(\.id) == ["0011223344"])
        #expect(stations.first?.progress == StationProgress(pulledThrough: 1_234, acknowledgedThrough: 1_234, boxLastSequence: 1_234))
        // The same tables as the SQLite file: the county's own queries read either.
        #expect(try await database.integer("SELECT COUNT(*) FROM reports WHERE kind = 'level_changed' AND exercise = 0 AND priority = 'alarm'") ?? 0 > 0)
        await store.close()
        await database.drop()
    }

    @Test func aPageThatCannotBeStoredIsNeverAcknowledgedAndLeavesNothing() async throws {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let database = try await PostgresTestDatabase.make()
        let store = try await CountyStores.open(database.url)
        let outbox = try site.outbox()
        try CountyPullTests.fill(outbox, count: 500)
        // The server refuses report 250 (as a full disk would, mid-page).
        try await database.execute("""
            CREATE FUNCTION refuse_250() RETURNS trigger AS $$
            BEGIN IF NEW.sequence = 250 THEN RAISE EXCEPTION 'test: disk refused the write'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql
            """)
        try await database.execute("CREATE TRIGGER refuse_250 BEFORE INSERT ON reports FOR EACH ROW EXECUTE FUNCTION refuse_250()")
        let box = TestBox(station: "0011223344", key: CountyPullTests.key, outbox: outbox)
        try await TestBox.serve([box]) { ports in
            let result = await Self.puller(store).pull([site.station(port: ports[0])])[0]
            guard case .storage(let detail) = result.failure else {
                Issue.record("expected a storage failure, got \(String(describing: result.failure))")
                return
            }
            #expect(detail.contains("test: disk refused the write"), "\(detail)")
            #expect(result.pulledThrough == 200 && result.acknowledgedThrough == 200)
        }
        #expect(box.state.withLock { $0.acknowledgements } == [100, 200])
        // The failed page left nothing behind: the transaction is all or nothing.
        #expect(try await database.integer("SELECT MAX(sequence) FROM reports") == 200)
        #expect(try await database.integer("SELECT pulled_through FROM stations") == 200)
        #expect(try outbox.backlog.undelivered == 300)
        await store.close()
        await database.drop()
    }

    @Test func aRePullStoresNothingTwiceAndChangedContentIsKeptAsideAndReported() async throws {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let database = try await PostgresTestDatabase.make()
        let store = try await CountyStores.open(database.url)
        let outbox = try site.outbox()
        try CountyPullTests.fill(outbox, count: 350)
        let box = TestBox(station: "0011223344", key: CountyPullTests.key, outbox: outbox)
        try await TestBox.serve([box]) { ports in
            let station = site.station(port: ports[0])
            #expect(await Self.puller(store).pull([station])[0].newReports == 350)
            // As after a kill between commit and acknowledgement: the county asks again.
            try await database.execute("UPDATE stations SET pulled_through = 0, acknowledged_through = 0")
            let again = await Self.puller(store).pull([station])[0]
            #expect(again.isComplete)
            #expect(again.newReports == 0 && again.alreadyStored == 350)
            // A box that sends a number again with other content: the first is kept, the second too.
            try await database.execute("UPDATE stations SET pulled_through = 0")
            try await database.execute(#"UPDATE reports SET payload = '{"changed":true}' WHERE sequence = 17"#)
            let conflicting = await Self.puller(store).pull([station])[0]
            #expect(conflicting.conflicts == [17])
            #expect(PullSummary.word(conflicting) == "CONFLICT")
        }
        #expect(try await database.integer("SELECT COUNT(*) FROM reports") == 350)
        #expect(try await database.integer("SELECT COUNT(*) FROM conflicts WHERE sequence = 17") == 1)
        #expect(try await database.integer(#"SELECT COUNT(*) FROM reports WHERE sequence = 17 AND payload = '{"changed":true}'"#) == 1)
        await store.close()
        await database.drop()
    }

    @Test func gapsTheBoxDeclaredAreRecordedAndANumberLostWithoutOneIsReported() async throws {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let database = try await PostgresTestDatabase.make()
        let store = try await CountyStores.open(database.url)
        let outbox = try site.outbox(limits: OutboxRetentionTests.smallLimits)
        _ = try OutboxRetentionTests.fill(outbox)
        let thinning = try #require(try outbox.enforceSizeLimit(at: Timestamp(millisecondsSinceUnixEpoch: TestBox.now)))
        #expect(!thinning.gaps.isEmpty)
        let next = try outbox.appendBatch((0..<5).map { OutboxTests.routine($0) })
        try await DatabaseQueue(path: outbox.path).write { db in
            try db.execute(sql: "DELETE FROM reports WHERE sequence = ?", arguments: [next[2]])
        }
        let box = TestBox(station: "0011223344", key: CountyPullTests.key, outbox: outbox)
        try await TestBox.serve([box]) { ports in
            let result = await Self.puller(store, reportsPerPage: 7).pull([site.station(port: ports[0])])[0]
            #expect(result.failure == nil, "\(String(describing: result.failure))")
            #expect(result.newGaps.map { $0.from...$0.through } == thinning.gaps.map { $0.fromSequence...$0.throughSequence })
            #expect(result.newMissing == [next[2]...next[2]])
            #expect(result.pulledThrough == next[4])
        }
        #expect(try await database.integer("SELECT COUNT(*) FROM gaps") == Int64(thinning.gaps.count))
        #expect(try await database.integer("SELECT from_sequence FROM missing") == next[2])
        await store.close()
        await database.drop()
    }

    @Test func theCommandPullsIntoPostgresAndRefusesABadURLWithWhatToWrite() async throws {
        let site = try CountyPullTests.Site()
        defer { site.remove() }
        let database = try await PostgresTestDatabase.make()
        let outbox = try site.outbox()
        try CountyPullTests.fill(outbox, count: 40)
        let box = TestBox(station: "0011223344", key: CountyPullTests.key, outbox: outbox, nowMilliseconds: { SystemClock().now().millisecondsSinceUnixEpoch })
        let stations = site.stationsFile
        try await TestBox.serve([box]) { ports in
            try site.writeStationsFile(port: ports[0])
            let run = try await CountyPullTests.runOffThePool(["pull", "--stations", stations, "--db", database.url])
            #expect(run.status == 0, "\(run.standardOutput)\(run.standardError)")
            #expect(run.standardOutput.contains("county pull: 1 station, 1 pulled, 0 not; 40 new reports stored in"), "\(run.standardOutput)")
            #expect(run.standardOutput.contains("postgres://county_test@/\(database.name)?host="), "\(run.standardOutput)")
        }
        #expect(try await database.integer("SELECT COUNT(*) FROM reports") == 40)
        let bad = try await CountyPullTests.runOffThePool(["pull", "--stations", stations, "--db", "postgres://county@/x?hots=/tmp"])
        #expect(bad.status == 2)
        #expect(bad.standardError.contains(#"unknown parameter "hots"; allowed: host, sslmode"#), "\(bad.standardError)")
        let absent = try await CountyPullTests.runOffThePool(["pull", "--stations", stations, "--db", database.url.replacingOccurrences(of: database.name, with: "absent")])
        #expect(absent.status == 2)
        #expect(absent.standardError.contains("create it (createdb) or fix the name in the URL"), "\(absent.standardError)")
        await database.drop()
    }

    @Test func urlsAreReadAsLibpqWritesThemOrRefusedWithWhatToWrite() throws {
        let tcp = try PostgresLocation.parse("postgres://county:s%40cret@db.example.cn:6543/province?sslmode=require")
        #expect(tcp == PostgresLocation(
            username: "county", password: "s@cret", database: "province", host: "db.example.cn", port: 6543, socketDirectory: nil, sslMode: .require))
        #expect(tcp.description == "postgres://county:***@db.example.cn:6543/province")
        let socket = try PostgresLocation.parse("postgresql://county@/province?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql" && socket.host == nil && socket.port == 5432 && socket.sslMode == .disable)
        #expect(try PostgresLocation.parse("postgres://county@localhost/province").sslMode == .prefer)
        for (text, reason) in [
            ("postgres://localhost/province", "no user name"),
            ("postgres://county@localhost", "no database name"),
            ("postgres://county@localhost:0/province", "port 0 is not 1 to 65535"),
            ("postgres://county@localhost/p?sslmode=verify", "sslmode=verify: allowed prefer, require, disable"),
            ("postgres://county@/p?host=run", "host= takes the folder of the server's socket"),
            ("postgres://county@/p", "no host"),
        ] {
            #expect(throws: CountyDatabaseError.self) { try PostgresLocation.parse(text) }
            do {
                _ = try PostgresLocation.parse(text)
            } catch {
                #expect(error.description.contains(reason), "\(text): \(error.description)")
                #expect(!error.description.contains("s%40cret"))
            }
        }
        #expect(PostgresLocation.redacted("postgres://county:secret@h/p") == "postgres://county:***@h/p")
    }
}
