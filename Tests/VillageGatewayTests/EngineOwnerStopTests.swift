// A sim run's stop (`--exit-after-scenario`) never leaves behind events an input queued while the
// owner looked at the scenario's progress: the race that ended runs at level none with the
// scenario's tips still on the queue.
import Dispatch
import Foundation
import Synchronization
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct EngineOwnerStopTests {
    /// The player marks the scenario finished only once the last tips are on the queue. Here that
    /// happens between the owner's reading of the queue's depth (0) and its asking the stop
    /// condition, as it did under load: the stop must not hold on the stale depth.
    @Test func aStopWaitsForEventsQueuedJustBeforeTheScenarioEnded() async throws {
        let directory = try GroupCommitTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let time = GroupCommitTests.time
        let queue = EventQueue()
        let finished = Mutex(false)
        let condition: @Sendable (StationStatus, Int) -> String? = { status, depth in
            if !finished.withLock({ $0 }) {
                // 90 mm of rain (450 tips of 0.2 mm) reach the queue, then the scenario is over.
                let queued = DispatchSemaphore(value: 0)
                Task.detached {
                    await queue.submit(Event(time: time.adding(milliseconds: 60_000), kind: .tips(sensorId: "rain1", count: 450)))
                    queued.signal()
                }
                queued.wait()
                finished.withLock { $0 = true }
            }
            return finished.withLock({ $0 }) && depth == 0 && status.level == .none ? "the scenario is over and the level is back to none" : nil
        }
        let outputs = OrderedOutputs()
        let example = try await ExampleEngineOwner.start(directory: directory, outputs: outputs, at: time, queue: queue, stopCondition: condition)
        await queue.submit(Event(time: time, kind: .tick))
        let stopping = Task { await example.owner.run() }
        // With the tips decided the level is red, so the condition above never stops the run:
        // the queue is closed instead, as a shutdown does.
        let deadline = Date().addingTimeInterval(60)
        while example.published.report().station?.level != .red && Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        await queue.close()
        let reason = await stopping.value
        #expect(reason == "shutdown requested", "the run stopped with 450 tips still queued: \(reason)")
        #expect(example.published.report().station?.level == .red)
        #expect(outputs.sirenOn)
    }

    /// An owner that stops by itself (`--exit-after-scenario`) leaves its queue closed: an input
    /// waiting for room on the full queue (a simulated bus at 86400x fills it) is let go, so its
    /// service ends and the process exits. The queue stayed open, and runs hung for 300 s in CI's
    /// end-to-end test after the scenario was over.
    @Test(.timeLimit(.minutes(1))) func anOwnerThatStopsByItselfLetsGoOfInputsWaitingForRoom() async throws {
        let directory = try GroupCommitTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let time = GroupCommitTests.time
        let queue = EventQueue()
        let example = try await ExampleEngineOwner.start(
            directory: directory, outputs: OrderedOutputs(), at: time, queue: queue, stopCondition: { _, _ in "the scenario is over" })
        for _ in 0..<EventQueue.eventsQueuedMax { await queue.submit(Event(time: time, kind: .tick)) }
        // The owner takes one event before it stops, which makes room for one: three inputs wait.
        let waitingForRoom = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { await queue.submit(Event(time: time, kind: .tick)) } }
            }
        }
        let service = EngineOwnerService(owner: example.owner, queue: queue)
        try await service.run()
        #expect(service.reason.withLock { $0 } == "the scenario is over")
        await waitingForRoom.value  // hangs (and the time limit fails the test) when the queue stays open
        #expect(await queue.offerTick(at: time) == false, "the stopped owner's queue still takes events")
    }
}
