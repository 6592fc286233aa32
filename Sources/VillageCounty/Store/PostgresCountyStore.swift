// The county's store in PostgreSQL (`--db postgres://…`), for a province: the same tables as the
// SQLite file, the same guarantees (one transaction per page, committed durably before the box is
// told, nothing stored twice, conflicts kept aside), and many stations writing at once.
import ConfigurationFiles
import CountyDashboard
import CountyProtocol
import Foundation
import Logging
import NIOSSL
import PostgresNIO

/// The county's tables in PostgreSQL through a pool of connections (`PostgresClient`).
final class PostgresCountyStore: CountyStore {
    let location: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger

    /// Stations pulled at once is at most `PullOptions` concurrency (64); one connection each.
    static let connectionsMax = 64
    /// A server that does not answer the first connection within this is reported, not waited on.
    static let connectTimeoutSeconds: Int64 = 10
    /// Two pulls that start together on an empty database must not both create the tables.
    static let migrationLockKey: Int64 = 0x5647_434F_554E_5459  // "VGCOUNTY"
    static let schemaVersion = 2

    private init(location: String, client: PostgresClient, runner: Task<Void, Never>, logger: Logger) {
        self.location = location
        self.client = client
        self.runner = runner
        self.logger = logger
    }

    /// Connects, checks that a commit is durable, and creates the tables when they are missing.
    static func open(url: String) async throws(CountyDatabaseError) -> PostgresCountyStore {
        let parsed = try PostgresLocation.parse(url)
        // One connection first, on its own: the pool retries a server that refuses it (a wrong
        // database, user or password) instead of failing, so its reason would be lost.
        let probe = try parsed.connectionConfiguration()
        do {
            try await withDeadline(milliseconds: connectTimeoutSeconds * 1_000) {
                let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: Self.quietLogger)
                try? await connection.close()
            }
        } catch is DeadlineExceeded {
            throw CountyDatabaseError(
                path: parsed.description,
                detail: "no answer within \(connectTimeoutSeconds) s; is PostgreSQL running, and are the host, port or socket folder right?")
        } catch {
            throw CountyDatabaseError(path: parsed.description, postgres: error)
        }
        var configuration = try parsed.configuration()
        configuration.options.maximumConnections = connectionsMax
        configuration.options.connectTimeout = .seconds(connectTimeoutSeconds)
        let client = PostgresClient(configuration: configuration)
        let runner = Task { await client.run() }
        let store = PostgresCountyStore(location: parsed.description, client: client, runner: runner, logger: Self.quietLogger)
        do {
            try await store.checkDurability()
            try await store.migrate()
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "village-county.postgres")
        logger.logLevel = .critical
        return logger
    }()

    func close() async {
        runner.cancel()
        await runner.value
    }

    /// `store` returns once the page is committed, and the box is then told it may purge it: a
    /// server that acknowledges commits before they reach its disk would lose them at a power cut.
    private func checkDurability() async throws(CountyDatabaseError) {
        let (fsync, synchronousCommit) = try await run { connection, logger in
            var fsync = "?"
            var synchronous = "?"
            for try await value in try await connection.query("SHOW fsync", logger: logger).decode(String.self) { fsync = value }
            for try await value in try await connection.query("SHOW synchronous_commit", logger: logger).decode(String.self) { synchronous = value }
            return (fsync, synchronous)
        }
        guard fsync == "on", synchronousCommit != "off" else {
            throw CountyDatabaseError(
                path: location,
                detail: "the server does not commit durably (fsync \(fsync), synchronous_commit \(synchronousCommit)); "
                    + "a report the box was told to purge could be lost at a power cut: set fsync = on and synchronous_commit = on")
        }
    }

    private func migrate() async throws(CountyDatabaseError) {
        try await transaction { connection, logger in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS county_schema (version integer NOT NULL)", logger: logger)
            var version = 0
            for try await value in try await connection.query("SELECT COALESCE(MAX(version), 0) FROM county_schema", logger: logger).decode(Int.self) {
                version = value
            }
            guard version <= Self.schemaVersion else {
                throw CountyDatabaseError(
                    path: self.location, detail: "the tables are at version \(version), newer than this village-county knows (\(Self.schemaVersion)); update it")
            }
            if version < 1 {
                // The SQLite file's tables, column for column (CountyDatabase.migrator), so the same
                // queries read either; payloads are text exactly as the box sent them.
                for statement in Self.tablesVersion1 { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query("INSERT INTO county_schema (version) VALUES (1)", logger: logger)
            }
            if version < 2 {
                // The dashboard's index (as SQLite's migration "v2 reports_kind index").
                try await connection.query(PostgresQuery(unsafeSQL: CountyDatabase.reportsKindIndex), logger: logger)
                try await connection.query("INSERT INTO county_schema (version) VALUES (2)", logger: logger)
            }
        }
    }

    static let tablesVersion1 = [
        """
        CREATE TABLE stations (
            station text PRIMARY KEY,
            name text NOT NULL,
            url text NOT NULL,
            pulled_through bigint NOT NULL DEFAULT 0,
            acknowledged_through bigint NOT NULL DEFAULT 0,
            box_last_sequence bigint NOT NULL DEFAULT 0,
            last_pull_at_ms bigint
        )
        """,
        """
        CREATE TABLE reports (
            station text NOT NULL,
            sequence bigint NOT NULL,
            time_ms bigint NOT NULL,
            time text NOT NULL,
            kind text NOT NULL,
            priority text NOT NULL CHECK (priority IN ('alarm', 'event', 'routine')),
            exercise integer NOT NULL CHECK (exercise IN (0, 1)),
            payload text NOT NULL,
            stored_at_ms bigint NOT NULL,
            PRIMARY KEY (station, sequence)
        )
        """,
        "CREATE INDEX reports_time ON reports (station, time_ms)",
        """
        CREATE TABLE gaps (
            station text NOT NULL,
            from_sequence bigint NOT NULL,
            through_sequence bigint NOT NULL,
            count bigint NOT NULL,
            reason text NOT NULL,
            recorded_at text NOT NULL,
            first_seen_at_ms bigint NOT NULL,
            PRIMARY KEY (station, from_sequence, through_sequence)
        )
        """,
        """
        CREATE TABLE missing (
            station text NOT NULL,
            from_sequence bigint NOT NULL,
            through_sequence bigint NOT NULL,
            found_at_ms bigint NOT NULL,
            PRIMARY KEY (station, from_sequence)
        )
        """,
        """
        CREATE TABLE conflicts (
            station text NOT NULL,
            sequence bigint NOT NULL,
            time_ms bigint NOT NULL,
            kind text NOT NULL,
            priority text NOT NULL,
            exercise integer NOT NULL,
            payload text NOT NULL,
            seen_at_ms bigint NOT NULL
        )
        """,
    ]

    // MARK: Per station

    /// As the SQLite store's: one transaction for every station new or renamed, none for the rest.
    func begin(_ stations: [PullStation]) async throws(CountyDatabaseError) -> [StationProgress] {
        let ids = stations.map(\.id)
        let known = try await run { connection, logger in
            var known: [String: (name: String, url: String)] = [:]
            let rows = try await connection.query("SELECT station, name, url FROM stations WHERE station = ANY(\(ids)::text[])", logger: logger)
            for try await (id, name, url) in rows.decode((String, String, String).self) { known[id] = (name, url) }
            return known
        }
        let changed = stations.filter { station in known[station.id].map { $0 != (station.name, station.url) } ?? true }
        if !changed.isEmpty {
            try await transaction { connection, logger in
                _ = try await connection.query(
                    """
                    INSERT INTO stations (station, name, url)
                    SELECT * FROM unnest(\(changed.map(\.id))::text[], \(changed.map(\.name))::text[], \(changed.map(\.url))::text[])
                    ON CONFLICT (station) DO UPDATE SET name = excluded.name, url = excluded.url
                    """, logger: logger)
            }
        }
        let progress = try await run { connection, logger in
            var progress: [String: StationProgress] = [:]
            let rows = try await connection.query(
                "SELECT station, pulled_through, acknowledged_through, box_last_sequence FROM stations WHERE station = ANY(\(ids)::text[])",
                logger: logger)
            for try await (id, pulled, acknowledged, last) in rows.decode((String, Int64, Int64, Int64).self) {
                progress[id] = StationProgress(pulledThrough: pulled, acknowledgedThrough: acknowledged, boxLastSequence: last)
            }
            return progress
        }
        return stations.map { progress[$0.id] ?? StationProgress(pulledThrough: 0, acknowledgedThrough: 0, boxLastSequence: 0) }
    }

    func progress(station: String) async throws(CountyDatabaseError) -> StationProgress {
        try await run { connection, logger in try await Self.progress(connection, station: station, logger: logger) }
    }

    private static func progress(_ connection: PostgresConnection, station: String, logger: Logger) async throws -> StationProgress {
        let rows = try await connection.query(
            "SELECT pulled_through, acknowledged_through, box_last_sequence FROM stations WHERE station = \(station)", logger: logger)
        for try await (pulled, acknowledged, last) in rows.decode((Int64, Int64, Int64).self) {
            return StationProgress(pulledThrough: pulled, acknowledgedThrough: acknowledged, boxLastSequence: last)
        }
        return StationProgress(pulledThrough: 0, acknowledgedThrough: 0, boxLastSequence: 0)
    }

    /// One transaction: the page's reports in one statement (arrays unnested on the server), then
    /// the numbers that were there already compared with what is stored, gaps, holes, progress.
    /// `withTransaction` commits before it returns; with fsync and synchronous_commit on (checked
    /// at open) the commit is on the server's disk.
    func store(_ page: CheckedPage, station: String, atMilliseconds now: Int64) async throws(CountyDatabaseError) -> StoredPage {
        try await transaction { connection, logger in
            var stored = StoredPage(pulledThrough: page.through)
            let reports = page.reports
            var inserted: Set<Int64> = []
            if !reports.isEmpty {
                let rows = try await connection.query(
                    """
                    INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
                    SELECT \(station), r.sequence, r.time_ms, r.time, r.kind, r.priority, r.exercise, r.payload, \(now)
                    FROM unnest(\(reports.map(\.sequence))::bigint[], \(reports.map(\.timeMilliseconds))::bigint[], \(reports.map(\.time))::text[],
                        \(reports.map(\.kind))::text[], \(reports.map(\.priority))::text[], \(reports.map { $0.exercise ? 1 : 0 as Int32 })::integer[],
                        \(reports.map(\.payload))::text[])
                        AS r(sequence, time_ms, time, kind, priority, exercise, payload)
                    ON CONFLICT (station, sequence) DO NOTHING
                    RETURNING sequence
                    """, logger: logger)
                for try await sequence in rows.decode(Int64.self) { inserted.insert(sequence) }
            }
            stored.newReports = inserted.count
            let again = reports.filter { !inserted.contains($0.sequence) }
            stored.alreadyStored = again.count
            if !again.isEmpty {
                // Stored before (a re-pull): harmless when identical; different content under the
                // same number is a box fault, kept aside and reported, never overwritten.
                var existing: [Int64: CountyReport] = [:]
                let rows = try await connection.query(
                    """
                    SELECT sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                    WHERE station = \(station) AND sequence = ANY(\(again.map(\.sequence))::bigint[])
                    """, logger: logger)
                for try await (sequence, timeMilliseconds, time, kind, priority, exercise, payload)
                    in rows.decode((Int64, Int64, String, String, String, Int32, String).self)
                {
                    existing[sequence] = CountyReport(
                        sequence: sequence, timeMilliseconds: timeMilliseconds, time: time, kind: kind, priority: priority, exercise: exercise == 1,
                        payload: payload)
                }
                for report in again {
                    guard let before = existing[report.sequence] else { continue }
                    let same = before.timeMilliseconds == report.timeMilliseconds && before.kind == report.kind
                        && before.priority == report.priority && before.exercise == report.exercise && before.payload == report.payload
                    guard !same else { continue }
                    try await connection.query(
                        """
                        INSERT INTO conflicts (station, sequence, time_ms, kind, priority, exercise, payload, seen_at_ms)
                        VALUES (\(station), \(report.sequence), \(report.timeMilliseconds), \(report.kind), \(report.priority),
                            \(Int32(report.exercise ? 1 : 0)), \(report.payload), \(now))
                        """, logger: logger)
                    stored.conflicts.append(report.sequence)
                }
            }
            for gap in page.gaps {
                let rows = try await connection.query(
                    """
                    INSERT INTO gaps (station, from_sequence, through_sequence, count, reason, recorded_at, first_seen_at_ms)
                    VALUES (\(station), \(gap.from), \(gap.through), \(gap.count), \(gap.reason), \(gap.recordedAt), \(now))
                    ON CONFLICT DO NOTHING RETURNING from_sequence
                    """, logger: logger)
                for try await _ in rows.decode(Int64.self) { stored.newGaps.append(gap) }
            }
            // Holes in this page's range that no gap (of this page or stored before) explains.
            var knownGaps: [ClosedRange<Int64>] = []
            let gapRows = try await connection.query(
                """
                SELECT from_sequence, through_sequence FROM gaps
                WHERE station = \(station) AND through_sequence > \(page.after) AND from_sequence <= \(page.through)
                """, logger: logger)
            for try await (from, through) in gapRows.decode((Int64, Int64).self) where from <= through { knownGaps.append(from...through) }
            for range in page.holes(explainedBy: knownGaps) {
                let rows = try await connection.query(
                    """
                    INSERT INTO missing (station, from_sequence, through_sequence, found_at_ms)
                    VALUES (\(station), \(range.lowerBound), \(range.upperBound), \(now))
                    ON CONFLICT DO NOTHING RETURNING from_sequence
                    """, logger: logger)
                for try await _ in rows.decode(Int64.self) { stored.newMissing.append(range) }
            }
            try await connection.query(
                """
                UPDATE stations SET pulled_through = GREATEST(pulled_through, \(page.through)), box_last_sequence = \(page.boxLastSequence),
                    last_pull_at_ms = \(now)
                WHERE station = \(station)
                """, logger: logger)
            return stored
        }
    }

    /// Without waiting for its commit to reach the disk (as the SQLite store's): lost, it costs
    /// only an acknowledgement sent again by the next pull.
    func recordAcknowledged(station: String, through: Int64) async throws(CountyDatabaseError) {
        try await transaction { connection, logger in
            _ = try await connection.query("SET LOCAL synchronous_commit = off", logger: logger)
            _ = try await connection.query(
                "UPDATE stations SET acknowledged_through = GREATEST(acknowledged_through, \(through)) WHERE station = \(station)", logger: logger)
        }
    }

    func recordSeen(station: String, boxLastSequence: Int64, atMilliseconds now: Int64) async throws(CountyDatabaseError) {
        try await run { connection, logger in
            _ = try await connection.query(
                "UPDATE stations SET box_last_sequence = \(boxLastSequence), last_pull_at_ms = \(now) WHERE station = \(station)", logger: logger)
        }
    }

    func reportCount(station: String) async throws(CountyDatabaseError) -> Int64 {
        try await run { connection, logger in
            var count: Int64 = 0
            for try await value in try await connection.query("SELECT COUNT(*) FROM reports WHERE station = \(station)", logger: logger).decode(Int64.self) {
                count = value
            }
            return count
        }
    }

    func stations() async throws(CountyDatabaseError) -> [StoredStation] {
        try await run { connection, logger in
            var stations: [StoredStation] = []
            let rows = try await connection.query(
                """
                SELECT station, name, url, pulled_through, acknowledged_through, box_last_sequence, last_pull_at_ms
                FROM stations ORDER BY station
                """, logger: logger)
            for try await (id, name, url, pulled, acknowledged, last, pulledAt) in rows.decode((String, String, String, Int64, Int64, Int64, Int64?).self) {
                stations.append(StoredStation(
                    id: id, name: name, url: url,
                    progress: StationProgress(pulledThrough: pulled, acknowledgedThrough: acknowledged, boxLastSequence: last),
                    lastPullAtMilliseconds: pulledAt))
            }
            return stations
        }
    }

    func reports(station: String, after: Int64, limit: Int) async throws(CountyDatabaseError) -> [CountyReport] {
        try await run { connection, logger in
            var reports: [CountyReport] = []
            let rows = try await connection.query(
                """
                SELECT sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                WHERE station = \(station) AND sequence > \(after) ORDER BY sequence LIMIT \(Int64(max(0, limit)))
                """, logger: logger)
            for try await (sequence, timeMilliseconds, time, kind, priority, exercise, payload)
                in rows.decode((Int64, Int64, String, String, String, Int32, String).self)
            {
                reports.append(CountyReport(
                    sequence: sequence, timeMilliseconds: timeMilliseconds, time: time, kind: kind, priority: priority, exercise: exercise == 1,
                    payload: payload))
            }
            return reports
        }
    }

    // MARK: Connections

    private func run<T: Sendable>(_ body: @Sendable (PostgresConnection, Logger) async throws -> T) async throws(CountyDatabaseError) -> T {
        do {
            let logger = self.logger
            return try await client.withConnection { connection in try await body(connection, logger) }
        } catch {
            throw CountyDatabaseError(path: location, postgres: error)
        }
    }

    private func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection, Logger) async throws -> T) async throws(CountyDatabaseError) -> T {
        do {
            let logger = self.logger
            return try await client.withTransaction(logger: logger) { connection in try await body(connection, logger) }
        } catch {
            throw CountyDatabaseError(path: location, postgres: error)
        }
    }
}
