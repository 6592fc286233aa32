// What the dashboard reads from the county database: two questions (the overview, one station),
// each answered in one read transaction, so that the page never mixes two pulls. The protocol is
// the seam for the county's store: SQLite here, PostgreSQL (PostgresDashboardStore) behind the
// same questions, asked in the same SQL (`DashboardQueries`).
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
    /// For each station, the answers and escalations since its newest 叫应 request (oldest first, bounded).
    package var calls: [String: [StoredReport]]

    package init(
        stations: [StationRow], latest: [String: [String: StoredReport]], sensorHealth: [String: [StoredReport]], calls: [String: [StoredReport]] = [:]
    ) {
        self.stations = stations
        self.latest = latest
        self.sensorHealth = sensorHealth
        self.calls = calls
    }
}

/// A declared gap or a hole the county found, for a station's page.
package struct SequenceRange: Sendable, Equatable {
    package var from: Int64
    package var through: Int64
    /// Declared gaps: the box's reason and count; missing numbers: nil.
    package var reason: String?
    package var count: Int64

    /// Numbers the county found missing without a declared gap.
    static func missing(from: Int64, through: Int64) -> SequenceRange {
        SequenceRange(from: from, through: through, reason: nil, count: through - from + 1)
    }
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
    /// The answers and escalations since the newest 叫应 request, oldest first (bounded).
    package var calls: [StoredReport]
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
    /// Answers and escalations read per station for its newest 叫应: a village names a handful of
    /// contacts, each answers once, and the escalation steps are few.
    package static let callReportsPerStationMax = 64
}

/// The dashboard's questions in SQL that SQLite and PostgreSQL both read (`?` placeholders; the
/// PostgreSQL store numbers them), so the two stores cannot drift apart. The index they walk,
/// `reports_kind (kind, station, sequence)`, is made by the county database's migration.
package enum DashboardQueries {
    static let reportColumns = "station, sequence, time_ms, time, kind, priority, exercise, payload"

    /// The newest report of one kind per station (one statement per kind: faster in both than
    /// one for every kind, whose grouping neither database plans through the index).
    static let newestOfKind = """
        SELECT r.station, r.sequence, r.time_ms, r.time, r.kind, r.priority, r.exercise, r.payload
        FROM (SELECT station, MAX(sequence) AS sequence FROM reports WHERE kind = ? GROUP BY station) m
        JOIN reports r ON r.station = m.station AND r.sequence = m.sequence
        """

    /// The newest sensor_health reports of every station, at most `?` each, newest first.
    static let sensorHealth = """
        SELECT \(reportColumns) FROM (
            SELECT \(reportColumns), ROW_NUMBER() OVER (PARTITION BY station ORDER BY sequence DESC) AS n
            FROM reports WHERE kind = 'sensor_health'
        ) h WHERE n <= ? ORDER BY station, sequence DESC
        """

    /// Every station's answers and escalations after its newest 叫应 request, at most `?` each, oldest first.
    static let calls = """
        SELECT \(reportColumns) FROM (
            SELECT r.station, r.sequence, r.time_ms, r.time, r.kind, r.priority, r.exercise, r.payload,
                ROW_NUMBER() OVER (PARTITION BY r.station ORDER BY r.sequence) AS n
            FROM (SELECT station, MAX(sequence) AS sequence FROM reports WHERE kind = 'acknowledgement_requested' GROUP BY station) q
            JOIN reports r ON r.station = q.station AND r.kind IN ('acknowledged', 'escalated') AND r.sequence > q.sequence
        ) c WHERE n <= ? ORDER BY station, sequence
        """

    /// One station's answers and escalations after its newest 叫应 request, at most `?`, oldest first.
    static let stationCalls = """
        SELECT \(reportColumns) FROM reports
        WHERE station = ? AND kind IN ('acknowledged', 'escalated')
            AND sequence > (SELECT COALESCE(MAX(sequence), 0) FROM reports WHERE kind = 'acknowledgement_requested' AND station = ?)
        ORDER BY sequence LIMIT ?
        """

    static let stationNewestOfKind = "SELECT \(reportColumns) FROM reports WHERE kind = ? AND station = ? ORDER BY sequence DESC LIMIT 1"
    static let stationNewestTime = "SELECT MAX(time_ms) FROM reports WHERE station = ?"
    static let stationWindow = """
        SELECT \(reportColumns) FROM reports WHERE station = ? AND time_ms >= ? ORDER BY time_ms DESC, sequence DESC LIMIT ?
        """
    static let stationSensorHealth = "SELECT \(reportColumns) FROM reports WHERE kind = 'sensor_health' AND station = ? ORDER BY sequence DESC LIMIT ?"
    static let stationGaps = "SELECT from_sequence, through_sequence, count, reason FROM gaps WHERE station = ? ORDER BY from_sequence LIMIT ?"
    static let stationMissing = "SELECT from_sequence, through_sequence FROM missing WHERE station = ? ORDER BY from_sequence LIMIT ?"
    static let stationConflicts = """
        SELECT station, sequence, time_ms, '' AS time, kind, priority, exercise, payload FROM conflicts
        WHERE station = ? ORDER BY sequence LIMIT ?
        """
    static let stationReport = "SELECT \(reportColumns) FROM reports WHERE station = ? AND sequence = ?"

    /// Stations and their counted faults; `filter` is empty or `WHERE station = ?`.
    static func stations(_ filter: String) -> String {
        "SELECT station, name, pulled_through, box_last_sequence, last_pull_at_ms FROM stations \(filter)"
    }
    static func gapCounts(_ filter: String) -> String {
        "SELECT station, COUNT(*) AS ranges, CAST(COALESCE(SUM(count), 0) AS BIGINT) AS reports FROM gaps \(filter) GROUP BY station"
    }
    static func missingCounts(_ filter: String) -> String {
        """
        SELECT station, COUNT(*) AS ranges, CAST(COALESCE(SUM(through_sequence - from_sequence + 1), 0) AS BIGINT) AS numbers
        FROM missing \(filter) GROUP BY station
        """
    }
    static func conflictCounts(_ filter: String) -> String {
        "SELECT station, COUNT(*) AS conflicts FROM conflicts \(filter) GROUP BY station"
    }
}

/// The county's SQLite database, read through a `DatabasePool` (WAL: readers never wait for the
/// pull's writer).
package final class SQLiteDashboardStore: DashboardStore {
    let pool: DatabasePool
    package let path: String

    /// Opens `path` for reading. The database is migrated by the county's store first (`serve`
    /// opens it as `pull` does), which makes the index the overview walks.
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
    }

    package func overview() async throws -> OverviewSnapshot {
        try await pool.read { db in
            let stations = try Self.stationRows(db, only: nil)
            var latest: [String: [String: StoredReport]] = [:]
            for kind in Self.overviewKinds {
                // The newest of this kind per station, through reports_kind.
                let rows = try Row.fetchCursor(db, sql: DashboardQueries.newestOfKind, arguments: [kind])
                while let row = try rows.next() {
                    let report = Self.report(row)
                    latest[report.station, default: [:]][kind] = report
                }
            }
            var sensorHealth: [String: [StoredReport]] = [:]
            let health = try Row.fetchCursor(db, sql: DashboardQueries.sensorHealth, arguments: [DashboardReadLimits.sensorHealthPerStationMax])
            while let row = try health.next() {
                let report = Self.report(row)
                sensorHealth[report.station, default: []].append(report)
            }
            var calls: [String: [StoredReport]] = [:]
            let callRows = try Row.fetchCursor(db, sql: DashboardQueries.calls, arguments: [DashboardReadLimits.callReportsPerStationMax])
            while let row = try callRows.next() {
                let report = Self.report(row)
                calls[report.station, default: []].append(report)
            }
            return OverviewSnapshot(stations: stations, latest: latest, sensorHealth: sensorHealth, calls: calls)
        }
    }

    package func station(_ id: String, windowMilliseconds: Int64) async throws -> StationSnapshot? {
        try await pool.read { db in
            guard let row = try Self.stationRows(db, only: id).first else { return nil }
            var latest: [String: StoredReport] = [:]
            for kind in Self.overviewKinds {
                if let found = try Row.fetchOne(db, sql: DashboardQueries.stationNewestOfKind, arguments: [kind, id]) {
                    latest[kind] = Self.report(found)
                }
            }
            // The window ends at the newest report the county holds: a silent box still shows
            // its last 72 h, and a replayed storm (box time in the past) shows its storm.
            let newest = try Int64.fetchOne(db, sql: DashboardQueries.stationNewestTime, arguments: [id])
            var reports: [StoredReport] = []
            var truncated = false
            if let newest {
                let rows = try Row.fetchAll(
                    db, sql: DashboardQueries.stationWindow, arguments: [id, newest - windowMilliseconds, DashboardReadLimits.stationReportsMax + 1])
                truncated = rows.count > DashboardReadLimits.stationReportsMax
                reports = rows.prefix(DashboardReadLimits.stationReportsMax).map(Self.report).reversed()
            }
            let sensorHealth = try Row.fetchAll(
                db, sql: DashboardQueries.stationSensorHealth, arguments: [id, DashboardReadLimits.sensorHealthPerStationMax]
            ).map(Self.report)
            let calls = try Row.fetchAll(
                db, sql: DashboardQueries.stationCalls, arguments: [id, id, DashboardReadLimits.callReportsPerStationMax]
            ).map(Self.report)
            let gaps = try Row.fetchAll(db, sql: DashboardQueries.stationGaps, arguments: [id, DashboardReadLimits.gapsPerStationMax]).map {
                SequenceRange(from: $0["from_sequence"], through: $0["through_sequence"], reason: $0["reason"], count: $0["count"])
            }
            let missing = try Row.fetchAll(db, sql: DashboardQueries.stationMissing, arguments: [id, DashboardReadLimits.gapsPerStationMax]).map {
                SequenceRange.missing(from: $0["from_sequence"], through: $0["through_sequence"])
            }
            var conflicts: [(first: StoredReport?, later: StoredReport)] = []
            for conflict in try Row.fetchAll(db, sql: DashboardQueries.stationConflicts, arguments: [id, DashboardReadLimits.conflictsPerStationMax]) {
                let later = Self.report(conflict)
                let first = try Row.fetchOne(db, sql: DashboardQueries.stationReport, arguments: [id, later.sequence]).map(Self.report)
                conflicts.append((first, later))
            }
            return StationSnapshot(
                row: row, reports: reports, truncated: truncated, latest: latest, sensorHealth: sensorHealth, calls: calls, gaps: gaps,
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
        var rows = StationRows()
        for row in try Row.fetchAll(db, sql: DashboardQueries.stations(filter), arguments: arguments) {
            rows.add(StationRow(
                station: row["station"], name: row["name"], pulledThrough: row["pulled_through"], boxLastSequence: row["box_last_sequence"],
                lastPullAtMilliseconds: row["last_pull_at_ms"]))
        }
        for row in try Row.fetchAll(db, sql: DashboardQueries.gapCounts(filter), arguments: arguments) {
            rows.gaps(row["station"], ranges: row["ranges"], reports: row["reports"])
        }
        for row in try Row.fetchAll(db, sql: DashboardQueries.missingCounts(filter), arguments: arguments) {
            rows.missing(row["station"], ranges: row["ranges"], numbers: row["numbers"])
        }
        for row in try Row.fetchAll(db, sql: DashboardQueries.conflictCounts(filter), arguments: arguments) {
            rows.conflicts(row["station"], count: row["conflicts"])
        }
        return rows.ordered
    }
}

/// Station rows as they are read, then their counted faults added by id (both stores).
struct StationRows {
    private var rows: [String: StationRow] = [:]
    private var order: [String] = []

    mutating func add(_ row: StationRow) {
        rows[row.station] = row
        order.append(row.station)
    }

    mutating func gaps(_ station: String, ranges: Int64, reports: Int64) {
        rows[station]?.gapRanges = ranges
        rows[station]?.gapReports = reports
    }

    mutating func missing(_ station: String, ranges: Int64, numbers: Int64) {
        rows[station]?.missingRanges = ranges
        rows[station]?.missingNumbers = numbers
    }

    mutating func conflicts(_ station: String, count: Int64) { rows[station]?.conflicts = count }

    var ordered: [StationRow] { order.compactMap { rows[$0] } }
}

package struct DashboardStoreError: Error, CustomStringConvertible {
    package var description: String

    package init(description: String) {
        self.description = description
    }
}
