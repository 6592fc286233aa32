// The one time seam (issue 13 part 4): components wait on the clock they are given, never on the
// wall behind its back; and the stop's budgets: the safe state once, inside systemd's timeout.
import Drivers
import Foundation
import Logging
import Synchronization
import Testing
import TimeSeam
@testable import VillageGateway
import WarningLogic

// A component that waited on the wall behind a stepped clock's back would never see that clock
// reach its deadline: the time limit turns that hang into a failure.
@Suite(.timeLimit(.minutes(1))) struct TimeSeamTests {
    /// A stepped clock's waits move it to the deadline at once; a paced one's do not run ahead.
    @Test func aSteppedClocksWaitsMoveItToTheDeadlineAndNeverBack() async {
        let clock = SimulatedClock(startNanoseconds: 5_000_000)
        await clock.sleep(milliseconds: 1_000)
        #expect(clock.nanoseconds == 1_005_000_000)
        clock.sleepBlocking(untilNanoseconds: 2_000_000)
        #expect(clock.nanoseconds == 1_005_000_000)
        clock.sleepBlocking(milliseconds: 250)
        #expect(clock.nanoseconds == 1_255_000_000)
    }

    /// The outputs' wait for the relay and voice workers to confirm the safe state is measured on
    /// the clock the outputs were given. Here the workers have stopped (as a stuck thread would
    /// not answer), so the wait runs its whole budget out: on the stepped clock, which therefore
    /// stands at exactly the budget, in no wall time at all. A poll that slept on the wall would
    /// leave the stepped clock at 0 (and take a real second).
    @Test func anUnconfirmedSafeStateRunsItsBudgetOutOnTheOutputsClockNotOnTheWall() async throws {
        let clock = SimulatedClock()
        let board = try SimulatedBoardHardware(
            sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 60_000, driving: .manual, safeStateClock: clock)
        await board.outputs.perform([.setSiren(.continuous, exercise: false)], at: Timestamp(millisecondsSinceUnixEpoch: 0))
        #expect(await board.outputs.snapshot().sirenOn)
        board.outputs.shutdown()
        await board.outputs.enterSafeState()
        #expect(clock.nowMilliseconds() == HardwareOutputs.safeStateConfirmMillisecondsMax)
    }

    /// A confirmed safe state costs the clock nothing: the manual workers confirm at once.
    @Test func aConfirmedSafeStateDoesNotWait() async throws {
        let clock = SimulatedClock()
        let board = try SimulatedBoardHardware(
            sirenMaxOnMilliseconds: 600_000, sirenRestMilliseconds: 60_000, driving: .manual, safeStateClock: clock)
        await board.outputs.perform([.setSiren(.continuous, exercise: false)], at: Timestamp(millisecondsSinceUnixEpoch: 0))
        await board.outputs.enterSafeState()
        #expect(!(await board.outputs.snapshot().sirenOn))
        #expect(clock.nowMilliseconds() == 0)
    }

    /// The scenario's clock held by its barrier (the player has not delivered the next row) does
    /// not shorten a wait: a wait lasts its span on the twins' time from when it begins.
    @Test func aWaitOnTheScenarioClockIsNotShortenedByItsBarrier() async {
        let start: Int64 = 1_700_000_000_000
        let pace = SimulationPace(startNanoseconds: start * 1_000_000, speed: 100_000)
        let clock = ScenarioClock(pace: pace, barrier: Timestamp(millisecondsSinceUnixEpoch: start))
        // The twins run on (100000x) while the box's clock is held at the start.
        pace.sleepBlocking(untilNanoseconds: (start + 60_000) * 1_000_000)
        #expect(clock.now() == Timestamp(millisecondsSinceUnixEpoch: start))
        let before = pace.nowMilliseconds()
        await clock.sleep(milliseconds: 3_600_000)
        #expect(pace.nowMilliseconds() - before >= 3_600_000)
    }
}

/// A GatewayOutputs that counts how often it is asked for its safe state, and lets the caller in
/// between (as real outputs waiting for their workers do).
final class SafeStateCountingOutputs: GatewayOutputs {
    let safeStates = Atomic<Int>(0)
    func perform(_ actions: [Action], at time: Timestamp) async {}
    func enterSafeState() async {
        safeStates.add(1, ordering: .relaxed)
        for _ in 0..<10 { await Task.yield() }
    }
    func snapshot() async -> OutputSnapshot { .safe }
    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String? { nil }
    func endTest() async {}
}

@Suite struct RuntimeStopBudgetTests {
    /// A SIGTERM asks for the safe state on the signal and the service group asks again on its
    /// graceful shutdown (and `run` once more if the group never got that far): the outputs are
    /// told once, and `outputs.jsonl` says `safe_state` once. Before, it said it twice.
    @Test func theSafeStateIsEnteredAndRecordedOnceHoweverManyAsk() async throws {
        let directory = DaemonProcess.temporaryStateDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inner = SafeStateCountingOutputs()
        let outputs = RecordingOutputs(wrapping: inner, stateDirectory: directory, utcOffsetMinutes: 480, logger: Logger(label: "test"))
        async let signal: Void = outputs.enterSafeState()
        async let group: Void = outputs.enterSafeState()
        _ = await (signal, group)
        await outputs.enterSafeState()
        #expect(inner.safeStates.load(ordering: .relaxed) == 1)
        let text = try String(contentsOfFile: "\(directory)/\(RecordingOutputs.fileName)", encoding: .utf8)
        #expect(text.split(separator: "\n").filter { $0.contains("\"safe_state\"") }.count == 1, "\(text)")
    }

    /// The unit's stop timeout and the runtime's budgets agree: safe outputs, the graceful
    /// shutdown, the output workers' stops and the final save all fit before systemd's SIGKILL.
    @Test func theUnitsStopTimeoutHoldsTheRuntimesStopBudget() throws {
        let unit = try String(
            contentsOfFile: "\(GatewayBinary.repositoryRoot.path)/packaging/village-gateway.service", encoding: .utf8)
        let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") })
        let seconds = try #require(Int64(line.dropFirst("TimeoutStopSec=".count)))
        #expect(seconds * 1_000 == RuntimeServiceGroup.systemdStopTimeoutMilliseconds)
        let workers: Int64 = 3  // relays, voice, SMS, stopped one after the other
        let used = RunCommand.safeStateBudgetMilliseconds + RuntimeServiceGroup.gracefulShutdownMillisecondsMax
            + workers * HardwareOutputs.workerStopMillisecondsMax
        #expect(used + RuntimeServiceGroup.finalSaveMillisecondsMin <= RuntimeServiceGroup.systemdStopTimeoutMilliseconds)
    }
}
