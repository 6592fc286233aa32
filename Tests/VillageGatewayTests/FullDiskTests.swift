// Issue 12 item 4: a restart on a full disk keeps the latched red (the state reserve), and at
// shutdown every report queued in memory is stored or counted in an outboxReportsLost alarm.
// On a real small tmpfs: mounting needs root (CI runs as root); elsewhere these are skipped.
import Foundation
import Logging
import Testing
import WarningLogic
@testable import VillageGateway

/// A tmpfs of `bytes`, mounted for one test and unmounted after it.
final class SmallDisk {
    static let canMount = geteuid() == 0
    static let skipReason: Comment = "mounting a tmpfs needs root (CI runs as root); run `sudo swift test --filter FullDiskTests`"
    let path: String

    init(bytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-disk-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: path)
            throw RuntimeError(description: "cannot mount a tmpfs on \(path): \(reason)")
        }
    }

    deinit {
        umount2(path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes a filler file until the disk refuses a byte more; returns its size.
    @discardableResult
    func fill() -> Int {
        let descriptor = open("\(path)/filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(descriptor) }
        var total = 0
        for chunk in [64 * 1024, 4096, 1] {
            let block = [UInt8](repeating: 0x55, count: chunk)
            while block.withUnsafeBytes({ write(descriptor, $0.baseAddress!, chunk) }) == chunk { total += chunk }
        }
        return total
    }
}

@Suite(.serialized, .enabled(if: SmallDisk.canMount, SmallDisk.skipReason)) struct FullDiskTests {
    static let time = Timestamp(millisecondsSinceUnixEpoch: 1_593_568_800_000)

    /// Runs the box's owner on `directory` through a river reading of 4.5 m (red, latched), stops
    /// it as SIGTERM does, then recovers what a restart would.
    static func stormThenRestart(directory: String, reserve: DiskReserve?, disk: SmallDisk) async throws -> StationStatus {
        let board = try SimulatedBoardHardware(sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 120_000, driving: .manual)
        let outputs = board.outputs
        defer { outputs.shutdown() }
        let example = try await ExampleEngineOwner.start(directory: directory, reserve: reserve, outputs: outputs, at: time, afterRecovery: { disk.fill() })
        let (gateway, queue, published, owner) = (example.gateway, example.queue, example.published, example.owner)
        await queue.submit(Event(time: time.adding(milliseconds: 1_000), kind: .reading(sensorId: "river1", value: 4.5)))
        await queue.close()
        _ = await owner.run()
        let before = try #require(published.report().station)
        #expect(before.level == .red && before.latchedLevel == .red, "the storm reached a latched red before the stop")
        await owner.finish()
        return StateStore(directory: directory).recover(configuration: gateway.engine).engine.status()
    }

    @Test func aRestartOnAFullDiskKeepsTheLatchedRed() async throws {
        let disk = try SmallDisk(bytes: 4 * 1024 * 1024)
        let lines = LogLines()
        let reserve = DiskReserve(directory: disk.path, bytesMax: 512 * 1024, logger: lines.logger)
        #expect(reserve.replenish() == 512 * 1024)
        let resumed = try await Self.stormThenRestart(directory: disk.path, reserve: reserve, disk: disk)
        #expect(resumed.level == .red)
        #expect(resumed.latchedLevel == .red)
        #expect(reserve.releases >= 1)
        #expect(lines.text.contains("disk full: released"))
    }

    /// The same storm without the reserve: what today's main did ("resumed at level none").
    @Test func withoutTheReserveTheFullDiskForgetsTheStorm() async throws {
        let disk = try SmallDisk(bytes: 4 * 1024 * 1024)
        let resumed = try await Self.stormThenRestart(directory: disk.path, reserve: nil, disk: disk)
        #expect(resumed.level == .none)
        #expect(resumed.latchedLevel == nil)
    }

    @Test func aJournalRecordCutShortByAFullDiskIsTakenBackSoLaterRecordsStillRead() throws {
        let disk = try SmallDisk(bytes: 1024 * 1024)
        let store = StateStore(directory: disk.path)
        _ = store.recover(configuration: try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine)
        try store.openJournal()
        disk.fill()
        // Refused: a county warning is a few hundred bytes and the disk has none.
        let long = String(repeating: "请立即转移", count: 60)
        #expect(throws: StateError.self) {
            try store.append(.event(sequence: 1, event: Event(time: Self.time, kind: .countyWarning(id: "c-1", level: .red, text: long))), sync: true)
        }
        // Room again: the next record must read back (no torn bytes before it).
        unlink("\(disk.path)/filler")
        try store.append(.event(sequence: 2, event: Event(time: Self.time, kind: .tips(sensorId: "rain1", count: 3))), sync: true)
        let read = store.readJournal(path: "\(disk.path)/\(StateStore.journalFileName)")
        #expect(read.damage == nil)
        #expect(read.entries.count == 1)
    }

    @Test func atShutdownOnAFullDiskTheQueuedReportsAreStoredFromTheReserve() async throws {
        let disk = try SmallDisk(bytes: 4 * 1024 * 1024)
        let lines = LogLines()
        let outbox = try Outbox(path: "\(disk.path)/outbox.sqlite")
        let reserve = DiskReserve(directory: disk.path, bytesMax: 1024 * 1024, logger: lines.logger)
        reserve.replenish()
        let service = OutboxService(outbox: outbox, keepDeliveredMilliseconds: Milliseconds.day, logger: lines.logger, reportsBufferedMax: 512)
        disk.fill()
        let reports = (0..<200).map { index in
            OutboxReport(Report(time: Self.time.adding(milliseconds: Int64(index) * 1_000), kind: .sensorHealth(sensorId: "slope1", faulty: index % 2 == 0, reason: String(repeating: "x", count: 200)), exercise: false))
        }
        await service.store(reports)
        #expect(await service.bufferedCount == 200, "the full disk refused them: they wait in memory")
        let lost = await service.finish(at: Self.time.adding(milliseconds: 300_000), stateDirectory: disk.path, reserve: reserve)
        #expect(lost == 0)
        #expect(try outbox.backlog.undelivered == 200)
    }
}

/// The shutdown's other path needs no tmpfs: an outbox with a ceiling refuses as a full disk does.
@Suite struct OutboxShutdownTests {
    @Test func atShutdownEveryReportTheStoreRefusesIsCountedInALossAlarmStoredAtTheNextStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-shutdown-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/outbox.sqlite"
        // A ceiling of a few pages, filled to the brim: every append fails as on a full disk,
        // the loss alarm's too.
        var limits = OutboxLimits.standard
        limits.databasePagesMax = 12
        let capped = try Outbox(path: path, limits: limits)
        var filled = 0
        while (try? capped.append(OutboxReport(time: Timestamp(millisecondsSinceUnixEpoch: 1), kind: "filler", priority: .routine, exercise: false, payload: "{}"))) != nil {
            filled += 1
            if filled > 100_000 { Issue.record("the page ceiling never stopped an append"); return }
        }
        let lines = LogLines()
        let service = OutboxService(outbox: capped, keepDeliveredMilliseconds: Milliseconds.day, logger: lines.logger)
        let time = Timestamp(millisecondsSinceUnixEpoch: 1_593_568_800_000)
        let reports = (0..<200).map { index in
            OutboxReport(time: time.adding(milliseconds: Int64(index)), kind: "observationSummary", priority: index < 3 ? .alarm : .routine, exercise: false,
                         payload: "{\"n\": \(index), \"pad\": \"\(String(repeating: "y", count: 300))\"}")
        }
        await service.store(reports)
        #expect(await service.bufferedCount == 200)
        let lost = await service.finish(at: time.adding(milliseconds: 60_000), stateDirectory: directory, reserve: nil)
        #expect(lost == 200)
        #expect(lines.text.contains("200 report(s) lost in all (3 alarms, 0 events, 197 routine), counted in an outboxReportsLost alarm"))
        #expect(FileManager.default.fileExists(atPath: "\(directory)/\(OutboxService.pendingLossFileName)"))

        // The next start, with room again: the alarm is stored first, and its file goes.
        let reopened = OutboxService(outbox: try Outbox(path: path), keepDeliveredMilliseconds: Milliseconds.day, logger: lines.logger)
        await reopened.storePendingLossReport(stateDirectory: directory)
        let stored = try #require(try reopened.outbox.reports(after: Int64(filled), limit: 10).reports.last)
        #expect(stored.report.kind == "outboxReportsLost")
        #expect(stored.report.priority == .alarm)
        let payload = try JSONSerialization.jsonObject(with: Data(stored.report.payload.utf8)) as! [String: Any]
        #expect(payload["alarms"] as? Int == 3 && payload["routine"] as? Int == 197)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/\(OutboxService.pendingLossFileName)"))
    }
}
