// A pull's acknowledgement is one small row beside the reports (the outbox's migration v4): it
// writes no report row, yet an acknowledged report is delivered everywhere the box asks, and a
// store of the previous schema keeps every report and every delivery through the migration.
import CountyProtocol
import Foundation
import GRDB
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct OutboxAcknowledgementTests {
    static let minute: Int64 = 60_000
    static let day: Int64 = 86_400_000

    /// A trigger of the test's own that records every report row an UPDATE rewrites.
    static func watchRewrites(_ path: String) throws -> DatabaseQueue {
        let watcher = try DatabaseQueue(path: path)
        try watcher.write { db in
            try db.execute(sql: """
                CREATE TABLE rows_rewritten (sequence INTEGER NOT NULL);
                CREATE TRIGGER report_rewritten AFTER UPDATE ON reports BEGIN
                    INSERT INTO rows_rewritten (sequence) VALUES (new.sequence);
                END;
                """)
        }
        return watcher
    }

    static func rewritten(_ watcher: DatabaseQueue) throws -> [Int64] {
        try watcher.read { db in try Int64.fetchAll(db, sql: "SELECT sequence FROM rows_rewritten ORDER BY sequence") }
    }

    @Test func aPullsAcknowledgementRewritesNoReportRowYetDeliversThemAll() throws {
        let path = OutboxTests.temporaryStorePath()
        let outbox = try Outbox(path: path)
        let sequences = try outbox.appendBatch((0..<5).map { OutboxTests.routine($0) })
        let watcher = try Self.watchRewrites(path)

        #expect(try outbox.acknowledge(through: sequences.last!, at: OutboxTests.start) == 5)
        #expect(try Self.rewritten(watcher).isEmpty)
        #expect(try outbox.undelivered(limit: 10).isEmpty)
        #expect(try outbox.backlog.delivered == 5)
        #expect(try outbox.backlog.undelivered == 0)
        #expect(try outbox.reports(after: 0, limit: 10).reports.map(\.deliveredAt) == Array(repeating: OutboxTests.start, count: 5))
        // A push's receipt for one of them changes nothing: it is delivered already.
        #expect(try outbox.markDelivered(sequences: [sequences[2]], at: OutboxTests.start.adding(milliseconds: Self.minute)) == 0)
        #expect(try Self.rewritten(watcher).isEmpty)
        // The push still marks its own reports one by one (the trigger sees that one row).
        let later = try outbox.append(OutboxTests.alarm(9))
        #expect(try outbox.markDelivered(sequences: [later], at: OutboxTests.start) == 1)
        #expect(try Self.rewritten(watcher) == [later])
    }

    @Test func anAcknowledgedReportIsNeverServedAgainAsUndelivered() throws {
        let path = OutboxTests.temporaryStorePath()
        do {
            let outbox = try Outbox(path: path)
            // Alarms, events and routine mixed, so every priority has reports on both sides of the mark.
            let first = try outbox.appendBatch([
                OutboxTests.routine(0), OutboxTests.alarm(1), OutboxTests.event(2), OutboxTests.routine(3), OutboxTests.alarm(4),
            ])
            let second = try outbox.appendBatch([OutboxTests.event(5), OutboxTests.routine(6), OutboxTests.alarm(7)])
            // The push delivered one report past the mark; the pull acknowledges the first five.
            #expect(try outbox.markDelivered(sequences: [second[1]], at: OutboxTests.start) == 1)
            #expect(try outbox.acknowledge(through: first.last!, at: OutboxTests.start) == 5)
            #expect(try outbox.undelivered(limit: 10).map(\.sequence) == [second[2], second[0]])
            // An acknowledgement behind the mark, or beyond the last number issued, changes nothing.
            #expect(try outbox.acknowledge(through: first[1], at: OutboxTests.start) == 0)
            #expect(try outbox.acknowledge(through: second.last! + 100, at: OutboxTests.start) == 2)
            #expect(try outbox.undelivered(limit: 10).isEmpty)
            #expect(try outbox.acknowledge(through: second.last! + 100, at: OutboxTests.start) == 0)
        }
        // Reopened, the store says the same; what comes next is waiting, and nothing before it.
        let outbox = try Outbox(path: path)
        #expect(try outbox.undelivered(limit: 10).isEmpty)
        let next = try outbox.append(OutboxTests.routine(8))
        #expect(try outbox.undelivered(limit: 10).map(\.sequence) == [next])
        // The SL 651 push's scan in sequence order goes by deliveredAt: only the new one is open.
        #expect(try outbox.reports(after: 0, limit: 20).reports.filter { $0.deliveredAt == nil }.map(\.sequence) == [next])
        let backlog = try outbox.backlog
        #expect(backlog.delivered == 8)
        #expect(backlog.undeliveredRoutine == 1)
        #expect(backlog.oldestUndeliveredTime == OutboxTests.routine(8).time)
    }

    @Test func aReportIsDeliveredWhenFirstMarkedOrAcknowledgedAndPurgedByThatTime() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath())
        let sequences = try outbox.appendBatch((0..<8).map { OutboxTests.routine($0) })
        let start = OutboxTests.start
        // The push has 3 on day 0; the pull acknowledges through 4 on day 1, then (half a
        // minute later, the same run) through 6: one acknowledgement, so one time; through 8 on day 5.
        #expect(try outbox.markDelivered(sequences: [sequences[2]], at: start) == 1)
        #expect(try outbox.acknowledge(through: sequences[3], at: start.adding(milliseconds: Self.day)) == 3)
        #expect(try outbox.acknowledge(through: sequences[5], at: start.adding(milliseconds: Self.day + Self.minute / 2)) == 2)
        #expect(try outbox.acknowledge(through: sequences[7], at: start.adding(milliseconds: 5 * Self.day)) == 2)
        let delivered = try outbox.reports(after: 0, limit: 10).reports.map { $0.deliveredAt?.millisecondsSinceUnixEpoch }
        let dayOne = start.adding(milliseconds: Self.day).millisecondsSinceUnixEpoch
        let dayFive = start.adding(milliseconds: 5 * Self.day).millisecondsSinceUnixEpoch
        #expect(delivered == [dayOne, dayOne, start.millisecondsSinceUnixEpoch, dayOne, dayOne, dayOne, dayFive, dayFive])
        // After an outage from day 2: the reports that waited for the link are the last two.
        #expect(try outbox.undeliveredOrDelivered(since: start.adding(milliseconds: 2 * Self.day)) == 2)
        #expect(try outbox.undeliveredOrDelivered(since: start.adding(milliseconds: Self.day)) == 7)
        // Purging what was delivered before day 3 leaves the last two, each still delivered on day 5.
        #expect(try outbox.purgeDelivered(olderThan: start.adding(milliseconds: 3 * Self.day)) == 6)
        let left = try outbox.reports(after: 0, limit: 10).reports
        #expect(left.map(\.sequence) == [sequences[6], sequences[7]])
        #expect(left.map { $0.deliveredAt?.millisecondsSinceUnixEpoch } == [dayFive, dayFive])
        #expect(try outbox.purgeDelivered(olderThan: start.adding(milliseconds: 3 * Self.day)) == 0)
        #expect(try outbox.purgeDelivered(olderThan: start.adding(milliseconds: 6 * Self.day)) == 2)
        // Acknowledging past purged reports still counts only what is newly delivered.
        let next = try outbox.append(OutboxTests.routine(9))
        #expect(try outbox.undelivered(limit: 10).map(\.sequence) == [next])
        #expect(try outbox.acknowledge(through: next, at: start.adding(milliseconds: 7 * Self.day)) == 1)
    }

    @Test func pastItsRowLimitAnAcknowledgementExtendsTheNewestRowSoNothingIsLostOnlyPurgedSooner() throws {
        var limits = OutboxLimits.standard
        limits.acknowledgementRowsMax = 2
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: limits)
        let sequences = try outbox.appendBatch((0..<3).map { OutboxTests.routine($0) })
        let start = OutboxTests.start
        for (index, sequence) in sequences.enumerated() {
            #expect(try outbox.acknowledge(through: sequence, at: start.adding(milliseconds: Int64(index) * Self.day)) == 1)
        }
        // Two rows: the third report took the second's time (day 1, not day 2).
        let delivered = try outbox.reports(after: 0, limit: 10).reports.map { $0.deliveredAt?.millisecondsSinceUnixEpoch }
        #expect(delivered == [0, 1, 1].map { start.adding(milliseconds: $0 * Self.day).millisecondsSinceUnixEpoch })
        #expect(try outbox.undelivered(limit: 10).isEmpty)
        #expect(try outbox.purgeDelivered(olderThan: start.adding(milliseconds: Self.day + 1)) == 3)
    }

    /// The outbox's schema as boxes in the field have it (migrations v1 to v3, word for word),
    /// with a backlog as the old acknowledgement left it: every report up to the mark marked.
    static let previousSchema = """
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
        CREATE TABLE delivery (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            acknowledged_through INTEGER NOT NULL
        );
        INSERT INTO delivery (id, acknowledged_through) VALUES (1, 0);
        ALTER TABLE reports ADD COLUMN origin_key TEXT;
        CREATE UNIQUE INDEX reports_origin_key ON reports (origin_key);
        ALTER TABLE reports ADD COLUMN wire_payload TEXT;
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
        INSERT INTO grdb_migrations VALUES ('v1 reports and gaps'), ('v2 origin keys'), ('v3 wire payloads');
        """

    @Test func aStoreOfThePreviousSchemaKeepsEveryReportAndEveryDeliveryAfterTheMigration() throws {
        let path = OutboxTests.temporaryStorePath()
        let start = OutboxTests.start
        // Ten reports: 1–6 acknowledged by pulls on days 1 and 2 (marked row by row, as before),
        // 8 marked by a push on day 3, 7, 9 and 10 waiting; 2 thinned long ago (a gap); 10 stored
        // before v3 (no wire payload).
        let reports = (1...10).map { index in index % 4 == 0 ? OutboxTests.alarm(index) : OutboxTests.routine(index) }
        let marks: [Int: Int64] = [1: Self.day, 3: Self.day, 4: 2 * Self.day, 5: 2 * Self.day, 6: 2 * Self.day, 8: 3 * Self.day]
        do {
            let old = try DatabaseQueue(path: path)
            try old.write { db in
                try db.execute(sql: Self.previousSchema)
                for (index, report) in zip(1..., reports) {
                    let wire = index == 10 ? nil : try WirePayload.make(boxKind: report.kind, boxPayload: report.payload)
                    try db.execute(
                        sql: """
                            INSERT INTO reports (time_ms, kind, priority, exercise, payload, delivered_at_ms, origin_key, wire_payload)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            report.time.millisecondsSinceUnixEpoch, report.kind, report.priority.rawValue, report.exercise ? 1 : 0,
                            report.payload, marks[index].map { start.millisecondsSinceUnixEpoch + $0 }, report.originKey, wire,
                        ])
                }
                try db.execute(sql: "DELETE FROM reports WHERE sequence = 2")
                try db.execute(sql: """
                    INSERT INTO gaps (from_sequence, through_sequence, count, reason, recorded_at_ms) VALUES (2, 2, 1, 'thinned', 0);
                    UPDATE delivery SET acknowledged_through = 6;
                    """)
            }
            try old.close()
        }

        let outbox = try Outbox(path: path)
        let pull = try outbox.reports(after: 0, limit: 20)
        #expect(pull.reports.map(\.sequence) == [1, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(pull.reports.map(\.report) == reports.enumerated().filter { $0.offset != 1 }.map(\.element))
        #expect(pull.reports.allSatisfy { $0.damage == nil })
        #expect(pull.reports.map(\.wirePayload).filter { $0 == nil }.count == 1)
        #expect(pull.gaps.map(\.fromSequence) == [2])
        // Each keeps the time it was delivered; the waiting ones are still waiting.
        #expect(pull.reports.map { $0.deliveredAt?.millisecondsSinceUnixEpoch } == [1, 3, 4, 5, 6, 7, 8, 9, 10].map { marks[$0].map { start.millisecondsSinceUnixEpoch + $0 } })
        #expect(try outbox.undelivered(limit: 10).map(\.sequence) == [7, 9, 10])
        let backlog = try outbox.backlog
        #expect(backlog.delivered == 6)
        #expect(backlog.undelivered == 3)
        #expect(try outbox.lastSequence() == 10)
        // The county's next acknowledgement goes on from the old mark; purging goes by each report's own time.
        #expect(try outbox.acknowledge(through: 6, at: start.adding(milliseconds: 4 * Self.day)) == 0)
        #expect(try outbox.purgeDelivered(olderThan: start.adding(milliseconds: Self.day + 1)) == 2)
        #expect(try outbox.reports(after: 0, limit: 20).reports.map(\.sequence) == [4, 5, 6, 7, 8, 9, 10])
        #expect(try outbox.acknowledge(through: 10, at: start.adding(milliseconds: 4 * Self.day)) == 3)
        #expect(try outbox.undelivered(limit: 10).isEmpty)
        #expect(try outbox.append(OutboxTests.routine(11)) == 11)
        #expect(try outbox.quickCheck() == ["ok"])
    }
}
