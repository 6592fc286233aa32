// The outbox as the county sees it: numbers that only increase, pulls after a number, delivery and purge.
import Foundation
import GRDB
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct OutboxTests {
    static let start = Timestamp(millisecondsSinceUnixEpoch: 1_780_000_000_000)

    static func temporaryStorePath() -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-outbox-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/outbox.sqlite"
    }

    static func routine(_ index: Int, at time: Timestamp = start) -> OutboxReport {
        OutboxReport(
            time: time.adding(milliseconds: Int64(index) * 60_000), kind: "observationSummary", priority: .routine,
            exercise: false, payload: #"{"rainMillimeters1h":1.5,"index":\#(index)}"#)
    }

    static func alarm(_ index: Int) -> OutboxReport {
        OutboxReport(Report(
            time: start.adding(milliseconds: Int64(index) * 60_000),
            kind: .levelChanged(from: .none, to: .red, causes: ["rain1 30 mm in 1 h (\(index))"]), exercise: false))
    }

    static func event(_ index: Int) -> OutboxReport {
        OutboxReport(Report(
            time: start.adding(milliseconds: Int64(index) * 60_000), kind: .inputRejected(reason: "unknown sensor \(index)"),
            exercise: false))
    }

    @Test func engineReportsMapToAlarmsAndEvents() throws {
        let alarm = Self.alarm(1)
        #expect(alarm.priority == .alarm)
        #expect(alarm.kind == "levelChanged")
        #expect(alarm.payload.contains("levelChanged"))
        #expect(Self.event(1).priority == .event)
        let drill = OutboxReport(Report(time: Self.start, kind: .drill(started: true, level: .red, by: "li"), exercise: true))
        #expect(drill.priority == .event)
        #expect(drill.exercise)
    }

    @Test func sequenceNumbersIncreaseAcrossCloseAndReopen() throws {
        let path = Self.temporaryStorePath()
        var seen: [Int64] = []
        for round in 0..<3 {
            let outbox = try Outbox(path: path)
            seen.append(try outbox.append(Self.routine(round)))
            seen += try outbox.appendBatch([Self.alarm(round), Self.event(round)])
        }
        #expect(seen == seen.sorted())
        #expect(Set(seen).count == seen.count)
        let outbox = try Outbox(path: path)
        #expect(try outbox.reports(after: 0, limit: 100).reports.map(\.sequence) == seen)
    }

    @Test func aSequenceNumberIsNeverReusedAfterTheNewestReportsAreDeleted() throws {
        let path = Self.temporaryStorePath()
        do {
            let outbox = try Outbox(path: path)
            let sequences = try outbox.appendBatch((0..<5).map { Self.routine($0) })
            #expect(sequences == [1, 2, 3, 4, 5])
            try outbox.acknowledge(through: 5, at: Self.start)
            #expect(try outbox.purgeDelivered(olderThan: Self.start.adding(milliseconds: 1)) == 5)
            #expect(try outbox.reports(after: 0, limit: 10).reports.isEmpty)
        }
        let reopened = try Outbox(path: path)
        #expect(try reopened.append(Self.routine(6)) == 6)
    }

    @Test func theCountyPullsAfterANumberInPagesOfAtMostTheLimit() throws {
        let outbox = try Outbox(path: Self.temporaryStorePath(), limits: OutboxLimits(
            outboxBytesMax: 1_000_000, outboxBytesAfterThinning: 900_000, reportsPerPullMax: 4, payloadBytesMax: 1024))
        let sequences = try outbox.appendBatch((0..<10).map { Self.routine($0) })
        let page = try outbox.reports(after: 3, limit: 3)
        #expect(page.reports.map(\.sequence) == [4, 5, 6])
        #expect(page.reports[0].report == Self.routine(3))
        #expect(page.reports.allSatisfy { $0.deliveredAt == nil })
        #expect(page.gaps.isEmpty)
        // reportsPerPullMax bounds any page, whatever the caller asks.
        #expect(try outbox.reports(after: 0, limit: 1000).reports.count == 4)
        #expect(try outbox.reports(after: sequences.last!, limit: 3).reports.isEmpty)
    }

    @Test func alarmsAreSentBeforeTheRoutineBacklog() throws {
        let outbox = try Outbox(path: Self.temporaryStorePath())
        _ = try outbox.appendBatch([Self.routine(0), Self.routine(1), Self.event(2), Self.alarm(3)])
        #expect(try outbox.undelivered(limit: 10).map(\.report.priority) == [.alarm, .event, .routine, .routine])
    }

    @Test func acknowledgedReportsArePurgedOnlyOnceOldEnough() throws {
        let outbox = try Outbox(path: Self.temporaryStorePath())
        _ = try outbox.appendBatch((0..<6).map { Self.routine($0) })
        let day: Int64 = 86_400_000
        #expect(try outbox.acknowledge(through: 2, at: Self.start) == 2)
        #expect(try outbox.acknowledge(through: 4, at: Self.start.adding(milliseconds: 3 * day)) == 2)
        var backlog = try outbox.backlog
        #expect(backlog.delivered == 4)
        #expect(backlog.undeliveredRoutine == 2)
        #expect(backlog.oldestUndeliveredTime == Self.routine(4).time)
        // Purge what was delivered more than two days before day 4: only the first two.
        #expect(try outbox.purgeDelivered(olderThan: Self.start.adding(milliseconds: 2 * day)) == 2)
        #expect(try outbox.reports(after: 0, limit: 10).reports.map(\.sequence) == [3, 4, 5, 6])
        #expect(try outbox.reports(after: 0, limit: 10).reports.map { $0.deliveredAt != nil } == [true, true, false, false])
        backlog = try outbox.backlog
        #expect(backlog.delivered == 2)
        #expect(backlog.undelivered == 2)
    }

    @Test func pushedReportsAreMarkedDeliveredOneByOneInPriorityOrder() throws {
        let outbox = try Outbox(path: Self.temporaryStorePath())
        _ = try outbox.appendBatch((0..<4).map { Self.routine($0) })
        // A push sends what undelivered() names first; the county stored only some of them.
        #expect(try outbox.markDelivered(sequences: [2, 4, 99], at: Self.start) == 2)
        #expect(try outbox.markDelivered(sequences: [2], at: Self.start) == 0)
        #expect(try outbox.undelivered(limit: 10).map(\.sequence) == [1, 3])
        #expect(try outbox.backlog.delivered == 2)
        #expect(try outbox.lastSequence() == 4)
    }

    @Test func aPayloadThatIsTooLargeOrNotJSONIsRefusedWithAReason() throws {
        let outbox = try Outbox(path: Self.temporaryStorePath(), limits: OutboxLimits(
            outboxBytesMax: 1_000_000, outboxBytesAfterThinning: 900_000, reportsPerPullMax: 10, payloadBytesMax: 64))
        var large = Self.routine(0)
        large.payload = #"{"text":"\#(String(repeating: "x", count: 100))"}"#
        #expect(throws: OutboxError.payloadTooLarge(bytes: large.payload.utf8.count, bytesMax: 64)) { try outbox.append(large) }
        var broken = Self.routine(0)
        broken.payload = "{not json"
        #expect(throws: OutboxError.payloadNotJSON(kind: "observationSummary")) { try outbox.append(broken) }
        // Nothing of a refused batch is stored.
        #expect(throws: OutboxError.self) { try outbox.appendBatch([Self.routine(1), broken]) }
        #expect(try outbox.reports(after: 0, limit: 10).reports.isEmpty)
    }

    @Test func aDirectoryInPlaceOfTheStoreGivesAClearError() throws {
        let path = Self.temporaryStorePath()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do {
            _ = try Outbox(path: path)
            Issue.record("opened a directory as the outbox")
        } catch {
            guard case .cannotOpen(let errorPath, _) = error else { Issue.record("got \(error)"); return }
            #expect(errorPath == path)
            #expect(error.description.contains("cannot open the report store"))
            #expect(error.description.contains("Warnings continue"))
        }
    }

    @Test func aStoreInAMissingFolderGivesAClearError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-missing-\(UUID().uuidString)/outbox.sqlite").path
        #expect {
            _ = try Outbox(path: path)
        } throws: { error in
            guard let error = error as? OutboxError, case .cannotOpen = error else { return false }
            return error.description.contains(path)
        }
    }

    @Test func aFileThatIsNotAnOutboxIsReportedAsDamaged() throws {
        let path = Self.temporaryStorePath()
        try Data(String(repeating: "this is not sqlite ", count: 400).utf8).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try Outbox(path: path)
        } throws: { error in
            guard let error = error as? OutboxError, case .corrupt = error else { return false }
            return error.description.contains("damaged")
        }
    }
}

@Suite struct OutboxDiskFullTests {
    @Test func aFullDiskIsATypedErrorAndTheStoreStillReadsAfterwards() throws {
        var limits = OutboxLimits.standard
        limits.databasePagesMax = 16
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: limits)
        var report = OutboxTests.routine(0)
        report.payload = #"{"text":"\#(String(repeating: "x", count: 2_000))"}"#
        var stored: [Int64] = []
        var failure: OutboxError?
        for _ in 0..<100 {
            do { stored.append(try outbox.append(report)) } catch {
                failure = error
                break
            }
        }
        #expect(failure == .diskFull(path: outbox.path))
        #expect(failure?.description.contains("disk is full") == true)
        #expect(!stored.isEmpty)
        // What was committed before the disk filled is all still there, in order.
        #expect(try outbox.reports(after: 0, limit: 100).reports.map(\.sequence) == stored)
    }
}

@Suite struct OutboxDurabilityTests {
    @Test func theStoreRunsWALWithFullSyncAfterEveryOpen() throws {
        let path = OutboxTests.temporaryStorePath()
        for _ in 0..<2 {
            let outbox = try Outbox(path: path)
            _ = try outbox.append(OutboxTests.alarm(0))
            let durability = try outbox.durability()
            #expect(durability.journalMode == "wal")
            // 2 is FULL: fsync at every commit, so a power cut cannot take a committed report.
            #expect(durability.synchronous == 2)
        }
    }

    @Test func sqliteFailuresBecomeErrorsATechnicianCanActOn() {
        let path = "/var/lib/village-gateway/outbox.sqlite"
        #expect(OutboxError.from(DatabaseError(resultCode: .SQLITE_FULL), path: path, opening: false) == .diskFull(path: path))
        #expect(OutboxError.from(DatabaseError(resultCode: .SQLITE_READONLY), path: path, opening: false) == .readOnly(path: path))
        guard case .corrupt = OutboxError.from(DatabaseError(resultCode: .SQLITE_CORRUPT), path: path, opening: false) else {
            Issue.record("SQLITE_CORRUPT is not reported as damage")
            return
        }
        #expect(OutboxError.readOnly(path: path).description.contains("read-only"))
    }

    @Test func gapsAreForgottenOnlyOnceEverythingBeforeThemIsDeliveredAndOld() throws {
        let outbox = try Outbox(path: OutboxTests.temporaryStorePath(), limits: OutboxRetentionTests.smallLimits)
        _ = try OutboxRetentionTests.fill(outbox)
        let thinning = try #require(try outbox.enforceSizeLimit(at: OutboxTests.start))
        let day: Int64 = 86_400_000
        // Nothing delivered yet: the gaps stay, whatever their age.
        try outbox.purgeDelivered(olderThan: OutboxTests.start.adding(milliseconds: 30 * day))
        #expect(try outbox.reports(after: 0, limit: 1_000).gaps == thinning.gaps)
        // The county has everything; a month later the reports and the gaps go.
        let last = try #require(try outbox.reports(after: 0, limit: 1_000).reports.last?.sequence)
        try outbox.acknowledge(through: last, at: OutboxTests.start)
        try outbox.purgeDelivered(olderThan: OutboxTests.start.adding(milliseconds: 30 * day))
        let pull = try outbox.reports(after: 0, limit: 1_000)
        #expect(pull.reports.isEmpty)
        #expect(pull.gaps.isEmpty)
    }
}
