// A county database written by the previous village-county (reports WITHOUT ROWID) is migrated
// to the rowid table at its next pull: every report, gap, number and conflict is still there,
// and a report received again is still stored once.
import Foundation
import GRDB
import Testing
@testable import VillageCounty
@testable import VillageGateway

@Suite struct CountyDatabaseMigrationTests {
    /// The county schema before migration v3, word for word (migrations v1 and v2).
    static let previousSchema = """
        CREATE TABLE stations (
            station TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            url TEXT NOT NULL,
            pulled_through INTEGER NOT NULL DEFAULT 0,
            acknowledged_through INTEGER NOT NULL DEFAULT 0,
            box_last_sequence INTEGER NOT NULL DEFAULT 0,
            last_pull_at_ms INTEGER
        );
        CREATE TABLE reports (
            station TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            time_ms INTEGER NOT NULL,
            time TEXT NOT NULL,
            kind TEXT NOT NULL,
            priority TEXT NOT NULL CHECK (priority IN ('alarm', 'event', 'routine')),
            exercise INTEGER NOT NULL CHECK (exercise IN (0, 1)),
            payload TEXT NOT NULL,
            stored_at_ms INTEGER NOT NULL,
            PRIMARY KEY (station, sequence)
        ) WITHOUT ROWID;
        CREATE INDEX reports_time ON reports (station, time_ms);
        CREATE TABLE gaps (
            station TEXT NOT NULL,
            from_sequence INTEGER NOT NULL,
            through_sequence INTEGER NOT NULL,
            count INTEGER NOT NULL,
            reason TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            first_seen_at_ms INTEGER NOT NULL,
            PRIMARY KEY (station, from_sequence, through_sequence)
        ) WITHOUT ROWID;
        CREATE TABLE missing (
            station TEXT NOT NULL,
            from_sequence INTEGER NOT NULL,
            through_sequence INTEGER NOT NULL,
            found_at_ms INTEGER NOT NULL,
            PRIMARY KEY (station, from_sequence)
        ) WITHOUT ROWID;
        CREATE TABLE conflicts (
            station TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            time_ms INTEGER NOT NULL,
            kind TEXT NOT NULL,
            priority TEXT NOT NULL,
            exercise INTEGER NOT NULL,
            payload TEXT NOT NULL,
            seen_at_ms INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS reports_kind ON reports (kind, station, sequence);
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
        INSERT INTO grdb_migrations VALUES ('v1 stations, reports, gaps, missing, conflicts'), ('v2 reports_kind index');
        """

    static let stations = ["0011223344", "0011223345"]

    /// A summary's payload as large as a real one (1.5 KB), so the old rows spill to overflow pages.
    static func report(_ sequence: Int64) -> CountyReport {
        let filler = String(repeating: "雨", count: 480)
        return CountyReport(
            sequence: sequence, timeMilliseconds: 1_780_000_000_000 + sequence * 3_600_000, time: "2026-05-29T08:00:00+08:00",
            kind: sequence % 10 == 0 ? "level_changed" : "observation_summary", priority: sequence % 10 == 0 ? "alarm" : "routine",
            exercise: sequence == 7, payload: #"{"sequence":\#(sequence),"note":"\#(filler)"}"#)
    }

    static func rows(_ database: DatabaseQueue, _ sql: String) throws -> [[String]] {
        try database.read { db in
            try Row.fetchAll(db, sql: sql).map { row in row.databaseValues.map { String.fromDatabaseValue($0) ?? "\($0)" } }
        }
    }

    @Test func aDatabaseOfThePreviousSchemaKeepsEveryReportAfterTheMigration() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-county-migration-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/county.sqlite"
        let old = try DatabaseQueue(path: path)
        try await old.write { db in
            try db.execute(sql: Self.previousSchema)
            for station in Self.stations {
                try db.execute(
                    sql: "INSERT INTO stations (station, name, url, pulled_through, acknowledged_through, box_last_sequence) VALUES (?, ?, ?, 300, 300, 300)",
                    arguments: [station, "村 \(station)", "http://127.0.0.1:1"])
                for sequence in Int64(1)...300 where sequence != 42 {
                    let report = Self.report(sequence)
                    try db.execute(
                        sql: """
                            INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            station, sequence, report.timeMilliseconds, report.time, report.kind, report.priority, report.exercise ? 1 : 0,
                            report.payload, 1_790_000_000_000,
                        ])
                }
            }
            try db.execute(sql: """
                INSERT INTO gaps VALUES ('0011223344', 42, 42, 1, 'thinned', '2026-05-29T08:00:00+08:00', 1);
                INSERT INTO missing VALUES ('0011223345', 42, 42, 1);
                INSERT INTO conflicts VALUES ('0011223344', 5, 0, 'k', 'routine', 0, '{}', 1);
                """)
        }
        let everything = "SELECT station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms FROM reports ORDER BY station, sequence"
        let before = try Self.rows(old, everything)
        let others = "SELECT (SELECT COUNT(*) FROM gaps), (SELECT COUNT(*) FROM missing), (SELECT COUNT(*) FROM conflicts), (SELECT group_concat(station || ':' || pulled_through) FROM stations)"
        let othersBefore = try Self.rows(old, others)
        try old.close()
        #expect(before.count == 2 * 299)

        let county = try CountyDatabase(path: path)
        let migrated = try DatabaseQueue(path: path)
        #expect(try Self.rows(migrated, everything) == before)
        #expect(try Self.rows(migrated, others) == othersBefore)
        let schema = try Self.rows(migrated, "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'reports' AND sql IS NOT NULL ORDER BY name")
        #expect(schema.map { $0[0] } == ["reports", "reports_kind", "reports_time"])
        #expect(!schema[0][1].contains("WITHOUT ROWID"))
        #expect(try Self.rows(migrated, "PRAGMA quick_check") == [["ok"]])
        #expect(try await county.reportCount(station: Self.stations[0]) == 299)
        // A file keeps its page size; its WAL is still copied only once it holds 64 MiB.
        #expect(try county.pages() == (4_096, 16_384))

        // The key still holds: a re-pull stores nothing twice, and other content under a stored
        // number is kept aside, never written over; the next new report is stored.
        var changed = Self.report(6)
        changed.payload = #"{"sequence":6,"note":"changed"}"#
        let again = CheckedPage(
            after: 3, through: 6, boxLastSequence: 301, reports: [Self.report(4), Self.report(5), changed], gaps: [], more: true)
        let repeated = try await county.store(again, station: Self.stations[1], atMilliseconds: 1_800_000_000_000)
        #expect(repeated.newReports == 0)
        #expect(repeated.alreadyStored == 3)
        #expect(repeated.conflicts == [6])
        let next = CheckedPage(after: 300, through: 301, boxLastSequence: 301, reports: [Self.report(301)], gaps: [], more: false)
        #expect(try await county.store(next, station: Self.stations[1], atMilliseconds: 1_800_000_000_000).newReports == 1)
        #expect(try await county.reportCount(station: Self.stations[1]) == 300)
        let sixth = try await migrated.read { db in
            try String.fetchAll(db, sql: "SELECT payload FROM reports WHERE station = ? AND sequence = 6", arguments: [Self.stations[1]])
        }
        #expect(sixth == [Self.report(6).payload])
    }

    @Test func aNewCountyDatabaseHasLargePagesAndABoundedWAL() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-county-pages-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let county = try CountyDatabase(path: directory + "/county.sqlite")
        // Ten summaries a page, and a checkpoint after many pages of reports rather than after each.
        #expect(try county.pages() == (16_384, 4_096))
        #expect(try county.durability() == ("wal", 2))
    }
}
