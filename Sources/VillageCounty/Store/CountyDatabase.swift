// The county's own SQLite database (`village-county pull --db FILE`): every report of every box, once,
// with the gaps the boxes declared and the numbers that went missing without one.
import ConfigurationFiles
import CountyDashboard
import CountyProtocol
import Foundation
import GRDB

/// Owns the county database through one GRDB `DatabaseQueue`, WAL and synchronous=FULL verified
/// as the box's outbox is: a page counts as stored (and is acknowledged to the box) only once it
/// is fsynced, so a power cut at the county cannot lose what a box has been told it may purge.
final class CountyDatabase: CountyStore {
    let path: String
    private let database: DatabaseQueue

    var location: String { path }

    init(path: String) throws(CountyDatabaseError) {
        self.path = path
        var configuration = Configuration()
        // WAL by hand, not `journalMode = .wal`, which sets synchronous=NORMAL after this runs
        // (see Outbox.init): NORMAL skips the fsync at commit in WAL mode.
        configuration.prepareDatabase { db in
            // A new file gets pages of 16 KiB: ten summaries a page instead of two, a third less
            // of the pull's CPU in SQLite (Benchmarks/Outbox). SQLite ignores this for a file that
            // exists, which keeps its page size (changing it takes a VACUUM outside WAL mode).
            try db.execute(sql: "PRAGMA page_size = \(Self.pageBytesForNewFiles)")
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // SQLite copies the WAL into the file once it passes 1,000 pages, which a page of
            // 2,000 reports always does: every commit was followed by a checkpoint, four fsyncs a
            // page instead of one. The WAL may now grow to this before it is copied.
            let pageBytes = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4_096
            _ = try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint = \(Self.walBytesBeforeCheckpoint / max(pageBytes, 512))")
        }
        // Several stations store at once; their writes queue here rather than fail as "busy".
        configuration.busyMode = .timeout(Self.busyTimeoutSeconds)
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            let (mode, synchronous) = try database.read { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
            }
            guard mode?.lowercased() == "wal", synchronous == 2 else {
                throw CountyDatabaseError(
                    path: path,
                    detail: "SQLite did not accept WAL and synchronous=FULL (journal_mode \(mode ?? "?"), synchronous \(synchronous ?? -1)); "
                        + "is the file on a network share?")
            }
        } catch let error as CountyDatabaseError {
            throw error
        } catch {
            throw CountyDatabaseError(path: path, error, opening: true)
        }
    }

    static var busyTimeoutSeconds: TimeInterval { CountyDatabaseError.busyTimeoutSeconds }
    /// The page size a new county database is made with.
    static let pageBytesForNewFiles = 16 * 1_024
    /// The WAL is copied into the database file (a checkpoint) once it holds this much.
    static let walBytesBeforeCheckpoint = 64 * 1_024 * 1_024

    /// The dashboard's index, the same in both stores.
    static let reportsKindIndex = "CREATE INDEX IF NOT EXISTS reports_kind ON reports (kind, station, sequence)"

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 stations, reports, gaps, missing, conflicts") { db in
            try db.execute(sql: """
                -- One row per box: how far it has been collected and acknowledged.
                CREATE TABLE stations (
                    station TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    url TEXT NOT NULL,
                    -- Every number up to here is stored, inside a declared gap, or recorded missing.
                    pulled_through INTEGER NOT NULL DEFAULT 0,
                    -- The box has confirmed the acknowledgement up to here.
                    acknowledged_through INTEGER NOT NULL DEFAULT 0,
                    box_last_sequence INTEGER NOT NULL DEFAULT 0,
                    last_pull_at_ms INTEGER
                );
                -- The PRIMARY KEY makes a re-pull (a kill between store and acknowledgement)
                -- harmless: a report is stored once, whatever happens.
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
                -- Reports a box thinned (its store was full), as it declared them.
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
                -- Numbers neither sent nor inside a declared gap: a fault on the box side.
                CREATE TABLE missing (
                    station TEXT NOT NULL,
                    from_sequence INTEGER NOT NULL,
                    through_sequence INTEGER NOT NULL,
                    found_at_ms INTEGER NOT NULL,
                    PRIMARY KEY (station, from_sequence)
                ) WITHOUT ROWID;
                -- A number the box sent again with other content: the first is kept in reports,
                -- the later one here, so nothing received is lost.
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
                """)
        }
        // The dashboard's "newest report of a kind per station" and "answers since the newest
        // 叫应" walk this index instead of every report (Benchmarks/DashboardBenchmark); `serve`
        // made it at start before it was a migration, hence IF NOT EXISTS.
        migrator.registerMigration("v2 reports_kind index") { db in
            try db.execute(sql: Self.reportsKindIndex)
        }
        // WITHOUT ROWID keeps each row inside its primary key's b-tree, where a 4 KiB page holds
        // at most about 1 KB of one row: every report's payload (a summary's is 1.5 KB) spilled to
        // an overflow page of its own, and a pull wrote twice the pages a rowid table does (453
        // against 205 MB for 100,000 summaries, twice the CPU; Benchmarks/Outbox). The same
        // columns and key, now as a rowid table with the key as a unique index; every row is
        // copied in one transaction (a county's million reports: a minute, once).
        migrator.registerMigration("v3 reports in a rowid table") { db in
            try db.execute(sql: """
                CREATE TABLE reports_with_rowid (
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
                );
                INSERT INTO reports_with_rowid (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
                    SELECT station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms FROM reports
                    ORDER BY station, sequence;
                DROP TABLE reports;
                ALTER TABLE reports_with_rowid RENAME TO reports;
                CREATE INDEX reports_time ON reports (station, time_ms);
                \(Self.reportsKindIndex);
                """)
        }
        return migrator
    }

    // MARK: Per station

    /// Registers (or renames) the stations in ONE transaction and returns where each stands. A
    /// station already known under its name and url needs no write: a round over a province's
    /// 2,000 stations would otherwise spend 2,000 commits (fsyncs) on nothing.
    func begin(_ stations: [PullStation]) async throws(CountyDatabaseError) -> [StationProgress] {
        let known = try await read { db in
            try Dictionary(
                Row.fetchAll(db, sql: "SELECT station, name, url FROM stations").map { row in
                    (row["station"] as String, (row["name"] as String, row["url"] as String))
                },
                uniquingKeysWith: { first, _ in first })
        }
        let changed = stations.filter { station in known[station.id].map { $0 != (station.name, station.url) } ?? true }
        if !changed.isEmpty {
            try await write { db in
                let upsert = try db.makeStatement(sql: """
                    INSERT INTO stations (station, name, url) VALUES (?, ?, ?)
                    ON CONFLICT (station) DO UPDATE SET name = excluded.name, url = excluded.url
                    """)
                for station in changed { try upsert.execute(arguments: [station.id, station.name, station.url]) }
            }
        }
        return try await read { db in try stations.map { try Self.progress(db, station: $0.id) } }
    }

    func progress(station: String) async throws(CountyDatabaseError) -> StationProgress {
        try await read { db in try Self.progress(db, station: station) }
    }

    private static func progress(_ db: Database, station: String) throws -> StationProgress {
        guard let row = try Row.fetchOne(
            db, sql: "SELECT pulled_through, acknowledged_through, box_last_sequence FROM stations WHERE station = ?",
            arguments: [station])
        else { return StationProgress(pulledThrough: 0, acknowledgedThrough: 0, boxLastSequence: 0) }
        return StationProgress(
            pulledThrough: row["pulled_through"], acknowledgedThrough: row["acknowledged_through"],
            boxLastSequence: row["box_last_sequence"])
    }

    /// Stores one checked page in ONE transaction: its reports, its gaps, the numbers missing
    /// without a gap, and the new resume point. When this returns the page is on disk; only then
    /// may the caller acknowledge `stored.pulledThrough` to the box.
    func store(_ page: CheckedPage, station: String, atMilliseconds now: Int64) async throws(CountyDatabaseError) -> StoredPage {
        try await write { db in
            // The box is told to purge what this commit holds: it must reach the disk.
            guard try Int.fetchOne(db, sql: "PRAGMA synchronous") == 2 else {
                throw CountyDatabaseError(path: self.path, detail: "synchronous is not FULL; the page was not stored and nothing was acknowledged")
            }
            var stored = StoredPage(pulledThrough: page.through)
            let insert = try db.makeStatement(sql: """
                INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (station, sequence) DO NOTHING
                """)
            let existing = try db.makeStatement(sql: """
                SELECT time_ms, kind, priority, exercise, payload FROM reports WHERE station = ? AND sequence = ?
                """)
            for report in page.reports {
                try insert.execute(arguments: [
                    station, report.sequence, report.timeMilliseconds, report.time, report.kind, report.priority,
                    report.exercise ? 1 : 0, report.payload, now,
                ])
                if db.changesCount == 1 {
                    stored.newReports += 1
                    continue
                }
                stored.alreadyStored += 1
                // Stored before (a re-pull): harmless when identical; different content under
                // the same number is a box fault, kept aside and reported, never overwritten.
                if let row = try Row.fetchOne(existing, arguments: [station, report.sequence]) {
                    let same = (row["time_ms"] as Int64) == report.timeMilliseconds && (row["kind"] as String) == report.kind
                        && (row["priority"] as String) == report.priority && (row["exercise"] as Bool) == report.exercise
                        && (row["payload"] as String) == report.payload
                    if !same {
                        try db.execute(
                            sql: """
                                INSERT INTO conflicts (station, sequence, time_ms, kind, priority, exercise, payload, seen_at_ms)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                                """,
                            arguments: [
                                station, report.sequence, report.timeMilliseconds, report.kind, report.priority,
                                report.exercise ? 1 : 0, report.payload, now,
                            ])
                        stored.conflicts.append(report.sequence)
                    }
                }
            }
            for gap in page.gaps {
                try db.execute(
                    sql: """
                        INSERT INTO gaps (station, from_sequence, through_sequence, count, reason, recorded_at, first_seen_at_ms)
                        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """,
                    arguments: [station, gap.from, gap.through, gap.count, gap.reason, gap.recordedAt, now])
                if db.changesCount == 1 { stored.newGaps.append(gap) }
            }
            // Holes in this page's range that no gap (of this page or stored before) explains.
            let knownGaps = try Row.fetchAll(
                db,
                sql: "SELECT from_sequence, through_sequence FROM gaps WHERE station = ? AND through_sequence > ? AND from_sequence <= ?",
                arguments: [station, page.after, page.through]
            ).map { ($0["from_sequence"] as Int64)...($0["through_sequence"] as Int64) }
            for range in page.holes(explainedBy: knownGaps) {
                try db.execute(
                    sql: """
                        INSERT INTO missing (station, from_sequence, through_sequence, found_at_ms) VALUES (?, ?, ?, ?)
                        ON CONFLICT DO NOTHING
                        """,
                    arguments: [station, range.lowerBound, range.upperBound, now])
                if db.changesCount == 1 { stored.newMissing.append(range) }
            }
            try db.execute(
                sql: """
                    UPDATE stations SET pulled_through = MAX(pulled_through, ?), box_last_sequence = ?, last_pull_at_ms = ?
                    WHERE station = ?
                    """,
                arguments: [page.through, page.boxLastSequence, now, station])
            return stored
        }
    }

    /// The box confirmed the acknowledgement through `through`.
    /// Committed without its own fsync (synchronous=NORMAL for this one transaction): losing it
    /// to a power cut costs only an acknowledgement sent again by the next pull, which the box
    /// takes twice harmlessly; and the next page's FULL commit fsyncs the WAL it is in anyway.
    /// That halves a province round's commits waited for. `store` checks FULL is back.
    func recordAcknowledged(station: String, through: Int64) async throws(CountyDatabaseError) {
        do {
            try await database.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                do {
                    try db.inTransaction {
                        try db.execute(
                            sql: "UPDATE stations SET acknowledged_through = MAX(acknowledged_through, ?) WHERE station = ?",
                            arguments: [through, station])
                        return .commit
                    }
                } catch {
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                    throw error
                }
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        } catch {
            throw CountyDatabaseError(path: path, error, opening: false)
        }
    }

    /// A box answered with a last sequence below what was already collected from it, and
    /// nothing was pulled: remember its answer and when, for the county's own checks.
    func recordSeen(station: String, boxLastSequence: Int64, atMilliseconds now: Int64) async throws(CountyDatabaseError) {
        try await write { db in
            try db.execute(
                sql: "UPDATE stations SET box_last_sequence = ?, last_pull_at_ms = ? WHERE station = ?",
                arguments: [boxLastSequence, now, station])
        }
    }

    /// How many reports are stored for a station (for the summary and the tests).
    func reportCount(station: String) async throws(CountyDatabaseError) -> Int64 {
        try await read { db in
            try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM reports WHERE station = ?", arguments: [station]) ?? 0
        }
    }

    func stations() async throws(CountyDatabaseError) -> [StoredStation] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT station, name, url, pulled_through, acknowledged_through, box_last_sequence, last_pull_at_ms
                    FROM stations ORDER BY station
                    """
            ).map { row in
                StoredStation(
                    id: row["station"], name: row["name"], url: row["url"],
                    progress: StationProgress(
                        pulledThrough: row["pulled_through"], acknowledgedThrough: row["acknowledged_through"],
                        boxLastSequence: row["box_last_sequence"]),
                    lastPullAtMilliseconds: row["last_pull_at_ms"])
            }
        }
    }

    func reports(station: String, after: Int64, limit: Int) async throws(CountyDatabaseError) -> [CountyReport] {
        try await read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT sequence, time_ms, time, kind, priority, exercise, payload FROM reports
                    WHERE station = ? AND sequence > ? ORDER BY sequence LIMIT ?
                    """,
                arguments: [station, after, max(0, limit)]
            ).map { row in
                CountyReport(
                    sequence: row["sequence"], timeMilliseconds: row["time_ms"], time: row["time"], kind: row["kind"],
                    priority: row["priority"], exercise: row["exercise"], payload: row["payload"])
            }
        }
    }

    /// GRDB closes the file when the queue goes; nothing is held open between calls.
    func close() async {}

    /// The page size and how many WAL pages wait for a checkpoint, as this connection has them.
    func pages() throws(CountyDatabaseError) -> (pageBytes: Int, walPagesBeforeCheckpoint: Int) {
        do {
            return try database.read { db in
                (try Int.fetchOne(db, sql: "PRAGMA page_size") ?? -1, try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") ?? -1)
            }
        } catch {
            throw CountyDatabaseError(path: path, error, opening: false)
        }
    }

    func durability() throws(CountyDatabaseError) -> (journalMode: String, synchronous: Int) {
        do {
            return try database.read { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
            }
        } catch {
            throw CountyDatabaseError(path: path, error, opening: false)
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(CountyDatabaseError) -> T {
        do { return try await database.write(body) } catch { throw CountyDatabaseError(path: path, error, opening: false) }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(CountyDatabaseError) -> T {
        do { return try await database.read(body) } catch { throw CountyDatabaseError(path: path, error, opening: false) }
    }
}

/// Where one station's collection stands in the county database.
struct StationProgress: Sendable, Equatable {
    var pulledThrough: Int64
    var acknowledgedThrough: Int64
    var boxLastSequence: Int64
}

/// What storing one page did.
struct StoredPage: Sendable, Equatable {
    var pulledThrough: Int64
    var newReports = 0
    /// Already in the database (a re-pull); not stored twice.
    var alreadyStored = 0
    var newGaps: [WireGap] = []
    var newMissing: [ClosedRange<Int64>] = []
    /// Numbers the box sent again with different content.
    var conflicts: [Int64] = []
}
