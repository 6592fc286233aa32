// The durable outbox: every county report numbered and on disk until the county has pulled it.
import CountyProtocol
import Foundation
import GRDB
import Synchronization
import WarningLogic

/// Named limits; every one of them bounds something that would otherwise grow for years.
package struct OutboxLimits: Sendable, Hashable {
    /// Bytes of reports (payload, kind and a fixed per-row overhead) the store may hold.
    package var outboxBytesMax: Int64
    /// Thinning stops once the store is at or below this, so it does not thin on every append.
    package var outboxBytesAfterThinning: Int64
    package var reportsPerPullMax: Int
    package var payloadBytesMax: Int
    /// A hard ceiling on the SQLite file, in pages (SQLite's `max_page_count`); past it a write fails
    /// as a full disk would. nil leaves the ceiling to the disk itself.
    package var databasePagesMax: Int? = nil
    /// The acknowledgement rows kept at most (migration v4). Rows go when purging has emptied
    /// their range (after keep_delivered); a box pulled every minute for a year of keep_delivered
    /// would hold half a million. Past this the newest row is extended instead: the reports it
    /// adds count as delivered a little earlier, and so are purged that much earlier, never
    /// lost undelivered.
    package var acknowledgementRowsMax = 10_000
    /// A stored payload longer than this reads back as damaged: no report ever stored is (the
    /// append limit is at most 16 KiB), and the county must not be sent megabytes a bit flip made.
    package static let payloadBytesReadMax = 64 * 1024

    package static let standard = OutboxLimits(
        outboxBytesMax: 256 * 1024 * 1024,
        outboxBytesAfterThinning: 230 * 1024 * 1024,
        // The largest page a county may ask for (contract v2); v1 asks at most 500.
        reportsPerPullMax: 2_000,
        payloadBytesMax: 16 * 1024
    )

    package init(outboxBytesMax: Int64, outboxBytesAfterThinning: Int64, reportsPerPullMax: Int, payloadBytesMax: Int, databasePagesMax: Int? = nil) {
        self.outboxBytesMax = outboxBytesMax
        self.outboxBytesAfterThinning = outboxBytesAfterThinning
        self.reportsPerPullMax = reportsPerPullMax
        self.payloadBytesMax = payloadBytesMax
        self.databasePagesMax = databasePagesMax
    }
}

/// Owns one SQLite file through one GRDB `DatabaseQueue`. Every write is one transaction,
/// committed with `synchronous=FULL`: a method that returns has put its reports on disk.
package final class Outbox: Sendable {
    /// Counted per stored row on top of its payload and kind, for SQLite's record and index.
    package static let reportRowOverheadBytes: Int64 = 64

    package let path: String
    package let limits: OutboxLimits
    private let database: DatabaseQueue
    /// Called before every write transaction (each one an fsync). The box passes a check that the
    /// caller runs on its one outbox writer thread, so that a write that slips onto the
    /// cooperative pool again fails its tests; nil (the county's tools, most tests) checks nothing.
    private let writeGuard: (@Sendable () -> Void)?
    /// The damaged rows known since the whole-store check (nil before it runs): routine care and
    /// `status` read this, never every payload again (see `DamagedRows`).
    private let damaged = Mutex<DamagedRows?>(nil)
    /// Whole-store scans run by this instance: a test's seam to prove routine care runs none.
    private let wholeStoreScans = Mutex(0)

    package init(path: String, limits: OutboxLimits = .standard, writeGuard: (@Sendable () -> Void)? = nil) throws(OutboxError) {
        precondition(limits.outboxBytesAfterThinning <= limits.outboxBytesMax)
        precondition(limits.reportsPerPullMax > 0 && limits.payloadBytesMax > 0)
        self.path = path
        self.limits = limits
        self.writeGuard = writeGuard
        var configuration = Configuration()
        // WAL is set here by hand, not with `configuration.journalMode = .wal`: GRDB's WAL set-up
        // also sets synchronous=NORMAL, after this closure runs, which would undo FULL below.
        configuration.prepareDatabase { db in
            // WAL: the county pull reads while the engine appends, and a crash mid-write leaves
            // the last committed state intact.
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            // FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit, so a power cut can
            // lose rows already reported as committed. ThingsBoard's gateway runs NORMAL and
            // loses offline data that way; here a report counts as stored only once fsynced.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            if let pages = limits.databasePagesMax {
                _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
            }
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
            let mode = try database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            let synchronous = try database.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            // Assert what we rely on: WAL and FULL (2). If SQLite refused either, do not pretend.
            guard mode?.lowercased() == "wal", synchronous == 2 else {
                throw OutboxError.cannotOpen(
                    path: path,
                    detail: "SQLite did not accept WAL and synchronous=FULL (journal_mode \(mode ?? "?"), synchronous \(synchronous ?? -1))")
            }
        } catch {
            throw OutboxError.from(error, path: path, opening: true)
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 reports and gaps") { db in
            // AUTOINCREMENT: SQLite then never reuses a sequence number, even after the newest
            // rows are purged or thinned; the county relies on numbers only ever increasing.
            try db.execute(sql: """
                CREATE TABLE reports (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    time_ms INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    priority INTEGER NOT NULL CHECK (priority IN (0, 1, 2)),
                    exercise INTEGER NOT NULL CHECK (exercise IN (0, 1)),
                    payload TEXT NOT NULL,
                    delivered_at_ms INTEGER
                );
                CREATE INDEX reports_undelivered ON reports (delivered_at_ms, priority, sequence);
                CREATE TABLE gaps (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    from_sequence INTEGER NOT NULL,
                    through_sequence INTEGER NOT NULL,
                    count INTEGER NOT NULL CHECK (count > 0),
                    reason TEXT NOT NULL,
                    recorded_at_ms INTEGER NOT NULL,
                    CHECK (from_sequence <= through_sequence)
                );
                CREATE INDEX gaps_through ON gaps (through_sequence);
                -- How far the county has acknowledged; a gap is only forgotten once it lies behind this.
                CREATE TABLE delivery (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    acknowledged_through INTEGER NOT NULL
                );
                INSERT INTO delivery (id, acknowledged_through) VALUES (1, 0);
                """)
        }
        migrator.registerMigration("v2 origin keys") { db in
            // A report handed over twice (a decision performed again after a kill -9) carries the
            // same origin key; the UNIQUE index makes the second insert impossible, and `append`
            // answers it with the first one's sequence. NULL keys (most reports) never collide.
            try db.execute(sql: """
                ALTER TABLE reports ADD COLUMN origin_key TEXT;
                CREATE UNIQUE INDEX reports_origin_key ON reports (origin_key);
                """)
        }
        migrator.registerMigration("v3 wire payloads") { db in
            // Contract v2's payload beside the box's own, made once at append: serving a page
            // then splices stored text and parses nothing. NULL in rows stored before v3.
            try db.execute(sql: "ALTER TABLE reports ADD COLUMN wire_payload TEXT")
        }
        migrator.registerMigration("v4 acknowledgements apart from the reports") { db in
            // A pull's acknowledgement no longer writes delivered_at_ms into every report it
            // covers: each report row holds its payloads (one 4 KiB page a summary), so marking a
            // 100,000-report backlog rewrote 400 MB through the WAL and the index, most of
            // `village-county pull`'s time (Benchmarks/Outbox). A report at or below
            // delivery.acknowledged_through is delivered; its time is that of the first
            // acknowledgement whose range covers it, one row here per acknowledgement.
            // delivered_at_ms stays for the push, which marks single reports out of order.
            // Boxes in the field had every report up to acknowledged_through marked: one row
            // covers them, timed at the newest of their marks, so each keeps its own time.
            try db.execute(sql: """
                CREATE TABLE acknowledgements (
                    through_sequence INTEGER PRIMARY KEY,
                    acknowledged_at_ms INTEGER NOT NULL
                );
                INSERT INTO acknowledgements (through_sequence, acknowledged_at_ms)
                    SELECT acknowledged_through, COALESCE(
                        (SELECT MAX(delivered_at_ms) FROM reports
                            WHERE sequence <= acknowledged_through AND typeof(delivered_at_ms) = 'integer'), 0)
                    FROM delivery WHERE id = 1 AND acknowledged_through > 0;
                """)
        }
        migrator.registerMigration("v5 stored size kept by triggers") { db in
            // The size limit needs the stored bytes after every append and every 30 s; summing
            // every row's lengths read the whole 256 MB store each time (seconds of CPU on a
            // board, Benchmarks/Outbox). The triggers keep the same sum in the same transaction
            // as the insert or delete, so it can never disagree with the rows committed.
            // The formula is `rowBytesSQL`'s: changing it needs a migration that redoes these.
            try db.execute(sql: """
                CREATE TABLE totals (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    stored_bytes INTEGER NOT NULL
                );
                INSERT INTO totals (id, stored_bytes) SELECT 1, COALESCE(SUM\(Outbox.rowBytesSQL()), 0) FROM reports;
                CREATE TRIGGER reports_stored_bytes_insert AFTER INSERT ON reports BEGIN
                    UPDATE totals SET stored_bytes = stored_bytes + \(Outbox.rowBytesSQL("NEW.")) WHERE id = 1;
                END;
                CREATE TRIGGER reports_stored_bytes_delete AFTER DELETE ON reports BEGIN
                    UPDATE totals SET stored_bytes = stored_bytes - \(Outbox.rowBytesSQL("OLD.")) WHERE id = 1;
                END;
                CREATE TRIGGER reports_stored_bytes_update AFTER UPDATE OF payload, wire_payload, kind ON reports BEGIN
                    UPDATE totals SET stored_bytes = stored_bytes - \(Outbox.rowBytesSQL("OLD.")) + \(Outbox.rowBytesSQL("NEW.")) WHERE id = 1;
                END;
                """)
        }
        return migrator
    }

    // MARK: Appending

    /// Stores one report and returns its sequence number once it is committed to disk.
    package func append(_ report: OutboxReport) throws(OutboxError) -> Int64 {
        try appendBatch([report])[0]
    }

    /// Stores reports in one transaction: all of them are on disk, or none.
    package func appendBatch(_ reports: [OutboxReport]) throws(OutboxError) -> [Int64] {
        var checked: [String] = []
        checked.reserveCapacity(reports.count)
        for report in reports { checked.append(try check(report)) }
        let wirePayloads = checked
        return try write { db in
            var sequences: [Int64] = []
            sequences.reserveCapacity(reports.count)
            var newest: Int64 = 0
            for (report, wirePayload) in zip(reports, wirePayloads) {
                if let key = report.originKey,
                    let existing = try Int64.fetchOne(db, sql: "SELECT sequence FROM reports WHERE origin_key = ?", arguments: [key])
                {
                    // Already stored (a repeat after a restart): the same report, the same number.
                    sequences.append(existing)
                    continue
                }
                try db.execute(
                    sql: "INSERT INTO reports (time_ms, kind, priority, exercise, payload, origin_key, wire_payload) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [
                        report.time.millisecondsSinceUnixEpoch, report.kind, report.priority.rawValue,
                        report.exercise ? 1 : 0, report.payload, report.originKey, wirePayload,
                    ])
                let sequence = db.lastInsertedRowID
                precondition(sequence > newest, "sequence numbers must increase")
                newest = sequence
                sequences.append(sequence)
            }
            return sequences
        }
    }

    /// Checks the payload (size, JSON of its kind's shape) and returns its contract v2 form.
    private func check(_ report: OutboxReport) throws(OutboxError) -> String {
        let bytes = report.payload.utf8.count
        guard bytes <= limits.payloadBytesMax else {
            throw .payloadTooLarge(bytes: bytes, bytesMax: limits.payloadBytesMax)
        }
        do {
            return try WirePayload.make(boxKind: report.kind, boxPayload: report.payload)
        } catch {
            throw .payloadNotJSON(kind: report.kind)
        }
    }

    // MARK: Pulling and acknowledging

    /// Reports with a sequence above `after`, in sequence order (at most `limit`, and never more
    /// than `reportsPerPullMax`), with the gaps the county must know about in the same range.
    package func reports(after: Int64, limit: Int) throws(OutboxError) -> OutboxPull {
        let count = max(0, min(limit, limits.reportsPerPullMax))
        return try read { db in
            let reports = try self.noted(Self.storedReports(
                db, sql: "SELECT \(Self.reportColumns) FROM reports WHERE sequence > ? ORDER BY sequence LIMIT ?",
                arguments: [after, count]))
            // A full page ends at its last report; a short page reaches the end of the store.
            let upper = reports.count == count ? (reports.last?.sequence ?? after) : Int64.max
            let gapRows = try Row.fetchAll(
                db,
                sql: "SELECT * FROM gaps WHERE through_sequence > ? AND from_sequence <= ? ORDER BY from_sequence",
                arguments: [after, upper])
            return OutboxPull(reports: reports, gaps: gapRows.map(Self.gap))
        }
    }

    /// Undelivered reports, alarms first, then events, then routine; oldest first within each.
    /// For a thin link, where the most urgent must go before the backlog.
    package func undelivered(limit: Int) throws(OutboxError) -> [StoredOutboxReport] {
        let count = max(0, min(limit, limits.reportsPerPullMax))
        return try read { db in
            // One index range of reports_undelivered per priority, each starting above the
            // acknowledged mark: a single ORDER BY priority would walk every report a pull
            // acknowledged (they keep delivered_at_ms NULL) before the first one waiting.
            var reports: [StoredOutboxReport] = []
            for priority in Self.priorityRangesInDeliveryOrder where reports.count < count {
                reports += try Self.storedReports(
                    db,
                    sql: "SELECT \(Self.reportColumns) FROM reports WHERE \(Self.undeliveredCondition) AND \(priority) ORDER BY sequence LIMIT ?",
                    arguments: [count - reports.count])
            }
            return self.noted(reports)
        }
    }

    /// The priorities in the order `undelivered` sends them, as SQLite sorts the column: the
    /// three real ones, and before and after them what a damaged row may hold (NULL, a number
    /// outside 0–2, text), so that a damaged row is still sent (as damaged) and not skipped.
    static let priorityRangesInDeliveryOrder = [
        "priority IS NULL", "priority < 0", "priority = 0", "priority = 1", "priority = 2", "priority > 2",
    ]

    /// The county has every report up to `through` (a pull's acknowledgement): from now on they
    /// count as delivered at `now`. One small row, not a mark in each report (see migration v4),
    /// so acknowledging a page costs the same whatever its size. Returns how many reports were
    /// newly delivered (those up to `through` the push had not marked already).
    @discardableResult
    package func acknowledge(through: Int64, at now: Timestamp) throws(OutboxError) -> Int {
        let rowsMax = limits.acknowledgementRowsMax
        return try write { db in
            let acknowledged = try Self.acknowledgedThrough(db)
            // Never past the highest number issued, so a wrong acknowledgement cannot hide later gaps.
            let issued = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'reports'") ?? 0
            let newThrough = min(through, issued)
            guard newThrough > acknowledged else { return 0 }
            let marked = try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM reports WHERE sequence > ? AND sequence <= ? AND delivered_at_ms IS NULL",
                arguments: [acknowledged, newThrough]) ?? 0
            try Self.recordAcknowledgement(
                db, through: newThrough, after: acknowledged, at: now.millisecondsSinceUnixEpoch, rowsMax: rowsMax)
            try db.execute(sql: "UPDATE delivery SET acknowledged_through = ? WHERE id = 1", arguments: [newThrough])
            return marked
        }
    }

    /// Acknowledgements within this of the newest one extend its range instead of adding a row:
    /// a long backlog pulled in 50 pages is one row, and its reports one delivery time.
    static let acknowledgementsMergedWithinMilliseconds: Int64 = 60_000

    private static func recordAcknowledgement(
        _ db: Database, through: Int64, after acknowledged: Int64, at nowMilliseconds: Int64, rowsMax: Int
    ) throws {
        if let newest = try Row.fetchOne(
            db, sql: "SELECT through_sequence, acknowledged_at_ms FROM acknowledgements ORDER BY through_sequence DESC LIMIT 1"),
            (newest["through_sequence"] as Int64) == acknowledged
        {
            let newestTime: Int64 = newest["acknowledged_at_ms"]
            let rows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM acknowledgements") ?? 0
            // Merged only when the clock agrees the two are close (a clock set back is never merged).
            let close = nowMilliseconds >= newestTime && nowMilliseconds - newestTime <= acknowledgementsMergedWithinMilliseconds
            if close || rows >= rowsMax {
                try db.execute(
                    sql: "UPDATE acknowledgements SET through_sequence = ? WHERE through_sequence = ?", arguments: [through, acknowledged])
                return
            }
        }
        try db.execute(
            sql: "INSERT INTO acknowledgements (through_sequence, acknowledged_at_ms) VALUES (?, ?)", arguments: [through, nowMilliseconds])
    }

    /// The newest report of `kind` stored before `sequence`, if any is still kept: the SL 651 form
    /// of a level change carries the values of the newest observation summary before it.
    package func latestReport(kind: String, before sequence: Int64) throws(OutboxError) -> StoredOutboxReport? {
        try read { db in
            try self.noted(Row.fetchOne(
                db, sql: "SELECT \(Self.reportColumns) FROM reports WHERE kind = ? AND sequence < ? ORDER BY sequence DESC LIMIT 1",
                arguments: [kind, sequence]
            ).map(Self.storedReport).map { [$0] } ?? []).first
        }
    }

    /// Reports of `kind` timed in [from, through], oldest first, at most `limit` (and never more
    /// than `reportsPerPullMax`): an SL 651 centre's time-range query (38H) is answered from the
    /// summaries the box keeps. A scan without an index: 38H is a rare, human-started query.
    package func reports(kind: String, from: Timestamp, through: Timestamp, limit: Int) throws(OutboxError) -> [StoredOutboxReport] {
        let count = max(0, min(limit, limits.reportsPerPullMax))
        return try read { db in
            try self.noted(Self.storedReports(
                db, sql: "SELECT \(Self.reportColumns) FROM reports WHERE kind = ? AND time_ms BETWEEN ? AND ? ORDER BY time_ms, sequence LIMIT ?",
                arguments: [kind, from.millisecondsSinceUnixEpoch, through.millisecondsSinceUnixEpoch, count]))
        }
    }

    /// The highest sequence number ever issued (0 for a new store), even if that report has since
    /// been purged or thinned: how far a county pull can go.
    package func lastSequence() throws(OutboxError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'reports'") ?? 0 }
    }

    /// A push transport's county has durably stored exactly these reports (pushes go out by
    /// priority, so what is delivered need not be a prefix). Returns how many were newly marked.
    @discardableResult
    package func markDelivered(sequences: [Int64], at now: Timestamp) throws(OutboxError) -> Int {
        guard !sequences.isEmpty else { return 0 }
        return try write { db in
            var marked = 0
            for sequence in sequences {
                try db.execute(
                    sql: "UPDATE reports SET delivered_at_ms = ? WHERE sequence = ? AND \(Self.undeliveredCondition)",
                    arguments: [now.millisecondsSinceUnixEpoch, sequence])
                marked += db.changesCount
            }
            return marked
        }
    }

    /// Deletes reports delivered before `cutoff`, and gaps recorded before it that the county has
    /// acknowledged past. Returns how many reports were deleted.
    @discardableResult
    package func purgeDelivered(olderThan cutoff: Timestamp) throws(OutboxError) -> Int {
        try write { db in
            try db.execute(
                sql: "DELETE FROM reports WHERE delivered_at_ms IS NOT NULL AND delivered_at_ms < ?",
                arguments: [cutoff.millisecondsSinceUnixEpoch])
            var purged = db.changesCount
            // An acknowledgement older than the cutoff: every report in its range (above the row
            // before it) was delivered then. The range goes, then the row, which then covers
            // nothing; the reports left keep the row that first covered them.
            let acknowledgements = try Row.fetchAll(
                db, sql: "SELECT through_sequence, acknowledged_at_ms FROM acknowledgements ORDER BY through_sequence")
            var after: Int64 = 0
            for row in acknowledgements {
                let through: Int64 = row["through_sequence"]
                defer { after = through }
                guard (row["acknowledged_at_ms"] as Int64) < cutoff.millisecondsSinceUnixEpoch else { continue }
                try db.execute(sql: "DELETE FROM reports WHERE sequence > ? AND sequence <= ?", arguments: [after, through])
                purged += db.changesCount
                try db.execute(sql: "DELETE FROM acknowledgements WHERE through_sequence = ?", arguments: [through])
            }
            try db.execute(
                sql: """
                    DELETE FROM gaps WHERE recorded_at_ms < ?
                    AND through_sequence <= (SELECT acknowledged_through FROM delivery WHERE id = 1)
                    """,
                arguments: [cutoff.millisecondsSinceUnixEpoch])
            return purged
        }
    }

    /// What SQLite says the durability settings are, for `outbox` status output and the tests.
    package func durability() throws(OutboxError) -> (journalMode: String, synchronous: Int) {
        try read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }

    // MARK: Health and retention

    package var backlog: OutboxBacklog {
        get throws(OutboxError) {
            try read { db in
                func count(_ condition: String) throws -> Int64 {
                    try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM reports WHERE \(condition)") ?? 0
                }
                let oldest = try Int64.fetchOne(
                    db, sql: "SELECT MIN(time_ms) FROM reports WHERE \(Self.undeliveredCondition)")
                // What is not waiting: the index answers both, where one OR would read every row.
                let delivered = try count("1") - count(Self.undeliveredCondition)
                // Neither the size nor the damaged count reads every row (the maintenance every
                // 30 s and each status call ask): the size is the triggers' running total, the
                // damaged count the whole-store check's, kept up to date (`DamagedRows`).
                let storedBytes = try Self.storedBytes(db)
                let damaged = try self.damagedCount(db)
                return OutboxBacklog(
                    undeliveredAlarms: try count("\(Self.undeliveredCondition) AND priority = 0"),
                    undeliveredEvents: try count("\(Self.undeliveredCondition) AND priority = 1"),
                    undeliveredRoutine: try count("\(Self.undeliveredCondition) AND priority = 2"),
                    delivered: delivered,
                    storedBytes: storedBytes,
                    oldestUndeliveredTime: oldest.map { Timestamp(millisecondsSinceUnixEpoch: $0) },
                    damaged: damaged)
            }
        }
    }

    /// Reports not delivered, or delivered at or after `time` (box time): after an outage that
    /// began at `time`, when nothing was delivered, the reports that waited for the link, however
    /// many transports have been delivering since it returned.
    package func undeliveredOrDelivered(since time: Timestamp) throws(OutboxError) -> Int64 {
        try read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM reports WHERE (delivered_at_ms IS NULL OR delivered_at_ms >= ?1)
                    AND (\(Self.acknowledgedAtSQL) IS NULL OR \(Self.acknowledgedAtSQL) >= ?1)
                    """,
                arguments: [time.millisecondsSinceUnixEpoch]) ?? 0
        }
    }

    /// The retention policy, run by the owner after appending. Above `outboxBytesMax` it first
    /// deletes delivered reports oldest-first (the county has them), then thins undelivered routine
    /// reports oldest-first, recording each thinned run as a gap, until the store is at or below
    /// `outboxBytesAfterThinning`. Alarms and undelivered events are never deleted: if they alone
    /// exceed the limit they are kept and the condition is reported.
    /// Returns nil when the store is within its limit; otherwise what was done, with a health
    /// alarm for the caller to append whenever routine reports were thinned or the store stays over.
    package func enforceSizeLimit(at now: Timestamp) throws(OutboxError) -> OutboxThinning? {
        let limits = self.limits
        return try write { db in
            var bytes = try Self.storedBytes(db)
            guard bytes > limits.outboxBytesMax else { return nil }
            let target = limits.outboxBytesAfterThinning

            var deliveredPurged: Int64 = 0
            if bytes > target {
                let delivered = try Self.candidates(db, condition: Self.deliveredCondition)
                let chosen = Self.choose(delivered, toFree: bytes - target)
                try Self.delete(db, chosen.sequences)
                deliveredPurged = Int64(chosen.sequences.count)
                bytes -= chosen.bytes
            }

            var routineThinned: Int64 = 0
            var gaps: [OutboxGap] = []
            if bytes > target {
                let routine = try Self.candidates(
                    db, condition: "\(Self.undeliveredCondition) AND priority = \(OutboxPriority.routine.rawValue)")
                let chosen = Self.choose(routine, toFree: bytes - target)
                try Self.delete(db, chosen.sequences)
                routineThinned = Int64(chosen.sequences.count)
                bytes -= chosen.bytes
                gaps = try Self.recordGaps(db, thinned: chosen.sequences, at: now)
            }

            let measured = try Self.storedBytes(db)
            assert(measured == bytes, "stored bytes must match what thinning freed")
            let overLimit = measured > limits.outboxBytesMax
            var healthAlarm: OutboxReport?
            if routineThinned > 0 || overLimit {
                let payload: [String: Any] = [
                    "routineThinned": routineThinned,
                    "deliveredPurged": deliveredPurged,
                    "gaps": gaps.map { ["from": $0.fromSequence, "through": $0.throughSequence, "count": $0.count] },
                    "storedBytes": measured,
                    "outboxBytesMax": limits.outboxBytesMax,
                    "overLimitWithAlarmsAndEvents": overLimit,
                ]
                // Numbers and booleans always serialize; were one ever refused, thinning fails as a
                // store error (retried at the next care round), never as a crash of the box.
                guard let text = JSONValue.sortedText(payload) else { throw OutboxError.payloadNotJSON(kind: "outboxFull") }
                healthAlarm = OutboxReport(time: now, kind: "outboxFull", priority: .alarm, exercise: false, payload: text)
            }
            return OutboxThinning(
                deliveredPurged: deliveredPurged, routineThinned: routineThinned, gaps: gaps,
                storedBytesAfter: measured, overLimitWithProtectedReports: overLimit, healthAlarm: healthAlarm)
        }
    }

    // MARK: Internals

    /// How far the county's pulls have acknowledged (0 before the first).
    private static func acknowledgedThrough(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT acknowledged_through FROM delivery WHERE id = 1") ?? 0
    }

    /// Delivered means marked by a push (delivered_at_ms) or covered by a pull's acknowledgement
    /// (at or below delivery.acknowledged_through, migration v4). Every query that asks whether a
    /// report is delivered says it with these two, never with delivered_at_ms alone.
    static let acknowledgedThroughSQL = "(SELECT acknowledged_through FROM delivery WHERE id = 1)"
    static let undeliveredCondition = "delivered_at_ms IS NULL AND sequence > \(acknowledgedThroughSQL)"
    static let deliveredCondition = "(delivered_at_ms IS NOT NULL OR sequence <= \(acknowledgedThroughSQL))"
    /// When a pull's acknowledgement first covered this report (NULL when none has): the
    /// acknowledgement with the smallest `through` at or above it, one seek of its primary key.
    static let acknowledgedAtSQL =
        "(SELECT acknowledged_at_ms FROM acknowledgements WHERE through_sequence >= reports.sequence ORDER BY through_sequence LIMIT 1)"

    /// What one row counts towards `outboxBytesMax`; `row` is "" in a query, "NEW." or "OLD." in
    /// the triggers that keep the running total (migration v5).
    private static func rowBytesSQL(_ row: String = "") -> String {
        "(length(CAST(\(row)payload AS BLOB)) + COALESCE(length(CAST(\(row)wire_payload AS BLOB)), 0) + length(CAST(\(row)kind AS BLOB)) + \(reportRowOverheadBytes))"
    }

    /// The stored bytes as the triggers keep them: one row read, whatever the store holds.
    private static func storedBytes(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT stored_bytes FROM totals WHERE id = 1") ?? 0
    }

    private static func candidates(_ db: Database, condition: String) throws -> [(sequence: Int64, bytes: Int64)] {
        try Row.fetchAll(
            db, sql: "SELECT sequence, \(rowBytesSQL()) AS bytes FROM reports WHERE \(condition) ORDER BY sequence"
        ).map { (sequence: $0["sequence"], bytes: $0["bytes"]) }
    }

    /// Oldest-first, just enough to free `bytes`.
    private static func choose(_ candidates: [(sequence: Int64, bytes: Int64)], toFree bytes: Int64)
        -> (sequences: [Int64], bytes: Int64)
    {
        var sequences: [Int64] = []
        var freed: Int64 = 0
        for candidate in candidates where freed < bytes {
            sequences.append(candidate.sequence)
            freed += candidate.bytes
        }
        return (sequences, freed)
    }

    private static func delete(_ db: Database, _ sequences: [Int64]) throws {
        let statement = try db.makeStatement(sql: "DELETE FROM reports WHERE sequence = ?")
        for sequence in sequences { try statement.execute(arguments: [sequence]) }
    }

    /// Groups thinned sequences into runs no surviving report interrupts, one gap per run.
    private static func recordGaps(_ db: Database, thinned: [Int64], at now: Timestamp) throws -> [OutboxGap] {
        guard var runStart = thinned.first else { return [] }
        var runEnd = runStart
        var runCount: Int64 = 1
        var gaps: [OutboxGap] = []
        let reason = "store reached outboxBytesMax; routine reports thinned oldest-first"
        func close() {
            gaps.append(OutboxGap(
                fromSequence: runStart, throughSequence: runEnd, count: runCount, reason: reason, recordedAt: now))
        }
        for sequence in thinned.dropFirst() {
            let between = try Int64.fetchOne(
                db, sql: "SELECT COUNT(*) FROM reports WHERE sequence > ? AND sequence < ?",
                arguments: [runEnd, sequence]) ?? 0
            if between == 0 {
                runEnd = sequence
                runCount += 1
            } else {
                close()
                runStart = sequence
                runEnd = sequence
                runCount = 1
            }
        }
        close()
        for gap in gaps {
            try db.execute(
                sql: "INSERT INTO gaps (from_sequence, through_sequence, count, reason, recorded_at_ms) VALUES (?, ?, ?, ?, ?)",
                arguments: [gap.fromSequence, gap.throughSequence, gap.count, gap.reason, now.millisecondsSinceUnixEpoch])
        }
        return gaps
    }

    /// A row as stored. Bytes from disk are checked, never trusted: a row a bit flip or a
    /// tampered file made unreadable (a priority outside 0–2, a payload that is not JSON, a
    /// column of the wrong type) comes back marked `damage` with the reason, so the county is
    /// served the sequence and why, and its pull goes on past it (docs/county-api.md).
    /// Every column of a report, and whether its payloads are JSON as SQLite's `json_valid`
    /// judges it: checked on every read in C, without a tree built in Swift per row (that was
    /// the pull's cost; Benchmarks/Outbox).
    /// Named, and read by position (`ReportColumn`): looking a column up by name lowercased it
    /// for every row, a tenth of the box's time serving a pull (Benchmarks/Outbox).
    static let reportColumns = """
        sequence, time_ms, kind, priority, exercise, payload, delivered_at_ms, origin_key, wire_payload,
        json_valid(payload), json_valid(wire_payload), \(acknowledgedAtSQL)
        """

    /// The position of each of `reportColumns`.
    private enum ReportColumn: Int {
        case sequence, time, kind, priority, exercise, payload, deliveredAt, originKey, wirePayload
        case payloadIsJSON, wirePayloadIsJSON, acknowledgedAt
    }

    /// Every row of a query of `reportColumns`, read from SQLite's cursor without a copy of each row.
    private static func storedReports(_ db: Database, sql: String, arguments: StatementArguments) throws -> [StoredOutboxReport] {
        try Array(Row.fetchCursor(db, sql: sql, arguments: arguments).map(Self.storedReport))
    }

    private static func storedReport(_ row: Row) -> StoredOutboxReport {
        func value(_ column: ReportColumn) -> DatabaseValue { row[column.rawValue] }
        var problems: [String] = []
        let sequence = Int64.fromDatabaseValue(value(.sequence)) ?? 0
        let timeValue = value(.time)
        let time = Int64.fromDatabaseValue(timeValue)
        if time == nil { problems.append("time_ms \(Self.describe(timeValue)) is not a whole number of milliseconds") }
        let kindValue = value(.kind)
        let kind: String? = if case .string(let text) = kindValue.storage, !text.isEmpty { text } else { nil }
        if kind == nil { problems.append("kind \(Self.describe(kindValue)) is not a report kind") }
        let priorityValue = value(.priority)
        let priority = Int64.fromDatabaseValue(priorityValue).flatMap { Int(exactly: $0) }.flatMap(OutboxPriority.init(rawValue:))
        if priority == nil { problems.append("priority \(Self.describe(priorityValue)) is not 0 (alarm), 1 (event) or 2 (routine)") }
        let exerciseValue = value(.exercise)
        let exercise: Bool? = switch Int64.fromDatabaseValue(exerciseValue) {
        case 0: false
        case 1: true
        default: nil
        }
        if exercise == nil { problems.append("exercise \(Self.describe(exerciseValue)) is not 0 or 1") }
        let payloadValue = value(.payload)
        var payload: String?
        if case .string(let text) = payloadValue.storage { payload = text }
        if let text = payload {
            if text.utf8.count > OutboxLimits.payloadBytesReadMax {
                problems.append("the payload is \(text.utf8.count) bytes, more than any report the box stores")
            } else if Int64.fromDatabaseValue(value(.payloadIsJSON)) != 1 {
                problems.append("the payload is not JSON")
            }
        } else {
            problems.append("the payload \(Self.describe(payloadValue)) is not text")
        }
        // Contract v2's form is spliced into pages as it is, so it is checked as the payload is.
        let wireValue = value(.wirePayload)
        var wirePayload: String?
        switch wireValue.storage {
        case .null: break
        case .string(let text) where text.utf8.count <= OutboxLimits.payloadBytesReadMax && Int64.fromDatabaseValue(value(.wirePayloadIsJSON)) == 1:
            wirePayload = text
        default: problems.append("the v2 payload \(Self.describe(wireValue)) is not JSON")
        }
        let deliveredValue = value(.deliveredAt)
        let marked = Int64.fromDatabaseValue(deliveredValue)
        if marked == nil && !deliveredValue.isNull { problems.append("delivered_at_ms \(Self.describe(deliveredValue)) is not a time") }
        // Delivered by whichever came first: a push's mark or a pull's acknowledgement.
        let acknowledged = Int64.fromDatabaseValue(value(.acknowledgedAt))
        let delivered = switch (marked, acknowledged) {
        case (let marked?, let acknowledged?): min(marked, acknowledged)
        case (let marked?, nil): marked
        case (nil, let acknowledged): acknowledged
        }
        let originValue = value(.originKey)
        return StoredOutboxReport(
            sequence: sequence,
            report: OutboxReport(
                time: Timestamp(millisecondsSinceUnixEpoch: time ?? 0),
                kind: kind ?? "", priority: priority ?? .alarm, exercise: exercise ?? false, payload: payload ?? "",
                originKey: String.fromDatabaseValue(originValue)),
            deliveredAt: delivered.map { Timestamp(millisecondsSinceUnixEpoch: $0) }, wirePayload: wirePayload,
            damage: problems.isEmpty ? nil : "stored row damaged: " + problems.joined(separator: "; "))
    }

    /// A stored value for a reason line: short, printable ASCII, whatever the bytes were.
    package static func describe(_ value: DatabaseValue) -> String {
        let text: String
        switch value.storage {
        case .null: text = "NULL"
        case .int64(let number): text = String(number)
        case .double(let number): text = String(number)
        case .string(let string): text = "\"" + string + "\""
        case .blob(let data): text = "a blob of \(data.count) bytes"
        }
        let printable = text.unicodeScalars.prefix(40).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "?" }.joined()
        return text.unicodeScalars.count > 40 ? printable + "…" : printable
    }

    /// Writes damaged rows as a bit flip or a tampered file would leave them (the CHECK
    /// constraints bypassed): for the tests and the API fuzz target, never the daemon.
    @discardableResult
    package func damageRowsForTesting(at time: Timestamp = Timestamp(millisecondsSinceUnixEpoch: 1_784_000_000_000)) throws(OutboxError) -> [Int64] {
        try write { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            defer { try? db.execute(sql: "PRAGMA ignore_check_constraints = OFF") }
            var sequences: [Int64] = []
            let rows: [(Int64, String)] = [(3, #"{"levelChanged":{"causes":["rain-1h"],"from":0,"to":4}}"#), (2, #"{"observedAt_ms": 17"#)]
            for (priority, payload) in rows {
                try db.execute(
                    sql: "INSERT INTO reports (time_ms, kind, priority, exercise, payload) VALUES (?, ?, ?, 0, ?)",
                    arguments: [time.millisecondsSinceUnixEpoch, priority == 3 ? "levelChanged" : "observationSummary", priority, payload])
                sequences.append(db.lastInsertedRowID)
            }
            return sequences
        }
    }

    /// `PRAGMA quick_check` at start: "ok", or SQLite's list of what is wrong (at most
    /// `integrityProblemsMax` lines), for the start-up log.
    package static let integrityProblemsMax = 10

    package func quickCheck() throws(OutboxError) -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "PRAGMA quick_check(\(Self.integrityProblemsMax))")
        }
    }

    /// Damaged rows still stored (counted for `status` and the shell's `outbox`): what
    /// `storedReport` would mark, judged in SQL (`json_valid` for the payload) so that a status
    /// call does not parse every payload of a large store in Swift.
    package static let damagedRowCondition = """
        typeof(priority) != 'integer' OR priority NOT IN (0, 1, 2) OR typeof(exercise) != 'integer' OR exercise NOT IN (0, 1)
        OR typeof(time_ms) != 'integer' OR typeof(kind) != 'text' OR kind = '' OR typeof(payload) != 'text'
        OR length(CAST(payload AS BLOB)) > \(OutboxLimits.payloadBytesReadMax) OR NOT json_valid(payload)
        OR (delivered_at_ms IS NOT NULL AND typeof(delivered_at_ms) != 'integer')
        OR (wire_payload IS NOT NULL AND (typeof(wire_payload) != 'text' OR NOT json_valid(wire_payload)))
        """

    /// The first damaged rows (at most `limit`), each with why, for the start-up log.
    package func damagedRows(limit: Int) throws(OutboxError) -> [StoredOutboxReport] {
        try read { db in
            try self.noted(Self.storedReports(
                db, sql: "SELECT \(Self.reportColumns) FROM reports WHERE \(Self.damagedRowCondition) ORDER BY sequence LIMIT ?", arguments: [max(0, limit)]))
        }
    }

    // MARK: The whole-store check and the damaged count it keeps

    /// Damaged rows tracked one by one at most; past it (a file far gone) the rest are counted
    /// only, as the whole-store check found them, until the next check. 10,000 sequences are
    /// about 300 KB of memory at worst, and as many primary-key seeks per status call.
    package static let damagedRowsTrackedMax = 10_000

    /// The damaged rows as the whole-store check left them, kept up to date without reading every
    /// payload again: a row is checked when stored (`check`, and the CHECK constraints), so a new
    /// row adds none; a row served damaged is added (`noted`); a deleted row (thinned, purged) is
    /// dropped when the count is next read (`damagedCount`). A row damaged on disk later (bit
    /// rot) is counted once a pull, push or query serves it, or by the next start-up check.
    private struct DamagedRows {
        var sequences: Set<Int64>
        /// Found by the check beyond `damagedRowsTrackedMax`: counted, not tracked.
        var untracked: Int64

        mutating func add(_ sequence: Int64) {
            if sequences.count < Outbox.damagedRowsTrackedMax || sequences.contains(sequence) {
                sequences.insert(sequence)
            }
        }
    }

    /// The whole-store check: every row's lengths summed and every payload judged by
    /// `damagedRowCondition` (`json_valid`), the cost of reading the whole file. Run once at
    /// start-up (the box's `checkAtStart`, or the first `backlog` of an outbox opened without
    /// it); afterwards the damaged count is kept up to date from this result. Also what the
    /// tests compare the running figures with.
    @discardableResult
    package func checkWholeStore() throws(OutboxError) -> (storedBytes: Int64, damaged: Int64) {
        try read { db in try self.checkWholeStore(db) }
    }

    private func checkWholeStore(_ db: Database) throws -> (storedBytes: Int64, damaged: Int64) {
        wholeStoreScans.withLock { $0 += 1 }
        let storedBytes = try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM\(Self.rowBytesSQL()), 0) FROM reports") ?? 0
        var found = DamagedRows(sequences: [], untracked: 0)
        let cursor = try Int64.fetchCursor(db, sql: "SELECT sequence FROM reports WHERE \(Self.damagedRowCondition)")
        while let sequence = try cursor.next() {
            if found.sequences.count < Self.damagedRowsTrackedMax { found.sequences.insert(sequence) } else { found.untracked += 1 }
        }
        damaged.withLock { $0 = found }
        return (storedBytes, Int64(found.sequences.count) + found.untracked)
    }

    /// How many whole-store checks this outbox has run (the tests' seam: routine care runs none).
    package var wholeStoreScansCount: Int { wholeStoreScans.withLock { $0 } }

    /// The damaged rows still stored: the check's, less those deleted since (one primary-key seek
    /// each), plus those served damaged since. Runs the check the first time only.
    private func damagedCount(_ db: Database) throws -> Int64 {
        guard let known = damaged.withLock({ $0 }) else { return try checkWholeStore(db).damaged }
        let statement = try db.makeStatement(sql: "SELECT 1 FROM reports WHERE sequence = ?")
        var gone: [Int64] = []
        for sequence in known.sequences {
            if try Int.fetchOne(statement, arguments: [sequence]) == nil { gone.append(sequence) }
        }
        // Inside the read, which the queue runs alone: no write can delete a row in between.
        return damaged.withLock { state in
            guard var current = state else { return 0 }
            for sequence in gone { current.sequences.remove(sequence) }
            state = current
            return Int64(current.sequences.count) + current.untracked
        }
    }

    /// Reports as served, with the damaged ones added to the count (bit rot since the check).
    /// Called inside the read that found them, so a delete cannot come between.
    private func noted(_ reports: [StoredOutboxReport]) -> [StoredOutboxReport] {
        let found = reports.lazy.filter { $0.damage != nil }.map(\.sequence)
        if !found.isEmpty {
            damaged.withLock { state in
                guard state != nil else { return }  // the first check will find them
                for sequence in found { state?.add(sequence) }
            }
        }
        return reports
    }

    private static func gap(_ row: Row) -> OutboxGap {
        OutboxGap(
            fromSequence: row["from_sequence"], throughSequence: row["through_sequence"], count: row["count"],
            reason: row["reason"], recordedAt: Timestamp(millisecondsSinceUnixEpoch: row["recorded_at_ms"]))
    }

    private func write<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(OutboxError) -> T {
        writeGuard?()
        do { return try database.write(body) } catch { throw OutboxError.from(error, path: path, opening: false) }
    }

    private func read<T: Sendable>(_ body: @Sendable (Database) throws -> T) throws(OutboxError) -> T {
        do { return try database.read(body) } catch { throw OutboxError.from(error, path: path, opening: false) }
    }
}
