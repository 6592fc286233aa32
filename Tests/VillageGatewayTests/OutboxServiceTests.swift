// The outbox service: a failing disk buffers and retries, a re-performed decision is stored once,
// a full store keeps every alarm and says so.
import Foundation
import GRDB
import Logging
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct OutboxServiceTests {
    static let logger = Logger(label: "outbox-service-test")

    /// An outbox whose file may not grow past `pages` pages: past it SQLite fails as a full disk does.
    static func cappedOutbox(pages: Int) throws -> Outbox {
        var limits = OutboxLimits.standard
        limits.databasePagesMax = pages
        return try Outbox(path: OutboxTests.temporaryStorePath(), limits: limits)
    }

    /// Appends routine reports, large then ever smaller, until the capped file refuses even a
    /// tiny one; returns what was stored.
    static func fillUntilFull(_ outbox: Outbox) throws -> [Int64] {
        var stored: [Int64] = []
        var index: Int64 = 0
        for fillerBytes in [3_000, 300, 1] {
            let filler = String(repeating: "x", count: fillerBytes)
            var full = false
            while !full && index < 100_000 {
                index += 1
                let report = OutboxReport(
                    time: OutboxTests.start.adding(milliseconds: index), kind: "observationSummary", priority: .routine, exercise: false,
                    payload: #"{"filler":"\#(filler)"}"#)
                do {
                    stored.append(try outbox.append(report))
                } catch {
                    #expect(error == .diskFull(path: outbox.path), "\(error)")
                    full = true
                }
            }
            if !full { Issue.record("the capped outbox never filled") }
        }
        return stored
    }

    /// Frees the whole file: the county has everything, and it is purged. Done through a second,
    /// uncapped connection (max_page_count is per connection): the full one cannot even mark rows.
    static func makeRoom(_ outbox: Outbox) throws {
        let uncapped = try Outbox(path: outbox.path)
        let last = try uncapped.lastSequence()
        try uncapped.acknowledge(through: last, at: OutboxTests.start)
        try uncapped.purgeDelivered(olderThan: OutboxTests.start.adding(milliseconds: 1))
    }

    @Test func aFullDiskBuffersReportsAndStoresThemInOrderOnceThereIsRoom() async throws {
        let outbox = try Self.cappedOutbox(pages: 64)
        let filled = try Self.fillUntilFull(outbox)
        #expect(!filled.isEmpty)
        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: Self.logger)

        // The store returns (warnings go on); the reports wait in memory.
        await service.store([OutboxTests.alarm(1)])
        await service.store([OutboxTests.event(2)])
        #expect(await service.bufferedCount == 2)
        #expect(await service.lastError == .diskFull(path: outbox.path))

        try Self.makeRoom(outbox)
        await service.store([OutboxTests.alarm(3)])
        #expect(await service.bufferedCount == 0)
        #expect(await service.lastError == nil)
        let stored = try outbox.reports(after: filled.last!, limit: 10).reports.map(\.report)
        #expect(stored == [OutboxTests.alarm(1), OutboxTests.event(2), OutboxTests.alarm(3)])
    }

    @Test func overflowKeepsAlarmsAndReportsTheLossOnceStoringWorksAgain() async throws {
        let outbox = try Self.cappedOutbox(pages: 64)
        let filled = try Self.fillUntilFull(outbox)
        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: Self.logger, reportsBufferedMax: 3)

        // Two routine summaries, then three alarms: the buffer holds three, the routine ones go.
        await service.store([OutboxTests.routine(1), OutboxTests.routine(2)])
        await service.store([OutboxTests.alarm(3), OutboxTests.alarm(4), OutboxTests.alarm(5)])
        #expect(await service.bufferedCount == 3)
        #expect(await service.lostCount == 2)

        try Self.makeRoom(outbox)
        await service.maintain(at: OutboxTests.start.adding(milliseconds: Milliseconds.hour))
        #expect(await service.lostCount == 0)
        let stored = try outbox.reports(after: filled.last!, limit: 10).reports.map(\.report)
        #expect(stored.prefix(3) == [OutboxTests.alarm(3), OutboxTests.alarm(4), OutboxTests.alarm(5)])
        let loss = try #require(stored.last)
        #expect(loss.kind == "outboxReportsLost")
        #expect(loss.priority == .alarm)
        let payload = try JSONSerialization.jsonObject(with: Data(loss.payload.utf8)) as! [String: Any]
        #expect(payload["routine"] as? Int == 2)
        #expect(payload["alarms"] as? Int == 0)
    }

    @Test func aRePerformedDecisionStoresItsReportsOnce() async throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath())
        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: Self.logger)
        let decision = [
            Report(time: OutboxTests.start, kind: .levelChanged(from: .none, to: .red, causes: ["rain-1h"]), exercise: false),
            Report(time: OutboxTests.start, kind: .acknowledgementRequested(level: .red, contacts: ["王建国"], deadline: OutboxTests.start.adding(milliseconds: 600_000)), exercise: false),
        ]
        await service.store(decision.map(OutboxReport.init))
        // After a kill -9 the owner performs the same decision again.
        await service.store(decision.map(OutboxReport.init))
        // A different report at the same instant is still stored.
        await service.store([OutboxReport(Report(time: OutboxTests.start, kind: .levelChanged(from: .red, to: .orange, causes: ["rain-1h"]), exercise: false))])
        let stored = try outbox.reports(after: 0, limit: 10).reports
        #expect(stored.map(\.sequence) == [1, 2, 3])
        #expect(stored.map(\.report.kind) == ["levelChanged", "acknowledgementRequested", "levelChanged"])
    }

    @Test func theOriginKeySurvivesReopeningTheStore() throws {
        let path = OutboxTests.temporaryStorePath()
        let report = OutboxTests.alarm(7)
        let first = try Outbox(path: path).append(report)
        let again = try Outbox(path: path).append(report)
        #expect(first == again)
        #expect(try Outbox(path: path).lastSequence() == first)
    }

    @Test func aStoreFilledToItsLimitKeepsEveryAlarmAndRaisesTheHealthAlarm() async throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: OutboxRetentionTests.smallLimits)
        let (_, protected) = try OutboxRetentionTests.fill(outbox)
        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: Self.logger)
        let now = OutboxTests.start.adding(milliseconds: Milliseconds.day)
        await service.maintain(at: now)
        let kept = try outbox.reports(after: 0, limit: 1_000).reports
        #expect(Set(protected).isSubset(of: Set(kept.map(\.sequence))))
        let health = kept.filter { $0.report.kind == "outboxFull" }
        #expect(health.count == 1)
        #expect(health.first?.report.priority == .alarm)
        #expect(try outbox.backlog.storedBytes <= OutboxRetentionTests.smallLimits.outboxBytesMax)
    }

    @Test func maintenancePurgesWhatTheCountyHasHadForKeepDelivered() async throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath())
        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: Self.logger)
        await service.store([OutboxTests.routine(0), OutboxTests.routine(1), OutboxTests.alarm(2)])
        try outbox.acknowledge(through: 2, at: OutboxTests.start)
        await service.maintain(at: OutboxTests.start.adding(milliseconds: Milliseconds.day - 1))
        #expect(try outbox.reports(after: 0, limit: 10).reports.count == 3)
        await service.maintain(at: OutboxTests.start.adding(milliseconds: Milliseconds.day + 1))
        #expect(try outbox.reports(after: 0, limit: 10).reports.map(\.sequence) == [3])
    }
}
