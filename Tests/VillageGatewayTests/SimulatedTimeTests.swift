// Issue 18: the box's time on --board sim is injectable for the push too. A backoff waits in the
// scenario's time (an hour's rest at 100000x is a blink), and --real-time-after-scenario turns
// the pace to 1x at the scenario's end so the link's return is watched as it happens.
import Drivers
import Testing
@testable import VillageGateway
import WarningLogic

@Suite struct SimulatedTimeTests {
    static let start: Int64 = 1_717_171_200_000 * 1_000_000

    @Test func anHoursRestInScenarioTimeEndsWhenTheScenarioClockHasPassedIt() async {
        let clock = ScenarioClock(pace: SimulationPace(startNanoseconds: Self.start, speed: 100_000), barrier: nil)
        let before = clock.now()
        await clock.sleep(milliseconds: Milliseconds.hour)
        #expect(clock.now().milliseconds(since: before) >= Milliseconds.hour)
    }

    @Test func pastTheSwitchTheScenarioClockRunsWithTheWall() async {
        // The switch at the start: real time at once, although the speed asked for is 100000x.
        let pace = SimulationPace(startNanoseconds: Self.start, speed: 100_000, realTimeFromNanoseconds: Self.start)
        let clock = ScenarioClock(pace: pace, barrier: nil)
        #expect(pace.currentSpeed == 1)
        let wallBefore = monotonicMilliseconds()
        let boxBefore = clock.now()
        try? await Task.sleep(for: .milliseconds(20))
        let boxElapsed = clock.now().milliseconds(since: boxBefore)
        let wallElapsed = monotonicMilliseconds() - wallBefore
        #expect(boxElapsed >= 1 && boxElapsed <= wallElapsed + 1, "box \(boxElapsed) ms, wall \(wallElapsed) ms")
        // A wait in scenario time is now a wait in wall time.
        #expect(clock.wallMillisecondsUntil(clock.now().adding(milliseconds: 5_000)) >= 4_999)
    }

    @Test func beforeTheSwitchTheSpeedHolds() {
        let pace = SimulationPace(startNanoseconds: Self.start, speed: 1_000, realTimeFromNanoseconds: Self.start + 365 * 86_400 * 1_000_000_000)
        #expect(pace.currentSpeed == 1_000)
        #expect(pace.wallNanoseconds(forClockNanoseconds: 1_000_000_000) == 1_000_000)
    }
}
