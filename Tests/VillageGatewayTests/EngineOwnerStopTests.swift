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
}
