// A decision runs to completion: a configuration committed from the shell while a decision's SMS
// is still being carried out is applied after the decision, never in its middle, and a crash at
// any moment of it (before or after the new configuration's snapshot) loses none of the SMS.
import Foundation
import Logging
import Synchronization
import Testing
import WarningLogic
@testable import VillageGateway

/// Outputs that hold any decision with an SMS until the test opens the gate: the moment an SMS
/// is on its way to the modem and the decision is not yet done.
final class GatedOutputs: GatewayOutputs {
    private struct State {
        var smsDecisionsEntered = 0
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var smsDecisionsEntered: Int { state.withLock { $0.smsDecisionsEntered } }

    func perform(_ actions: [Action], at time: Timestamp) async {
        guard actions.contains(where: { if case .sendSMS = $0 { true } else { false } }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let proceed = state.withLock { state in
                state.smsDecisionsEntered += 1
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func enterSafeState() async {}
    func snapshot() async -> OutputSnapshot { .safe }
    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String? { nil }
    func endTest() async {}
}

@Suite struct EngineOwnerReentrancyTests {
    static let time = Timestamp(millisecondsSinceUnixEpoch: 1_593_568_800_000)  // 2020-07-01T10:00+08:00

    /// Waits for `done` with a hang guard (never a timing assertion).
    static func waitUntil(_ done: () async -> Bool) async -> Bool {
        for _ in 0..<2_000 {
            if await done() { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return await done()
    }

    /// The number of the snapshot a restart would read first (0: none yet).
    static func currentSnapshotNumber(directory: String) -> UInt64 {
        let store = StateStore(directory: directory)
        if case .valid(let snapshot) = store.readSnapshot(path: store.path(StateStore.snapshotFileName)) { return snapshot.snapshotNumber }
        return 0
    }

    /// Who a restart now would send an SMS to.
    static func owedSMS(directory: String, _ configuration: EngineConfiguration) -> [String] {
        StateStore(directory: directory).recover(configuration: configuration).actionsToPerform.compactMap { action -> String? in
            if case .sendSMS(let sms) = action { return sms.contact.name }
            return nil
        }
    }

    @Test func aReconfigureWhileADecisionsSMSIsInFlightStillOwesTheSMSAcrossACrash() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-reentrancy-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outputs = GatedOutputs()
        let example = try await ExampleEngineOwner.start(directory: directory, outputs: outputs, at: Self.time)
        let (gateway, queue, owner) = (example.gateway, example.queue, example.owner)
        // The owner's fsyncs block a thread of its own, not one of the cooperative pool's.
        #expect(await owner.runsOnItsOwnThread())
        let running = Task { await owner.run() }

        // A manual red: siren, lamp, broadcast and the SMS to the village head; the SMS hangs.
        await queue.submit(Event(time: Self.time, kind: .manual(level: .red, by: "township")))
        #expect(await Self.waitUntil { outputs.smsDecisionsEntered == 1 })

        // Power fails now: the decision's snapshot is on the disk and owes the SMS.
        #expect(!Self.owedSMS(directory: directory, gateway.engine).isEmpty, "a restart would not send the decision's SMS")

        // The technician commits a configuration meanwhile. It is a message on the owner's queue,
        // handled after the decision (whose outputs are switched and whose record is written; its
        // SMS is carried out behind, in order). Its snapshot must still owe the SMS.
        let snapshotsBefore = Self.currentSnapshotNumber(directory: directory)
        let reconfigured = Mutex(false)
        let reconfigure = Task {
            await owner.reconfigure(gateway.engine)
            reconfigured.withLock { $0 = true }
        }
        #expect(await Self.waitUntil { Self.currentSnapshotNumber(directory: directory) > snapshotsBefore })
        // Power fails now. The state on disk must still owe the village head's SMS.
        let afterCrash = StateStore(directory: directory).recover(configuration: gateway.engine)
        #expect(!Self.owedSMS(directory: directory, gateway.engine).isEmpty, "a restart would not send the decision's SMS: \(afterCrash.actionsToPerform)")
        #expect(afterCrash.engine.status().level == .red)
        // The sender hears back once the configuration's own actions are carried out: after the SMS.
        #expect(!reconfigured.withLock { $0 }, "the reconfigure was answered before the earlier decision's SMS was carried out")

        outputs.open()
        await reconfigure.value
        #expect(reconfigured.withLock { $0 })
        await queue.close()
        _ = await running.value
        // Performed: a restart now owes nothing.
        #expect(StateStore(directory: directory).recover(configuration: gateway.engine).actionsToPerform.allSatisfy {
            if case .sendSMS = $0 { false } else { true }
        })
    }
}
