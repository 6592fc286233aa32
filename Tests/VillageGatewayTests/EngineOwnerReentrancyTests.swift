// A decision runs to completion: a configuration committed from the shell while a decision's
// outputs are still being carried out waits for that decision, and a crash at that moment loses
// none of the decision's SMS.
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

    @Test func aReconfigureWhileADecisionsSMSIsInFlightWaitsAndACrashThenStillSendsTheSMS() async throws {
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

        // The technician commits a configuration meanwhile. It is a message on the owner's queue:
        // it waits behind the decision instead of running in its middle.
        let reconfigured = Mutex(false)
        let reconfigure = Task {
            await owner.reconfigure(gateway.engine)
            reconfigured.withLock { $0 = true }
        }
        #expect(await Self.waitUntil { await queue.depth == 1 || reconfigured.withLock { $0 } })
        #expect(!reconfigured.withLock { $0 }, "the reconfigure ran in the middle of the decision")

        // Power fails now. The state on disk must still owe the village head's SMS.
        let afterCrash = StateStore(directory: directory).recover(configuration: gateway.engine)
        let owed = afterCrash.actionsToPerform.compactMap { action -> String? in
            if case .sendSMS(let sms) = action { return sms.contact.name }
            return nil
        }
        #expect(!owed.isEmpty, "a restart would not send the decision's SMS: \(afterCrash.actionsToPerform)")
        #expect(afterCrash.engine.status().level == .red)

        // The decision finishes; then, and only then, the configuration is applied.
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
