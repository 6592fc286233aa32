// The siren never waits for the disk: a decision's outputs are switched while the state writer
// is stalled, its SMS waits for the record, and records waiting together share one fsync.
import Foundation
import Logging
import Synchronization
import Testing
import WarningLogic
@testable import VillageGateway

/// A disk that stalls until the test lets it go: the writer thread waits in `pass()` before
/// each batch while the gate is shut.
final class StalledDisk: Sendable {
    private let shut = Mutex(true)
    private let batchesWaiting = Mutex(0)

    /// Writer thread: waits while the gate is shut.
    func pass() {
        batchesWaiting.withLock { $0 += 1 }
        while shut.withLock({ $0 }) { usleep(1_000) }
        batchesWaiting.withLock { $0 -= 1 }
    }

    var writerIsWaiting: Bool { batchesWaiting.withLock { $0 } > 0 }

    func open() { shut.withLock { $0 = false } }
}

/// Outputs that remember every action handed to them, in order, and refuse every action once
/// in their safe state for shutdown (as `RecordingOutputs` does).
final class OrderedOutputs: GatewayOutputs {
    let performed = Mutex<[Action]>([])
    private let safe = Mutex(false)

    func perform(_ actions: [Action], at time: Timestamp) async {
        guard !safe.withLock({ $0 }) else { return }
        performed.withLock { $0 += actions }
    }
    func enterSafeState() async { safe.withLock { $0 = true } }
    func snapshot() async -> OutputSnapshot { .safe }
    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String? { nil }
    func endTest() async {}

    var sirenOn: Bool { performed.withLock { $0.contains(where: EngineOwner.switchesSirenOn) } }
    var smsCount: Int { performed.withLock { $0.filter { if case .sendSMS = $0 { true } else { false } }.count } }
}

@Suite struct GroupCommitTests {
    static let time = Timestamp(millisecondsSinceUnixEpoch: 1_593_568_800_000)  // 2020-07-01T10:00+08:00

    static func temporaryDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-group-commit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func theSirenSoundsWhileTheDiskStallsAndTheSMSWaitsForTheRecord() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outputs = OrderedOutputs()
        let disk = StalledDisk()
        let example = try await ExampleEngineOwner.start(directory: directory, outputs: outputs, at: Self.time, beforeStateBatch: { disk.pass() })
        let (gateway, queue, owner) = (example.gateway, example.queue, example.owner)
        let running = Task { await owner.run() }

        // A manual red while nothing reaches the disk: the siren sounds all the same.
        await queue.submit(Event(time: Self.time, kind: .manual(level: .red, by: "township")))
        #expect(await EngineOwnerReentrancyTests.waitUntil { outputs.sirenOn })
        #expect(disk.writerIsWaiting, "the disk was meant to be stalled")
        #expect(EngineOwnerReentrancyTests.currentSnapshotNumber(directory: directory) == 0, "nothing may be on the disk yet")
        // The SMS waits for the record: a restart may send it twice, never zero times.
        #expect(outputs.smsCount == 0, "an SMS went out before its decision was recorded")

        // The disk comes back: the record is written, then the SMS goes.
        disk.open()
        #expect(await EngineOwnerReentrancyTests.waitUntil { outputs.smsCount > 0 })
        await owner.settle()
        let restarted = StateStore(directory: directory).recover(configuration: gateway.engine)
        #expect(restarted.engine.status().level == .red)
        #expect(!restarted.actionsToPerform.contains { if case .sendSMS = $0 { true } else { false } }, "carried out and marked: nothing owed")
        await queue.close()
        _ = await running.value
        await owner.finish()
    }

    @Test func anSMSStillWaitingForItsRecordAtSIGTERMIsOwedByTheFinalSnapshotNotLost() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outputs = OrderedOutputs()
        let disk = StalledDisk()
        let example = try await ExampleEngineOwner.start(directory: directory, outputs: outputs, at: Self.time, beforeStateBatch: { disk.pass() })
        let (gateway, queue, owner) = (example.gateway, example.queue, example.owner)
        let running = Task { await owner.run() }
        await queue.submit(Event(time: Self.time, kind: .manual(level: .red, by: "township")))
        #expect(await EngineOwnerReentrancyTests.waitUntil { outputs.sirenOn })

        // SIGTERM, as `run` handles it, while the SMS waits for the stalled disk.
        owner.stopCarryingOut()
        await outputs.enterSafeState()
        await queue.close()
        _ = await running.value
        let finishing = Task { await owner.finish() }
        disk.open()
        await finishing.value

        #expect(outputs.smsCount == 0, "the outputs were safe: the SMS could not go")
        #expect(!EngineOwnerReentrancyTests.owedSMS(directory: directory, gateway.engine).isEmpty, "the SMS was refused by the safe outputs and then forgotten")
        #expect(StateStore(directory: directory).recover(configuration: gateway.engine).engine.status().level == .red)
    }

    @Test func tipsWaitingTogetherShareOneFsyncAndAllReachTheJournal() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        let store = StateStore(directory: directory)
        _ = store.recover(configuration: gateway.engine)
        let disk = StalledDisk()
        let writer = StateWriter(store: store, logger: Logger(label: "test"), utcOffsetMinutes: 480, beforeBatch: { disk.pass() })
        defer { writer.close() }
        // The first write is taken alone while the disk stalls; the next 99 wait together behind it.
        writer.submit(.record(.event(sequence: 1, event: Event(time: Self.time, kind: .tips(sensorId: "rain1", count: 1))), sync: true))
        #expect(await EngineOwnerReentrancyTests.waitUntil { disk.writerIsWaiting })
        for sequence in UInt64(2)...100 {
            let event = Event(time: Self.time.adding(milliseconds: Int64(sequence) * 1_000), kind: .tips(sensorId: "rain1", count: 1))
            writer.submit(.record(.event(sequence: sequence, event: event), sync: true))
        }
        disk.open()
        await writer.flush()
        let counters = writer.currentCounters
        #expect(counters.batchedWrites == 100)
        #expect(counters.batches == 2, "the 99 tips that waited together were one batch, one fsync")
        #expect(counters.writesQueuedHighWater == 99)
        let recovered = StateStore(directory: directory).recover(configuration: gateway.engine)
        #expect(recovered.replayedEvents == 100)
        #expect(recovered.engine.status().sensors.first { $0.id == "rain1" }?.tipsTotal == 100)
    }

    @Test func onlyTheLastSnapshotOfABatchIsWrittenAndItOwesWhatTheSkippedOneOwed() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        let store = StateStore(directory: directory)
        let recovery = store.recover(configuration: gateway.engine)
        let disk = StalledDisk()
        let writer = StateWriter(store: store, logger: Logger(label: "test"), utcOffsetMinutes: 480, beforeBatch: { disk.pass() })
        defer { writer.close() }
        writer.submit(.record(.event(sequence: 1, event: Event(time: Self.time, kind: .tips(sensorId: "rain1", count: 1))), sync: true))
        #expect(await EngineOwnerReentrancyTests.waitUntil { disk.writerIsWaiting })
        let sms = Action.sendSMS(SMS(contact: Contact(name: "王建国", phone: "+8613800000001", order: 1), text: "红色预警", exercise: false))
        func snapshot(_ number: UInt64, owing actions: [Action]) -> Snapshot {
            Snapshot(
                formatVersion: Snapshot.currentFormatVersion, snapshotNumber: number, sequence: 1, state: recovery.engine.state,
                eventsAtLastTime: [], pendingActions: actions)
        }
        writer.submit(.snapshot(snapshot(1, owing: [sms]), engineTime: Self.time))
        writer.submit(.snapshot(snapshot(2, owing: [sms, .setSiren(.continuous, exercise: false)]), engineTime: Self.time))
        disk.open()
        await writer.flush()
        #expect(writer.currentCounters.snapshotsWritten == 1)
        #expect(EngineOwnerReentrancyTests.currentSnapshotNumber(directory: directory) == 2)
        let restarted = StateStore(directory: directory).recover(configuration: gateway.engine)
        #expect(restarted.actionsToPerform.contains(sms))
    }
}
