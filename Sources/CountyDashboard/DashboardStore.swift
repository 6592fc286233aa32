// What the dashboard reads from the county database: two questions (the overview, one station),
// each answered in one read transaction, so that the page never mixes two pulls. The protocol is
// the seam for the county's store (SQLite today, PostgreSQL behind the same questions).
import Foundation
import GRDB

/// One report as the county stored it (contract v2: kind in snake_case, payload as JSON text).
package struct StoredReport: Sendable, Equatable {
    package var station: String
    package var sequence: Int64
    package var timeMilliseconds: Int64
    /// Station-local time with its offset, as the box sent it.
    package var time: String
    package var kind: String
    package var priority: String
    package var exercise: Bool
    package var payload: String

    package init(station: String, sequence: Int64, timeMilliseconds: Int64, time: String, kind: String, priority: String, exercise: Bool, payload: String) {
        self.station = station
        self.sequence = sequence
        self.timeMilliseconds = timeMilliseconds
        self.time = time
        self.kind = kind
        self.priority = priority
        self.exercise = exercise
        self.payload = payload
    }

    /// The payload's object; empty for a payload that is not a JSON object (the pull checked it,
    /// so that is a county-side fault, shown as "no detail" rather than stopping the page).
    package var fields: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] ?? [:]
    }
}

/// A box's row in the stations table, with its counted faults.
package struct StationRow: Sendable, Equatable {
    package var station: String
    package var name: String
    package var pulledThrough: Int64
    package var boxLastSequence: Int64
    /// The county's clock when a pull last talked to the box; nil if it never did.
    package var lastPullAtMilliseconds: Int64?
    package var gapRanges: Int64 = 0
    package var gapReports: Int64 = 0
    package var missingRanges: Int64 = 0
    package var missingNumbers: Int64 = 0
    package var conflicts: Int64 = 0

    package init(station: String, name: String, pulledThrough: Int64, boxLastSequence: Int64, lastPullAtMilliseconds: Int64?) {
        self.station = station
        self.name = name
        self.pulledThrough = pulledThrough
        self.boxLastSequence = boxLastSequence
        self.lastPullAtMilliseconds = lastPullAtMilliseconds
    }
}

/// Everything the overview needs, read at one instant.
package struct OverviewSnapshot: Sendable {
    package var stations: [StationRow]
    /// For each station, the newest report of each kind in `DashboardStore.overviewKinds`.
    package var latest: [String: [String: StoredReport]]
    /// For each station, its newest sensor_health reports (newest first, bounded).
    package var sensorHealth: [String: [StoredReport]]

    package init(stations: [StationRow], latest: [String: [String: StoredReport]], sensorHealth: [String: [StoredReport]]) {
        self.stations = stations
        self.latest = latest
        self.sensorHealth = sensorHealth
    }
}

/// A declared gap or a hole the county found, for a station's page.
package struct SequenceRange: Sendable, Equatable {
    package var from: Int64
    package var through: Int64
    /// Declared gaps: the box's reason and count; missing numbers: nil.
    package var reason: String?
    package var count: Int64
}

package struct StationSnapshot: Sendable {
    package var row: StationRow
    /// Reports in the window, oldest first (bounded by `DashboardStore.stationReportsMax`).
    package var reports: [StoredReport]
    /// True when the window held more than the bound and the oldest were left out.
    package var truncated: Bool
    /// The newest report of each overview kind, whatever its age (the state before the window).
    package var latest: [String: StoredReport]
    package var sensorHealth: [StoredReport]
    package var gaps: [SequenceRange]
    package var missing: [SequenceRange]
    /// Numbers sent again with other content: (the stored first copy, the later one).
    package var conflicts: [(first: StoredReport?, later: StoredReport)]
}

package protocol DashboardStore: Sendable {
    func overview() async throws -> OverviewSnapshot
    /// nil for a station the database does not know.
    func station(_ id: String, windowMilliseconds: Int64) async throws -> StationSnapshot?
}

extension DashboardStore {
    /// The kinds whose newest report makes a station's current state.
    package static var overviewKinds: [String] {
        [
            "level_changed", "acknowledgement_requested", "acknowledged", "escalated", "acknowledgement_unanswered",
            "drill", "county_warning", "latch_cleared", "manual_level", "observation_summary",
        ]
    }
}

/// Limits on what one page reads, so a station with a runaway backlog cannot stall the server.
package enum DashboardReadLimits {
    /// 72 h at one summary a minute and a storm's events fit with room.
    package static let stationReportsMax = 6_000
    /// Sensor-health reports read per station: a box has a few sensors, each flapping a little.
    package static let sensorHealthPerStationMax = 32
    package static let gapsPerStationMax = 500
    package static let conflictsPerStationMax = 200
}

/// The county's SQLite database, read through a `DatabasePool` (WAL: readers never wait for the
/// pull's writer).
package final class SQLiteDashboardStore: DashboardStore {
    let pool: DatabasePool
    package let path: String

    /// Opens `path` for reading; adds the one index the overview's questions need if missing.
    package init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw DashboardStoreError(
                description: "county database \(path): no such file; give the --db that `village-county pull` writes")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        pool = try DatabasePool(path: path, configuration: configuration)
        let hasStations = try pool.read { db in try db.tableExists("stations") && db.tableExists("reports") }
        guard hasStations else {
            throw DashboardStoreError(
                description: "county database \(path): no stations or reports table; is this the file `village-county pull --db` writes?")
        }
        // "Newest report of a kind per station" walks this index instead of every report: it is
        // what keeps the overview of 2,000 stations inside its time (Benchmarks/DashboardBenchmark).
        try pool.write { db in
            try db.execute(sql: "CREATE INDEX IF NOT EXISTS reports_kind ON reports (kind, station, sequence)")
        }
    }

    package func overview() async throws -> OverviewSnapshot {
        try await pool.read { db in
            let stations = try Self.stationRows(db, only: nil)
            var latest: [String: [String: StoredReport]] = [:]
            for kind in Self.overviewKinds {
                // The newest of this kind per station, through reports_kind.
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT r.station, r.sequence, r.time_ms, r.time, r.kind, r.priority, r.exercise, r.payload
                        FROM (SELECT station, MAX(sequence) AS sequence FROM reports WHERE kind = ? GROUP BY station) m
                        JOIN reports r ON r.station = m.station AND r.sequence = m.sequence
                        """,
                    arguments: [kind])
                while let row = try rows.next() {
                    let report = Self.report(row)
                    latest[report.station, default: [:]][kind] = report
                }
            }
            var sensorHealth: [String: [StoredReport]] = [:]
            let health = try Row.fetchCursor(
                db,
                sql: """
                    SELECT station, sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                    WHERE kind = 'sensor_health' ORDER BY station, sequence DESC
                    """)
            while let row = try health.next() {
                let report = Self.report(row)
                if sensorHealth[report.station, default: []].count < DashboardReadLimits.sensorHealthPerStationMax {
                    sensorHealth[report.station, default: []].append(report)
                }
            }
            return OverviewSnapshot(stations: stations, latest: latest, sensorHealth: sensorHealth)
        }
    }

    package func station(_ id: String, windowMilliseconds: Int64) async throws -> StationSnapshot? {
        try await pool.read { db in
            guard let row = try Self.stationRows(db, only: id).first else { return nil }
            var latest: [String: StoredReport] = [:]
            for kind in Self.overviewKinds {
                if let found = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT station, sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                        WHERE kind = ? AND station = ? ORDER BY sequence DESC LIMIT 1
                        """,
                    arguments: [kind, id])
                {
                    latest[kind] = Self.report(found)
                }
            }
            // The window ends at the newest report the county holds: a silent box still shows
            // its last 72 h, and a replayed storm (box time in the past) shows its storm.
            let newest = try Int64.fetchOne(db, sql: "SELECT MAX(time_ms) FROM reports WHERE station = ?", arguments: [id])
            var reports: [StoredReport] = []
            var truncated = false
            if let newest {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT station, sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                        WHERE station = ? AND time_ms >= ? ORDER BY time_ms DESC, sequence DESC LIMIT ?
                        """,
                    arguments: [id, newest - windowMilliseconds, DashboardReadLimits.stationReportsMax + 1])
                truncated = rows.count > DashboardReadLimits.stationReportsMax
                reports = rows.prefix(DashboardReadLimits.stationReportsMax).map(Self.report).reversed()
            }
            let sensorHealth = try Row.fetchAll(
                db,
                sql: """
                    SELECT station, sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                    WHERE kind = 'sensor_health' AND station = ? ORDER BY sequence DESC LIMIT ?
                    """,
                arguments: [id, DashboardReadLimits.sensorHealthPerStationMax]
            ).map(Self.report)
            let gaps = try Row.fetchAll(
                db,
                sql: "SELECT from_sequence, through_sequence, count, reason FROM gaps WHERE station = ? ORDER BY from_sequence LIMIT ?",
                arguments: [id, DashboardReadLimits.gapsPerStationMax]
            ).map { SequenceRange(from: $0["from_sequence"], through: $0["through_sequence"], reason: $0["reason"], count: $0["count"]) }
            let missing = try Row.fetchAll(
                db,
                sql: "SELECT from_sequence, through_sequence FROM missing WHERE station = ? ORDER BY from_sequence LIMIT ?",
                arguments: [id, DashboardReadLimits.gapsPerStationMax]
            ).map { row -> SequenceRange in
                let from: Int64 = row["from_sequence"]
                let through: Int64 = row["through_sequence"]
                return SequenceRange(from: from, through: through, reason: nil, count: through - from + 1)
            }
            var conflicts: [(first: StoredReport?, later: StoredReport)] = []
            let conflictRows = try Row.fetchAll(
                db,
                sql: """
                    SELECT station, sequence, time_ms, '' AS time, kind, priority, exercise, payload FROM conflicts
                    WHERE station = ? ORDER BY sequence LIMIT ?
                    """,
                arguments: [id, DashboardReadLimits.conflictsPerStationMax])
            for conflict in conflictRows {
                let later = Self.report(conflict)
                let first = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT station, sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                        WHERE station = ? AND sequence = ?
                        """,
                    arguments: [id, later.sequence]
                ).map(Self.report)
                conflicts.append((first, later))
            }
            return StationSnapshot(
                row: row, reports: reports, truncated: truncated, latest: latest, sensorHealth: sensorHealth, gaps: gaps,
                missing: missing, conflicts: conflicts)
        }
    }

    private static func report(_ row: Row) -> StoredReport {
        StoredReport(
            station: row[0], sequence: row[1], timeMilliseconds: row[2], time: row[3], kind: row[4], priority: row[5],
            exercise: (row[6] as Int64) != 0, payload: row[7])
    }

    private static func stationRows(_ db: Database, only: String?) throws -> [StationRow] {
        let filter = only == nil ? "" : "WHERE station = ?"
        let arguments: StatementArguments = only.map { [$0] } ?? []
        var rows: [String: StationRow] = [:]
        var order: [String] = []
        for row in try Row.fetchAll(
            db, sql: "SELECT station, name, pulled_through, box_last_sequence, last_pull_at_ms FROM stations \(filter)", arguments: arguments)
        {
            let station = StationRow(
                station: row["station"], name: row["name"], pulledThrough: row["pulled_through"], boxLastSequence: row["box_last_sequence"],
                lastPullAtMilliseconds: row["last_pull_at_ms"])
            rows[station.station] = station
            order.append(station.station)
        }
        for row in try Row.fetchAll(
            db, sql: "SELECT station, COUNT(*) AS ranges, SUM(count) AS reports FROM gaps \(filter) GROUP BY station", arguments: arguments)
        {
            let id: String = row["station"]
            rows[id]?.gapRanges = row["ranges"]
            rows[id]?.gapReports = row["reports"] ?? 0
        }
        for row in try Row.fetchAll(
            db,
            sql: "SELECT station, COUNT(*) AS ranges, SUM(through_sequence - from_sequence + 1) AS numbers FROM missing \(filter) GROUP BY station",
            arguments: arguments)
        {
            let id: String = row["station"]
            rows[id]?.missingRanges = row["ranges"]
            rows[id]?.missingNumbers = row["numbers"] ?? 0
        }
        for row in try Row.fetchAll(db, sql: "SELECT station, COUNT(*) AS conflicts FROM conflicts \(filter) GROUP BY station", arguments: arguments) {
            let id: String = row["station"]
            rows[id]?.conflicts = row["conflicts"]
        }
        return order.compactMap { rows[$0] }
    }
}

package struct DashboardStoreError: Error, CustomStringConvertible {
    package var description: String

    package init(description: String) {
        self.description = description
    }
}
