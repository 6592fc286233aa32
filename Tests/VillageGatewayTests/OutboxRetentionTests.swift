// Retention: a full store thins routine reports oldest-first, records the hole, and never drops an alarm.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct OutboxRetentionTests {
    static let smallLimits = OutboxLimits(
        outboxBytesMax: 4_000, outboxBytesAfterThinning: 3_000, reportsPerPullMax: 1_000, payloadBytesMax: 1_024)

    /// Ten routine summaries, then an alarm and an event, repeated: alarms sit between routine runs.
    static func fill(_ outbox: Outbox) throws -> (routine: [Int64], protected: [Int64]) {
        var routine: [Int64] = []
        var protected: [Int64] = []
        var index = 0
        while try outbox.backlog.storedBytes <= outbox.limits.outboxBytesMax {
            routine += try outbox.appendBatch((0..<10).map { OutboxTests.routine(index + $0) })
            protected += try outbox.appendBatch([OutboxTests.alarm(index + 10), OutboxTests.event(index + 11)])
            index += 12
        }
        return (routine, protected)
    }

    @Test func aStoreFilledToItsLimitKeepsEveryAlarmAndRaisesTheHealthAlarm() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: Self.smallLimits)
        let (routine, protected) = try Self.fill(outbox)
        let now = OutboxTests.start.adding(milliseconds: 86_400_000)

        let thinning = try #require(try outbox.enforceSizeLimit(at: now))
        #expect(thinning.routineThinned > 0)
        #expect(thinning.deliveredPurged == 0)
        #expect(!thinning.overLimitWithProtectedReports)
        #expect(thinning.storedBytesAfter <= Self.smallLimits.outboxBytesAfterThinning)

        let remaining = try outbox.reports(after: 0, limit: 1_000)
        let remainingSequences = Set(remaining.reports.map(\.sequence))
        // Every alarm and event is still there.
        #expect(Set(protected).isSubset(of: remainingSequences))
        // Routine reports went oldest-first: the thinned ones are exactly the oldest routine ones.
        let thinned = routine.filter { !remainingSequences.contains($0) }
        #expect(thinned == Array(routine.prefix(thinned.count)))
        #expect(Int64(thinned.count) == thinning.routineThinned)

        // The hole is recorded, split where kept alarms interrupt it, and the county sees it on a pull.
        #expect(remaining.gaps == thinning.gaps)
        #expect(remaining.gaps.map(\.count).reduce(0, +) == thinning.routineThinned)
        #expect(remaining.gaps.count > 1)
        for gap in remaining.gaps {
            let inside = thinned.filter { $0 >= gap.fromSequence && $0 <= gap.throughSequence }
            #expect(Int64(inside.count) == gap.count)
            #expect(gap.recordedAt == now)
        }

        // The health alarm is an alarm the caller appends; it is kept like any other.
        let health = try #require(thinning.healthAlarm)
        #expect(health.priority == .alarm)
        #expect(health.kind == "outboxFull")
        #expect(health.payload.contains(#""routineThinned":\#(thinning.routineThinned)"#))
        let healthSequence = try outbox.append(health)
        #expect(healthSequence > (routine + protected).max()!)
    }

    @Test func aPullAfterTheHoleStillSeesOnlyGapsAheadOfIt() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: Self.smallLimits)
        _ = try Self.fill(outbox)
        let thinning = try #require(try outbox.enforceSizeLimit(at: OutboxTests.start))
        let first = try #require(thinning.gaps.first)
        let pulledPastFirst = try outbox.reports(after: first.throughSequence, limit: 1_000)
        #expect(!pulledPastFirst.gaps.contains(first))
        #expect(pulledPastFirst.gaps == Array(thinning.gaps.dropFirst()))
        // A one-report page before the first gap does not announce gaps beyond that page.
        if first.fromSequence > 1 {
            #expect(try outbox.reports(after: 0, limit: 1).gaps.isEmpty)
        }
    }

    @Test func deliveredReportsGoBeforeAnyUndeliveredOneIsThinned() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: Self.smallLimits)
        let (routine, _) = try Self.fill(outbox)
        let allSequences = try outbox.reports(after: 0, limit: 1_000).reports.map(\.sequence)
        // The county has the first half; deleting it is enough to get under the limit.
        try outbox.acknowledge(through: allSequences[allSequences.count / 2], at: OutboxTests.start)
        let thinning = try #require(try outbox.enforceSizeLimit(at: OutboxTests.start))
        #expect(thinning.deliveredPurged > 0)
        #expect(thinning.routineThinned == 0)
        #expect(thinning.gaps.isEmpty)
        #expect(thinning.healthAlarm == nil)
        let remaining = Set(try outbox.reports(after: 0, limit: 1_000).reports.map(\.sequence))
        #expect(Set(routine.suffix(5)).isSubset(of: remaining))
    }

    @Test func aStoreOverItsLimitWithOnlyAlarmsAndEventsKeepsThemAndSaysSo() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: Self.smallLimits)
        var protected: [Int64] = []
        var index = 0
        while try outbox.backlog.storedBytes <= Self.smallLimits.outboxBytesMax {
            protected += try outbox.appendBatch([OutboxTests.alarm(index), OutboxTests.event(index + 1)])
            index += 2
        }
        let thinning = try #require(try outbox.enforceSizeLimit(at: OutboxTests.start))
        #expect(thinning.routineThinned == 0)
        #expect(thinning.overLimitWithProtectedReports)
        #expect(thinning.storedBytesAfter > Self.smallLimits.outboxBytesMax)
        let health = try #require(thinning.healthAlarm)
        #expect(health.payload.contains(#""overLimitWithAlarmsAndEvents":true"#))
        #expect(try outbox.reports(after: 0, limit: 1_000).reports.map(\.sequence) == protected)
        // An alarm is still accepted when the store is over its limit.
        #expect(try outbox.append(health) > protected.last!)
    }

    @Test func aStoreWithinItsLimitIsLeftAlone() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: Self.smallLimits)
        _ = try outbox.appendBatch((0..<3).map { OutboxTests.routine($0) })
        #expect(try outbox.enforceSizeLimit(at: OutboxTests.start) == nil)
        #expect(try outbox.backlog.undeliveredRoutine == 3)
    }
}
