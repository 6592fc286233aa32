// The dashboard overview's server time for a province (issue 17 goal: 2,000 stations under
// 200 ms, with SQLite and with PostgreSQL): a county database made by the real `village-county
// pull` (its schema, its migration), filled with 72 hours of a storm per station (hourly summaries,
// level changes, 叫应 requests and answers from several contacts, sensor faults, gaps), then the
// overview read, built and rendered as `serve` does. The same rows go into PostgreSQL when
// VG_TEST_POSTGRES_URL names a server (tools/with-postgres.sh sets it; `make bench` runs under it).
//
// Usage: [tools/with-postgres.sh] DashboardBenchmark PATH/TO/village-county [stations (2000)] [rounds (20)]
import CountyDashboard
import Foundation
import GRDB
import Logging
import PostgresNIO
import WarningLogic

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: DashboardBenchmark PATH/TO/village-county [stations] [rounds]\n".utf8))
    exit(64)
}
let countyBinary = arguments[1]
let stationCount = arguments.count > 2 ? Int(arguments[2]) ?? 2_000 : 2_000
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 20 : 20
let hours = 72

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }
let databasePath = folder + "/county.sqlite"

// The schema comes from the real program: a pull of one unreachable box creates and migrates it.
let stationsFile = folder + "/stations.toml"
try "[[station]]\nid = \"9999999999\"\nname = \"x\"\nurl = \"http://127.0.0.1:9\"\nkey_file = \"k.hex\"\n".write(toFile: stationsFile, atomically: true, encoding: .utf8)
try String(repeating: "5a", count: 32).write(toFile: folder + "/k.hex", atomically: true, encoding: .utf8)
@MainActor func migrate(_ database: String) {
    let pull = Process()
    pull.executableURL = URL(fileURLWithPath: countyBinary)
    pull.arguments = ["pull", "--stations", stationsFile, "--db", database, "--timeout", "1"]
    pull.standardOutput = FileHandle.nullDevice
    pull.standardError = FileHandle.nullDevice
    do { try pull.run() } catch {
        FileHandle.standardError.write(Data("cannot run \(countyBinary): \(error)\n".utf8))
        exit(1)
    }
    pull.waitUntilExit()
}
migrate(databasePath)
guard FileManager.default.fileExists(atPath: databasePath) else {
    FileHandle.standardError.write(Data("\(countyBinary) pull did not create \(databasePath)\n".utf8))
    exit(1)
}

// The rows, made once and stored in each database.
struct Rows {
    var stations: [(id: String, name: String, pulledThrough: Int64, boxLast: Int64)] = []
    var reports: [(station: String, sequence: Int64, time: Int64, kind: String, priority: String, payload: String)] = []
    var gapStations: [String] = []
}
let end: Int64 = 1_596_484_800_000  // 2020-08-04T04:00+08:00
let hour: Int64 = 3_600_000
var rows = Rows()
do {
    for index in 0..<stationCount {
        let station = String(format: "%010d", 1_000_000 + index)
        var sequence: Int64 = 0
        func add(_ time: Int64, _ kind: String, _ priority: String, _ payload: String) {
            sequence += 1
            rows.reports.append((station, sequence, time, kind, priority, payload))
        }
        let peak: WarningLevel = [.none, .blue, .yellow, .orange, .red][index % 5]
        for h in 0..<hours {
            let time = end - Int64(hours - h) * hour
            add(time, "observation_summary", "routine", """
                {"level":"none","observed_at_milliseconds":\(time),"period_milliseconds":3600000,"sensors":[\
                {"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters1h":\(Double(h % 17)),"rain_millimeters6h":\(Double(h % 40)),\
                "rain_millimeters_period":\(Double(h % 17)),"rain_millimeters_today":\(Double(h))},\
                {"faulty":\(index % 50 == 0),"id":"river1","kind":"water_level","water_level_meters":\(1.2 + Double(h) / 50)}]}
                """)
            if peak > .none, h >= hours - 12, h - (hours - 12) < Int(peak.rawValue) {
                let to = WarningLevel(rawValue: h - (hours - 12) + 1)!
                add(time + 60_000, "level_changed", "alarm", #"{"causes":["rain-1h"],"from":"\#(WarningLevel(rawValue: to.rawValue - 1)!.name)","to":"\#(to.name)"}"#)
                add(time + 61_000, "acknowledgement_requested", "event", #"{"contacts":["村长","网格员"],"deadline_ms":\#(time + 900_000),"level":"\#(to.name)"}"#)
                // Issue 14: each contact answers on their own; a third of the villages hear from
                // both, a third from one after an escalation, a third from nobody yet.
                if index % 3 != 2 {
                    add(time + 300_000, "acknowledged", "event", #"{"by":"村长","channel":"sms","level":"\#(to.name)","requested_at_ms":\#(time + 61_000),"seconds_to_answer":239}"#)
                }
                if index % 3 == 1 {
                    add(time + 961_000, "escalated", "event", #"{"called":["网格员"],"contacts":["镇长"],"level":"\#(to.name)","step":1}"#)
                }
                if index % 3 == 0 {
                    add(time + 420_000, "acknowledged", "event", #"{"by":"网格员","channel":"call","level":"\#(to.name)","requested_at_ms":\#(time + 61_000),"seconds_to_answer":359}"#)
                }
            }
        }
        if index % 40 == 0 { add(end, "sensor_health", "event", #"{"faulty":true,"reason":"no reading for 30 min","sensor_id":"river1"}"#) }
        rows.stations.append((station, "村\(index)", sequence, sequence + Int64(index % 7)))
        if index % 100 == 0 { rows.gapStations.append(station) }
    }
}
let local = "2020-08-04T04:00:00+08:00"

// SQLite.
let fillStart = Date()
let queue = try DatabaseQueue(path: databasePath)
try queue.write { db in
    try db.execute(sql: "DELETE FROM stations")
    let insert = try db.makeStatement(sql: """
        INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
        VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)
        """)
    for report in rows.reports {
        try insert.execute(arguments: [report.station, report.sequence, report.time, local, report.kind, report.priority, report.payload, end])
    }
    for station in rows.stations {
        try db.execute(
            sql: "INSERT INTO stations (station, name, url, pulled_through, acknowledged_through, box_last_sequence, last_pull_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [station.id, station.name, "http://127.0.0.1:1", station.pulledThrough, station.pulledThrough, station.boxLast, end])
    }
    for station in rows.gapStations {
        try db.execute(
            sql: "INSERT INTO gaps (station, from_sequence, through_sequence, count, reason, recorded_at, first_seen_at_ms) VALUES (?, 2, 5, 4, 'outbox full', '', 0)",
            arguments: [station])
    }
}
print(String(format: "filled SQLite: %d stations, %d reports in %.1f s", stationCount, rows.reports.count, Date().timeIntervalSince(fillStart)))

func milliseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1_000 + Double(elapsed.components.attoseconds) / 1e15
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// Reads, builds and renders the overview `rounds` times, as `serve` answers `GET /`.
@MainActor func measure(_ name: String, _ store: any DashboardStore) async throws -> String {
    var readTimes: [Double] = []
    var totalTimes: [Double] = []
    var page = ""
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        let snapshot = try await store.overview()
        readTimes.append(milliseconds(since: start))
        let states = OverviewPage.states(snapshot, configured: [], nowMilliseconds: end, silentAfterMilliseconds: 15 * 60_000)
        page = OverviewPage.render(states, nowMilliseconds: end, silentAfterMilliseconds: 15 * 60_000, user: nil)
        totalTimes.append(milliseconds(since: start))
    }
    print(String(
        format: "%@ overview of %d stations: median %.1f ms (read %.1f ms, build and render %.1f ms), max %.1f ms over %d rounds; page %d KiB; goal < 200 ms",
        name, stationCount, median(totalTimes), median(readTimes), median(totalTimes) - median(readTimes), totalTimes.max() ?? 0, rounds,
        page.utf8.count / 1024))
    return page
}

let sqlitePage = try await measure("SQLite", try SQLiteDashboardStore(path: databasePath))

// PostgreSQL, when a server is named: a database of its own, migrated by the real program too.
if let server = ProcessInfo.processInfo.environment["VG_TEST_POSTGRES_URL"] {
    let location = try PostgresLocation.parse(server)
    let name = "dashboard_bench_\(getpid())"
    var logger = Logger(label: "dashboard-benchmark")
    logger.logLevel = .critical
    try await location.withConnection(database: location.database, logger: logger) { connection in
        _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
    }
    var components = URLComponents(string: server)!
    components.path = "/" + name
    let url = components.string!
    do {
        migrate(url)
        let postgresFill = Date()
        // One statement per batch: the arrays unnested on the server (as the pull stores a page).
        let batch = 5_000
        try await location.withConnection(database: name, logger: logger) { connection in
            _ = try await connection.query("DELETE FROM stations", logger: logger)
            for from in stride(from: 0, to: rows.reports.count, by: batch) {
                let part = rows.reports[from..<min(from + batch, rows.reports.count)]
                _ = try await connection.query(
                    """
                    INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
                    SELECT r.station, r.sequence, r.time_ms, \(local), r.kind, r.priority, 0, r.payload, \(end)
                    FROM unnest(\(part.map(\.station))::text[], \(part.map(\.sequence))::bigint[], \(part.map(\.time))::bigint[],
                        \(part.map(\.kind))::text[], \(part.map(\.priority))::text[], \(part.map(\.payload))::text[])
                        AS r(station, sequence, time_ms, kind, priority, payload)
                    """, logger: logger)
            }
            let stations = rows.stations
            _ = try await connection.query(
                """
                INSERT INTO stations (station, name, url, pulled_through, acknowledged_through, box_last_sequence, last_pull_at_ms)
                SELECT s.station, s.name, 'http://127.0.0.1:1', s.pulled, s.pulled, s.last, \(end)
                FROM unnest(\(stations.map(\.id))::text[], \(stations.map(\.name))::text[], \(stations.map(\.pulledThrough))::bigint[],
                    \(stations.map(\.boxLast))::bigint[]) AS s(station, name, pulled, last)
                """, logger: logger)
            _ = try await connection.query(
                """
                INSERT INTO gaps (station, from_sequence, through_sequence, count, reason, recorded_at, first_seen_at_ms)
                SELECT g, 2, 5, 4, 'outbox full', '', 0 FROM unnest(\(rows.gapStations)::text[]) AS g
                """, logger: logger)
            // As autovacuum would soon after a pull: the planner's statistics for the new rows.
            _ = try await connection.query("VACUUM ANALYZE", logger: logger)
        }
        print(String(format: "filled PostgreSQL: %d stations, %d reports in %.1f s", stationCount, rows.reports.count, Date().timeIntervalSince(postgresFill)))
        let store = try await PostgresDashboardStore.open(url: url)
        let postgresPage = try await measure("PostgreSQL", store)
        await store.close()
        print(postgresPage == sqlitePage ? "the two pages are the same" : "error: the PostgreSQL page differs from the SQLite page")
    } catch {
        print("error: PostgreSQL: \(error)")
    }
    _ = try? await location.withConnection(database: location.database, logger: logger) { connection in
        _ = try await connection.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
    }
}
