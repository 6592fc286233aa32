// The outbox's size and damaged count are kept as rows come and go, not read from every row on
// each status call or care round: they must still equal what a whole-store check finds.
import Foundation
import GRDB
import Logging
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct OutboxRunningTotalsTests {
    /// What a whole-store check of the file finds, through an outbox of its own (the running
    /// figures of the outbox under test are left alone): the figures a restart would start from.
    static func wholeStoreCheck(_ path: String) throws -> (storedBytes: Int64, damaged: Int64) {
        try Outbox(path: path, limits: OutboxRetentionTests.smallLimits).checkWholeStore()
    }

    static func expectRunningFiguresMatchAWholeStoreCheck(_ outbox: Outbox, _ step: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let backlog = try outbox.backlog
        let checked = try Self.wholeStoreCheck(outbox.path)
        #expect(backlog.storedBytes == checked.storedBytes, "stored bytes after \(step)", sourceLocation: sourceLocation)
        #expect(backlog.damaged == checked.damaged, "damaged rows after \(step)", sourceLocation: sourceLocation)
    }

    @Test func theSizeAndDamagedCountEqualAWholeStoreCheckAfterStoringServingPurgingThinningAndReopening() throws {
        let path = OutboxTests.temporaryStorePath()
        let outbox = try Outbox(path: path, limits: OutboxRetentionTests.smallLimits)
        let empty = try outbox.checkWholeStore()
        #expect(empty.storedBytes == 0 && empty.damaged == 0)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "opening an empty store")

        _ = try outbox.appendBatch((0..<5).map { OutboxTests.routine($0) } + [OutboxTests.alarm(5), OutboxTests.event(6)])
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "storing")
        #expect(try outbox.backlog.storedBytes > 0)

        // Rows damaged on disk behind the outbox's back (bit rot) are not seen until served...
        let damaged = try outbox.damageRowsForTesting(at: OutboxTests.start)
        #expect(try outbox.backlog.damaged == 0)
        #expect(try Self.wholeStoreCheck(path).damaged == 2)
        // ...and counted once a pull serves them, twice served still counted once.
        _ = try outbox.reports(after: 0, limit: 100)
        _ = try outbox.undelivered(limit: 100)
        #expect(try outbox.backlog.damaged == 2)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "serving the damaged rows")

        // A push marks rows delivered (the damaged one its CHECK constraints still allow to be
        // updated among them), then they are purged.
        let now = OutboxTests.start.adding(milliseconds: Milliseconds.hour)
        #expect(try outbox.markDelivered(sequences: [1, 2, damaged[1]], at: now) == 3)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "marking delivered")
        #expect(try outbox.purgeDelivered(olderThan: now.adding(milliseconds: 1)) == 3)
        #expect(try outbox.backlog.damaged == 1)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "purging")

        // A pull's acknowledgement covers the other damaged row; purged with its range.
        try outbox.acknowledge(through: damaged[0], at: now)
        #expect(try outbox.purgeDelivered(olderThan: now.adding(milliseconds: 1)) > 0)
        #expect(try outbox.backlog.damaged == 0)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "purging acknowledged rows")

        // Filled past the limit and thinned, with a damaged row stored among the routine ones.
        let more = try outbox.damageRowsForTesting(at: OutboxTests.start)
        _ = try OutboxRetentionTests.fill(outbox)
        _ = try outbox.damagedRows(limit: 10)
        #expect(try outbox.backlog.damaged == Int64(more.count))
        let thinning = try #require(try outbox.enforceSizeLimit(at: now))
        #expect(thinning.routineThinned > 0)
        #expect(try outbox.backlog.storedBytes == thinning.storedBytesAfter)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "thinning")
        if let alarm = thinning.healthAlarm { _ = try outbox.append(alarm) }
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "storing the health alarm")

        // Reopened, the outbox starts from its own check: the same figures.
        let reopened = try Outbox(path: path, limits: OutboxRetentionTests.smallLimits)
        #expect(try reopened.backlog.storedBytes == outbox.backlog.storedBytes)
        #expect(try reopened.backlog.damaged == outbox.backlog.damaged)
        #expect(reopened.wholeStoreScansCount == 1)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(reopened, "reopening")
    }

    @Test func routineCareAndStatusNeverReadTheWholeStoreAfterTheStartUpCheck() async throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: OutboxRetentionTests.smallLimits)
        _ = try outbox.appendBatch((0..<20).map { OutboxTests.routine($0) })
        try outbox.damageRowsForTesting(at: OutboxTests.start)
        // The box's start-up check: quick_check and the one whole-store scan.
        OutboxService.checkAtStart(outbox, logger: OutboxServiceTests.logger)
        #expect(outbox.wholeStoreScansCount == 1)
        #expect(try outbox.backlog.damaged == 2)

        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: OutboxServiceTests.logger)
        var now = OutboxTests.start
        for round in 0..<6 {
            now = now.adding(milliseconds: 30_000)
            await service.store((0..<10).map { OutboxTests.routine(100 + round * 10 + $0, at: now) })
            // The maintenance task's round: care, then the backlog it publishes.
            await service.maintain(at: now)
            let backlog = try #require(await service.backlog())
            #expect(backlog.damaged <= 2)
            // A status call and a pull in between.
            _ = try outbox.backlog
            _ = try outbox.reports(after: 0, limit: 50)
        }
        // The store went past its limit and was thinned meanwhile, without a single scan.
        #expect(try outbox.reports(after: 0, limit: 1_000).gaps.isEmpty == false)
        #expect(outbox.wholeStoreScansCount == 1)
        try Self.expectRunningFiguresMatchAWholeStoreCheck(outbox, "six care rounds")
        #expect(outbox.wholeStoreScansCount == 1)
    }

    @Test func aStoreFromBeforeTheRunningTotalStartsItFromItsRows() throws {
        let path = OutboxTests.temporaryStorePath()
        let outbox = try Outbox(path: path, limits: OutboxRetentionTests.smallLimits)
        _ = try outbox.appendBatch((0..<8).map { OutboxTests.routine($0) } + [OutboxTests.alarm(8)])
        let expected = try outbox.checkWholeStore().storedBytes
        // Undo migration v5 as a box in the field never had it.
        let database = try DatabaseQueue(path: path)
        try database.write { db in
            try db.execute(sql: """
                DROP TRIGGER reports_stored_bytes_insert; DROP TRIGGER reports_stored_bytes_delete;
                DROP TRIGGER reports_stored_bytes_update; DROP TABLE totals;
                DELETE FROM grdb_migrations WHERE identifier = 'v5 stored size kept by triggers';
                """)
        }
        try database.close()
        let upgraded = try Outbox(path: path, limits: OutboxRetentionTests.smallLimits)
        #expect(try upgraded.backlog.storedBytes == expected)
        _ = try upgraded.append(OutboxTests.event(9))
        try Self.expectRunningFiguresMatchAWholeStoreCheck(upgraded, "storing after the upgrade")
    }
}
