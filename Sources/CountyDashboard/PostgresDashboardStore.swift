// The dashboard over a province's county database in PostgreSQL (`village-county serve --db
// postgres://…`): the SQLite store's questions (`DashboardQueries`), each answered in one
// read-only REPEATABLE READ transaction, so a page never mixes two pulls.
import Foundation
import Logging
import PostgresNIO

package final class PostgresDashboardStore: DashboardStore {
    package let location: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    /// Pages being drawn at once: a county office has a few screens, each reloading every 30 s.
    package static let connectionsMax = 8
    /// A server that does not answer a connection within this is reported, not waited on.
    static let connectTimeoutSeconds: Int64 = 10

    private init(location: String, client: PostgresClient, runner: Task<Void, Never>, logger: Logger) {
        self.location = location
        self.client = client
        self.runner = runner
        self.logger = logger
    }

    /// Connects to `url` and checks that the county's tables are there (the caller migrates the
    /// database first, as `pull` does: `serve` opens the county store before this).
    package static func open(url: String) async throws -> PostgresDashboardStore {
        let parsed = try PostgresLocation.parse(url)
        var configuration = try parsed.configuration()
        configuration.options.maximumConnections = connectionsMax
        configuration.options.connectTimeout = .seconds(connectTimeoutSeconds)
        var logger = Logger(label: "village-county.dashboard.postgres")
        logger.logLevel = .critical
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let runner = Task { await client.run() }
        let store = PostgresDashboardStore(location: parsed.description, client: client, runner: runner, logger: logger)
        do {
            let tables = try await store.read { connection, logger in
                var found: [String] = []
                let rows = try await connection.query(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_name IN ('stations', 'reports') AND table_schema = current_schema()",
                    logger: logger)
                for try await name in rows.decode(String.self) { found.append(name) }
                return found
            }
            guard tables.count == 2 else {
                throw DashboardStoreError(
                    description: "county database \(parsed.description): no stations or reports table; is this the database `village-county pull --db` writes?")
            }
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    package func close() async {
        runner.cancel()
        await runner.value
    }

    package func overview() async throws -> OverviewSnapshot {
        try await read { connection, logger in
            let stations = try await Self.stationRows(connection, only: nil, logger: logger)
            var latest: [String: [String: StoredReport]] = [:]
            for kind in Self.overviewKinds {
                for report in try await Self.reports(connection, DashboardQueries.newestOfKind, [kind], logger: logger) {
                    latest[report.station, default: [:]][kind] = report
                }
            }
            var sensorHealth: [String: [StoredReport]] = [:]
            for report in try await Self.reports(connection, DashboardQueries.sensorHealth, [DashboardReadLimits.sensorHealthPerStationMax], logger: logger) {
                sensorHealth[report.station, default: []].append(report)
            }
            var calls: [String: [StoredReport]] = [:]
            for report in try await Self.reports(connection, DashboardQueries.calls, [DashboardReadLimits.callReportsPerStationMax], logger: logger) {
                calls[report.station, default: []].append(report)
            }
            return OverviewSnapshot(stations: stations, latest: latest, sensorHealth: sensorHealth, calls: calls)
        }
    }

    package func station(_ id: String, windowMilliseconds: Int64) async throws -> StationSnapshot? {
        try await read { connection, logger in
            guard let row = try await Self.stationRows(connection, only: id, logger: logger).first else { return nil }
            var latest: [String: StoredReport] = [:]
            for kind in Self.overviewKinds {
                latest[kind] = try await Self.reports(connection, DashboardQueries.stationNewestOfKind, [kind, id], logger: logger).first
            }
            // The window ends at the newest report the county holds (as the SQLite store's).
            var newest: Int64?
            for try await value in try await connection.query(Self.query(DashboardQueries.stationNewestTime, [id]), logger: logger).decode(Int64?.self) {
                newest = value
            }
            var reports: [StoredReport] = []
            var truncated = false
            if let newest {
                let rows = try await Self.reports(
                    connection, DashboardQueries.stationWindow, [id, newest - windowMilliseconds, DashboardReadLimits.stationReportsMax + 1], logger: logger)
                truncated = rows.count > DashboardReadLimits.stationReportsMax
                reports = rows.prefix(DashboardReadLimits.stationReportsMax).reversed()
            }
            let sensorHealth = try await Self.reports(
                connection, DashboardQueries.stationSensorHealth, [id, DashboardReadLimits.sensorHealthPerStationMax], logger: logger)
            let calls = try await Self.reports(connection, DashboardQueries.stationCalls, [id, id, DashboardReadLimits.callReportsPerStationMax], logger: logger)
            var gaps: [SequenceRange] = []
            let gapRows = try await connection.query(Self.query(DashboardQueries.stationGaps, [id, DashboardReadLimits.gapsPerStationMax]), logger: logger)
            for try await (from, through, count, reason) in gapRows.decode((Int64, Int64, Int64, String).self) {
                gaps.append(SequenceRange(from: from, through: through, reason: reason, count: count))
            }
            var missing: [SequenceRange] = []
            let missingRows = try await connection.query(Self.query(DashboardQueries.stationMissing, [id, DashboardReadLimits.gapsPerStationMax]), logger: logger)
            for try await (from, through) in missingRows.decode((Int64, Int64).self) { missing.append(.missing(from: from, through: through)) }
            var conflicts: [(first: StoredReport?, later: StoredReport)] = []
            for later in try await Self.reports(connection, DashboardQueries.stationConflicts, [id, DashboardReadLimits.conflictsPerStationMax], logger: logger) {
                let first = try await Self.reports(connection, DashboardQueries.stationReport, [id, later.sequence], logger: logger).first
                conflicts.append((first, later))
            }
            return StationSnapshot(
                row: row, reports: reports, truncated: truncated, latest: latest, sensorHealth: sensorHealth, calls: calls, gaps: gaps,
                missing: missing, conflicts: conflicts)
        }
    }

    // MARK: SQL

    /// `sql` with its `?` numbered as PostgreSQL's `$1`, `$2`… and `arguments` bound to them.
    static func query(_ sql: String, _ arguments: [any Sendable]) -> PostgresQuery {
        var numbered = ""
        var number = 0
        for character in sql {
            if character == "?" {
                number += 1
                numbered += "$\(number)"
            } else {
                numbered.append(character)
            }
        }
        precondition(number == arguments.count, "\(number) placeholders, \(arguments.count) arguments: \(sql)")
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case let text as String: binds.append(text)
            case let integer as Int64: binds.append(integer)
            case let integer as Int: binds.append(Int64(integer))
            default: preconditionFailure("a dashboard query takes text and whole numbers, not \(type(of: argument))")
            }
        }
        return PostgresQuery(unsafeSQL: numbered, binds: binds)
    }

    private static func reports(_ connection: PostgresConnection, _ sql: String, _ arguments: [any Sendable], logger: Logger) async throws -> [StoredReport] {
        var reports: [StoredReport] = []
        let rows = try await connection.query(query(sql, arguments), logger: logger)
        for try await (station, sequence, timeMilliseconds, time, kind, priority, exercise, payload)
            in rows.decode((String, Int64, Int64, String, String, String, Int32, String).self)
        {
            reports.append(StoredReport(
                station: station, sequence: sequence, timeMilliseconds: timeMilliseconds, time: time, kind: kind, priority: priority,
                exercise: exercise != 0, payload: payload))
        }
        return reports
    }

    private static func stationRows(_ connection: PostgresConnection, only: String?, logger: Logger) async throws -> [StationRow] {
        let filter = only == nil ? "" : "WHERE station = ?"
        let arguments: [any Sendable] = only.map { [$0] } ?? []
        var rows = StationRows()
        for try await (station, name, pulled, last, pulledAt)
            in try await connection.query(query(DashboardQueries.stations(filter), arguments), logger: logger).decode((String, String, Int64, Int64, Int64?).self)
        {
            rows.add(StationRow(station: station, name: name, pulledThrough: pulled, boxLastSequence: last, lastPullAtMilliseconds: pulledAt))
        }
        for try await (station, ranges, reports)
            in try await connection.query(query(DashboardQueries.gapCounts(filter), arguments), logger: logger).decode((String, Int64, Int64).self)
        {
            rows.gaps(station, ranges: ranges, reports: reports)
        }
        for try await (station, ranges, numbers)
            in try await connection.query(query(DashboardQueries.missingCounts(filter), arguments), logger: logger).decode((String, Int64, Int64).self)
        {
            rows.missing(station, ranges: ranges, numbers: numbers)
        }
        for try await (station, count)
            in try await connection.query(query(DashboardQueries.conflictCounts(filter), arguments), logger: logger).decode((String, Int64).self)
        {
            rows.conflicts(station, count: count)
        }
        return rows.ordered
    }

    /// One read-only snapshot: REPEATABLE READ sees one committed state for every query in it.
    private func read<T: Sendable>(_ body: @Sendable (PostgresConnection, Logger) async throws -> T) async throws -> T {
        let logger = self.logger
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                return try await body(connection, logger)
            }
        } catch let error as DashboardStoreError {
            throw error
        } catch {
            throw CountyDatabaseError(path: location, postgres: error)
        }
    }
}
