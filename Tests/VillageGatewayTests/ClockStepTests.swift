// Issue 12 item 6: a wall-clock step in either direction bends neither the engine's time nor its
// rain windows and stale_after; the step is logged once with its size. Clocks are injected.
import Synchronization
import Testing
import TimeSeam
import WarningLogic
@testable import VillageGateway

/// A wall clock and a monotonic clock the test moves by hand.
final class HandClocks: Sendable {
    private let times = Mutex<(wall: Int64, monotonic: Int64)>((1_593_568_800_000, 5_000))

    var wall: @Sendable () -> Int64 { { self.times.withLock { $0.wall } } }
    var monotonic: @Sendable () -> Int64 { { self.times.withLock { $0.monotonic } } }

    /// Real time passing: both clocks move.
    func pass(milliseconds: Int64) { times.withLock { $0.wall += milliseconds; $0.monotonic += milliseconds } }
    /// NTP, the county or a technician setting the clock: only the wall clock moves.
    func step(milliseconds: Int64) { times.withLock { $0.wall += milliseconds } }
}

@Suite struct ClockStepTests {
    static let hour: Int64 = 3_600_000

    @Test(arguments: [2 * hour, -3 * hour])
    func theBoxsTimeRunsOnThroughAStepAndSaysSoOnceWithItsSize(_ step: Int64) {
        let clocks = HandClocks()
        let lines = LogLines()
        let clock = SteadyBoxClock(resumeTime: nil, utcOffsetMinutes: 480, logger: lines.logger, wallMilliseconds: clocks.wall, monotonicMilliseconds: clocks.monotonic)
        let start = clock.now()
        clocks.pass(milliseconds: 1_000)
        clocks.step(milliseconds: step)
        clocks.pass(milliseconds: 1_000)
        let after = clock.now()
        #expect(after.milliseconds(since: start) == 2_000, "two seconds passed, whatever the wall clock says")
        for _ in 0..<5 {
            clocks.pass(milliseconds: 500)
            let time = clock.now()
            #expect(time > after)
        }
        #expect(clock.stepsSeen == 1)
        #expect(clock.wallAheadMilliseconds == step)
        let said = lines.text.components(separatedBy: "\n").filter { $0.contains("the wall clock stepped") }
        #expect(said.count == 1, "one line per step")
        #expect(said.first?.contains(step > 0 ? "stepped forward by 2 h 0 min 0 s" : "stepped back by 3 h 0 min 0 s") == true)
    }

    @Test func smallCorrectionsAreNotSteps() {
        let clocks = HandClocks()
        let lines = LogLines()
        let clock = SteadyBoxClock(resumeTime: nil, utcOffsetMinutes: 480, logger: lines.logger, wallMilliseconds: clocks.wall, monotonicMilliseconds: clocks.monotonic)
        for _ in 0..<10 {
            clocks.pass(milliseconds: 60_000)
            clocks.step(milliseconds: 30)
            _ = clock.now()
        }
        #expect(clock.stepsSeen == 0)
        #expect(!lines.text.contains("stepped"))
    }

    @Test func aRestartWithTheWallClockBehindTheSavedStateContinuesFromTheSavedTime() {
        let clocks = HandClocks()
        let lines = LogLines()
        let saved = Timestamp(millisecondsSinceUnixEpoch: clocks.wall() + 56 * 365 * 24 * Self.hour)
        let clock = SteadyBoxClock(resumeTime: saved, utcOffsetMinutes: 480, logger: lines.logger, wallMilliseconds: clocks.wall, monotonicMilliseconds: clocks.monotonic)
        #expect(clock.now() == saved)
        #expect(lines.text.contains("behind the saved state"))
    }

    /// The engine fed as a real board feeds it: every event stamped by the box's clock. A river
    /// gauge read every 10 s (stale_after 30m) and 3 mm of rain a minute (red is 80 mm in an
    /// hour: at minute 27); the wall clock steps at minute 20. Returns the status at minute 40 and
    /// whether the river gauge was ever reported faulty.
    static func storm(step: Int64, clock makeClock: (HandClocks) -> any GatewayClock) throws -> (status: StationStatus, riverFlagged: Bool) {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
        var engine = Engine(configuration: configuration)
        let clocks = HandClocks()
        let clock = makeClock(clocks)
        var riverFlagged = false
        func handle(_ kind: Event.Kind) {
            for case .enqueueReport(let report) in engine.handle(Event(time: clock.now(), kind: kind)) {
                if case .sensorHealth("river1", true, _) = report.kind { riverFlagged = true }
            }
        }
        for second in stride(from: 0, to: 40 * 60, by: 10) {
            if second == 20 * 60 { clocks.step(milliseconds: step) }
            if second % 60 == 0 { handle(.tips(sensorId: "rain1", count: 15)) }
            handle(.reading(sensorId: "river1", value: 2.0))
            clocks.pass(milliseconds: 10_000)
        }
        handle(.tick)
        return (engine.status(), riverFlagged)
    }

    @Test(arguments: [2 * hour, -2 * hour])
    func rainWindowsAndStaleAfterSurviveAStepOnTheBoxsClock(_ step: Int64) throws {
        let (status, riverFlagged) = try Self.storm(step: step) { clocks in
            SteadyBoxClock(resumeTime: nil, utcOffsetMinutes: 480, logger: LogLines().logger, wallMilliseconds: clocks.wall, monotonicMilliseconds: clocks.monotonic)
        }
        #expect(status.level == .red, "120 mm in the last 40 minutes")
        #expect(status.causes.contains("rain-1h"))
        let rainHour = try #require(status.measures.first { $0.ruleId == "rain-1h" }?.value)
        #expect(rainHour >= 117, "every tip of the storm is in the hour: \(rainHour) mm")
        #expect(!riverFlagged, "read every 10 s: never stale")
    }

    /// What today's main did on a real board (events stamped with the wall clock itself): the
    /// forward step drops the first 20 minutes' rain out of the hour (red by rain-1h never comes)
    /// and flags the river gauge stale.
    @Test func onTheWallClockItselfAForwardStepBendsTheWindows() throws {
        let (status, riverFlagged) = try Self.storm(step: 2 * Self.hour) { clocks in WallClockForTest(wall: clocks.wall) }
        let rainHour = try #require(status.measures.first { $0.ruleId == "rain-1h" }?.value)
        #expect(rainHour < 80, "the first 20 minutes' rain fell out of the hour: \(rainHour) mm")
        #expect(!status.causes.contains("rain-1h"))
        #expect(riverFlagged)
    }
}

/// The wall clock as the box's clock: SystemClock with an injected source.
struct WallClockForTest: GatewayClock {
    var wall: @Sendable () -> Int64
    func nowNanoseconds() -> Int64 { wall() * 1_000_000 }
}
