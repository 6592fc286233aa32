// The dashboard's two stores (issue 17 item 7): the same county rows in SQLite and in PostgreSQL
// (the throwaway server `make test` starts) give the same overview and station pages, each opened
// as `village-county serve` opens it (migrated by the county store first); and the dashboard's
// server limits its connections as the box's API does.
import ConnectionGuard
import CountyDashboard
import CountyProtocol
import Foundation
import GRDB
import Logging
import Testing
import WarningLogic
@testable import VillageCounty
@testable import VillageGateway

@Suite struct CountyDashboardStoreTests {
    static let now = DashboardTests.now
    static let start = DashboardTests.stormStart

    /// SQL text for a report, the same in both databases.
    static func report(_ station: String, _ sequence: Int64, minutes: Int64, _ kind: String, _ payload: String, exercise: Bool = false) -> String {
        let time = start + minutes * 60_000
        let local = ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: time), utcOffsetMinutes: 480)
        return """
            INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
            VALUES ('\(station)', \(sequence), \(time), '\(local)', '\(kind)', 'event', \(exercise ? 1 : 0), '\(payload.replacingOccurrences(of: "'", with: "''"))', 0)
            """
    }

    static func station(_ id: String, _ name: String, lastPull: Int64?, pulledThrough: Int64, boxLast: Int64) -> String {
        """
        INSERT INTO stations (station, name, url, pulled_through, acknowledged_through, box_last_sequence, last_pull_at_ms)
        VALUES ('\(id)', '\(name)', 'http://127.0.0.1:1', \(pulledThrough), \(pulledThrough), \(boxLast), \(lastPull.map(String.init) ?? "NULL"))
        """
    }

    /// A storm in three villages: a red one whose 叫应 two of three have answered, a silent one,
    /// one in a drill with a faulty sensor, a declared gap, missing numbers and a conflict.
    static let rows: [String] = [
        station("0011223344", "黄坑村", lastPull: now, pulledThrough: 9, boxLast: 12),
        station("0011223355", "石门村", lastPull: now - 3_600_000, pulledThrough: 3, boxLast: 3),
        station("0011223366", "下村", lastPull: now, pulledThrough: 4, boxLast: 4),
        report("0011223344", 1, minutes: 0, "observation_summary",
               #"{"level":"none","observed_at_milliseconds":\#(start),"period_milliseconds":3600000,"sensors":[{"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters1h":3.5,"rain_millimeters_period":3.5}]}"#),
        report("0011223344", 2, minutes: 30, "level_changed", #"{"causes":["rain-1h"],"from":"none","to":"red"}"#),
        report("0011223344", 3, minutes: 31, "acknowledgement_requested", #"{"contacts":["王建国","李秀英"],"deadline_ms":\#(start + 40 * 60_000),"level":"red"}"#),
        report("0011223344", 4, minutes: 32, "acknowledged", #"{"by":"李秀英","channel":"call","level":"red","requested_at_ms":\#(start + 31 * 60_000),"seconds_to_answer":60}"#),
        report("0011223344", 5, minutes: 41, "escalated", #"{"called":["王建国"],"contacts":["陈志强"],"level":"red","step":1}"#),
        report("0011223344", 8, minutes: 43, "acknowledged", #"{"by":"陈志强","channel":"sms","level":"red","requested_at_ms":\#(start + 31 * 60_000),"seconds_to_answer":720}"#),
        report("0011223344", 9, minutes: 60, "observation_summary",
               #"{"level":"red","observed_at_milliseconds":\#(start + 3_600_000),"period_milliseconds":3600000,"sensors":[{"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters1h":41.0,"rain_millimeters_period":41.0}]}"#),
        "INSERT INTO gaps VALUES ('0011223344', 6, 6, 1, 'outbox full: routine thinned', '', 0)",
        "INSERT INTO missing VALUES ('0011223344', 7, 7, 0)",
        "INSERT INTO conflicts VALUES ('0011223344', 2, 0, 'level_changed', 'alarm', 0, '{\"to\":\"blue\"}', 0)",
        report("0011223355", 1, minutes: 0, "level_changed", #"{"causes":["rain-1h"],"from":"none","to":"yellow"}"#),
        report("0011223355", 2, minutes: 1, "acknowledgement_requested", #"{"contacts":["赵六"],"deadline_ms":0,"level":"yellow"}"#),
        report("0011223355", 3, minutes: 20, "acknowledgement_unanswered", #"{"level":"yellow","unanswered":["赵六"]}"#),
        report("0011223366", 1, minutes: 5, "drill", #"{"by":"shell","level":"orange","started":true}"#, exercise: true),
        report("0011223366", 2, minutes: 6, "sensor_health", #"{"faulty":true,"reason":"no reading for 30 min","sensor_id":"river1"}"#),
        report("0011223366", 3, minutes: 7, "sensor_health", #"{"faulty":false,"sensor_id":"rain1"}"#),
        report("0011223366", 4, minutes: 8, "county_warning", #"{"cancelled":false,"id":"county-7","level":"blue"}"#),
    ]

    /// The overview and 黄坑村's page, drawn from `store` at the tests' fixed time.
    static func pages(_ store: any DashboardStore) async throws -> (overview: String, station: String) {
        let states = OverviewPage.states(try await store.overview(), configured: [], nowMilliseconds: now, silentAfterMilliseconds: DashboardTests.silentAfter)
        let overview = OverviewPage.render(states, nowMilliseconds: now, silentAfterMilliseconds: DashboardTests.silentAfter, user: nil)
        let snapshot = try #require(try await store.station("0011223344", windowMilliseconds: StationPage.windowMilliseconds))
        let state = StationStateBuilder.state(
            row: snapshot.row, latest: snapshot.latest, callReports: snapshot.calls, sensorHealth: snapshot.sensorHealth, displayName: nil,
            nowMilliseconds: now, silentAfterMilliseconds: DashboardTests.silentAfter)
        let station = StationPage.render(snapshot, state: state, configured: nil, nowMilliseconds: now, user: nil)
        #expect(try await store.station("9999999999", windowMilliseconds: 1) == nil)
        return (overview, station)
    }

    @Test func postgreSQLAndSQLiteGiveTheSameOverviewAndStationPage() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        for row in Self.rows { try fixture.execute(row) }
        let sqlite = try await ServeCommand.openStore(fixture.databasePath)
        let fromSQLite = try await Self.pages(sqlite)

        let database = try await PostgresTestDatabase.make()
        let postgres: any DashboardStore
        do {
            // As `serve` opens it: an empty database gets the county's tables from the migration.
            postgres = try await ServeCommand.openStore(database.url)
            for row in Self.rows { try await database.execute(row) }
        } catch {
            await database.drop()
            throw error
        }
        let fromPostgres: (overview: String, station: String)
        do {
            fromPostgres = try await Self.pages(postgres)
            await (postgres as? PostgresDashboardStore)?.close()
        } catch {
            await (postgres as? PostgresDashboardStore)?.close()
            await database.drop()
            throw error
        }
        #expect(try await database.integer("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'reports_kind'") == 1)
        await database.drop()

        #expect(fromPostgres.overview == fromSQLite.overview)
        #expect(fromPostgres.station == fromSQLite.station)
        // What both show: the red village first, every answer since its 叫应 and who is waited for.
        let overview = fromSQLite.overview
        #expect(overview.contains(#"data-count-level="red">红 1<"#))
        #expect(overview.contains(#"data-call="partial">红色叫应已应答 2/3"#), "\(overview)")
        #expect(overview.contains(#"data-answer="李秀英">李秀英 经来电 1 分后应答"#))
        #expect(overview.contains(#"data-answer="陈志强">陈志强 经短信 12 分后应答"#))
        #expect(overview.contains(#"data-waiting="1">仍待：王建国"#))
        #expect(overview.contains(#"data-call="unanswered">黄色叫应无人应答"#))
        #expect(overview.contains("未应答：赵六"))
        #expect(overview.contains(#"data-drill="true">演练 橙"#))
        #expect(overview.contains("river1 故障"))
        #expect(overview.contains("缺号 1"))
        #expect(overview.contains("冲突 1"))
        let red = try #require(overview.range(of: "黄坑村")), silent = try #require(overview.range(of: "石门村"))
        #expect(red.lowerBound < silent.lowerBound, "most severe first")
        let station = fromSQLite.station
        #expect(station.contains("第 6–6 号（1 条）") && station.contains("第 2 号被再次发送但内容不同"))
        #expect(station.contains(#"data-answer="李秀英""#))
    }

    @Test func serveMigratesAnOlderCountyDatabaseAndRefusesAMissingFile() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        // A file from before the dashboard's index was a migration.
        try fixture.execute("DROP INDEX reports_kind")
        try fixture.execute("DELETE FROM grdb_migrations WHERE identifier = 'v2 reports_kind index'")
        _ = try await ServeCommand.openStore(fixture.databasePath)
        let indexes = try await DatabaseQueue(path: fixture.databasePath).read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'reports_kind'")
        }
        #expect(indexes == ["reports_kind"])
        do {
            _ = try await ServeCommand.openStore(fixture.directory + "/absent.sqlite")
            Issue.record("a missing file was served")
        } catch {
            #expect("\(error)".contains("absent.sqlite: no such file; give the --db that `village-county pull` writes"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/absent.sqlite"))
    }

    // MARK: The server's connections

    /// Serves `dashboard` on a free loopback port with `registry`'s limits while `body` runs.
    static func serve(_ dashboard: Dashboard, registry: APIConnectionRegistry, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let bound = AsyncStream<Int>.makeStream()
        let server = Task { try await dashboard.run(host: "127.0.0.1", port: 0, registry: registry) { bound.continuation.yield($0) } }
        var ports = bound.stream.makeAsyncIterator()
        // The server starts on the cooperative pool, which a full parallel run can starve for a
        // while: this waits for the port however long that takes (the test's own bound applies).
        let port = try #require(await ports.next())
        try await body(port)
        server.cancel()
        _ = await server.result
    }

    @Test(.timeLimit(.minutes(5))) func theDashboardCutsSlowClientsAndMakesRoomForANewOne() async throws {
        let fixture = try DashboardFixture()
        defer { fixture.remove() }
        let dashboard = try DashboardTests.dashboard(fixture, users: nil, stations: [])
        var limits = Dashboard.connectionLimits
        limits.connectionsMax = 2
        // Far beyond the test: only making room can close an idle connection in the first part.
        limits.headerTimeoutMilliseconds = 600_000
        let registry = APIConnectionRegistry(limits: limits)
        try await Self.serve(dashboard, registry: registry) { port in
            var idle: [Int32] = []
            defer { for descriptor in idle { close(descriptor) } }
            for _ in 0..<2 { idle.append(try #require(RawHTTP.connectedSocket(port: port, timeoutSeconds: 60))) }
            while registry.openConnections < 2 { try await Task.sleep(for: .milliseconds(10)) }
            let answer = RawHTTP.exchange(port: port, method: "GET", path: "/healthz", headers: [])
            #expect(answer?.status == 200)
            #expect(registry.counters.evicted == 1)
        }
        var quick = Dashboard.connectionLimits
        quick.headerTimeoutMilliseconds = 300
        let cutting = APIConnectionRegistry(limits: quick)
        try await Self.serve(dashboard, registry: cutting) { port in
            let headCut = try ConnectionLimitTests.sendsPartAndIsCut(port: port, "GET / HTTP/1.1\r\nHost: x\r\n", withinSeconds: 60)
            #expect(headCut)
            #expect(cutting.counters.timedOut == 1)
        }
    }
}
