// The box's clocks: the wall clock on real boards, and a scenario's (accelerated) clock in sim.
import Drivers
import Foundation
import Synchronization
import TimeSeam
import WarningLogic

// The wall clock (`SystemClock`) and the monotonic one (`SystemMonotonicClock`) are TimeSeam's.

/// Milliseconds of the wall's monotonic clock, for measuring what really elapsed (latencies, a
/// console's redraw, how long a twin took to answer), never for stamping events.
func monotonicMilliseconds() -> Int64 { SystemMonotonicClock.nowNanoseconds() / 1_000_000 }

func monotonicNanoseconds() -> Int64 { SystemMonotonicClock.nowNanoseconds() }

/// A clock that stands at one instant (the API fuzz harness, tests): the engine's time comes from
/// the events. A stopped clock would never reach a deadline, so its waits last their length on
/// the wall.
struct StandingClock: GatewayClock {
    var time: Timestamp

    func nowNanoseconds() -> Int64 { time.millisecondsSinceUnixEpoch * 1_000_000 }

    func sleep(untilNanoseconds deadline: Int64) async {
        let monotonic = SystemMonotonicClock()
        await monotonic.sleep(untilNanoseconds: monotonic.nowNanoseconds() + (deadline - nowNanoseconds()))
    }

    func sleepBlocking(untilNanoseconds deadline: Int64) {
        let monotonic = SystemMonotonicClock()
        monotonic.sleepBlocking(untilNanoseconds: monotonic.nowNanoseconds() + (deadline - nowNanoseconds()))
    }
}

/// A scenario's clock: the box's clock on `--board sim`. It reads the simulation's pace (the
/// twins' clock: scenario time running `speed` times real time) but never passes the barrier,
/// the time of the next scenario step not yet carried out. Without the barrier a tick could be
/// stamped after a row the player has not delivered yet, and the engine would see that row's
/// time go backwards.
final class ScenarioClock: GatewayClock {
    let pace: SimulationPace
    private let barrier: Mutex<Timestamp?>

    init(pace: SimulationPace, barrier: Timestamp?) {
        self.pace = pace
        self.barrier = Mutex(barrier)
    }

    var speed: Double { pace.speed }

    /// Where the clock would be with no barrier: the twins' time.
    func unconstrainedNow() -> Timestamp {
        Timestamp(millisecondsSinceUnixEpoch: pace.nowNanoseconds() / 1_000_000)
    }

    func nowNanoseconds() -> Int64 {
        let free = pace.nowNanoseconds()
        return barrier.withLock { barrier in barrier.map { min($0.millisecondsSinceUnixEpoch * 1_000_000, free) } ?? free }
    }

    func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64 {
        pace.wallNanoseconds(forClockNanoseconds: clockNanoseconds)
    }

    /// nil: no more rows, time runs free.
    func setBarrier(_ time: Timestamp?) {
        barrier.withLock { $0 = time }
    }

    /// A wait in scenario time: the push's backoff (up to the hour's rest) plays at the
    /// scenario's speed like the outage it answers; a week offline is seconds. It lasts the span
    /// from the box's now (held by the barrier) to `deadline`, measured on the unconstrained clock
    /// from the moment it begins, so a held box clock never shortens it. Each wall slice is at
    /// least `wallSliceMillisecondsMin` (a 10 s idle poll at 60000x must not spin) and at most
    /// `wallSliceMillisecondsMax`, so a change of pace (`--real-time-after-scenario`) is followed.
    func sleep(untilNanoseconds deadline: Int64) async {
        let free = pace.nowNanoseconds() + max(0, deadline - nowNanoseconds())
        await sleep(until: Timestamp(millisecondsSinceUnixEpoch: (free + 999_999) / 1_000_000))
    }

    func sleepBlocking(untilNanoseconds deadline: Int64) {
        pace.sleepBlocking(untilNanoseconds: pace.nowNanoseconds() + max(0, deadline - nowNanoseconds()))
    }

    static let wallSliceMillisecondsMin: Int64 = 50
    static let wallSliceMillisecondsMax: Int64 = 1_000

    /// Returns once the unconstrained clock has reached `time`, or early when cancelled. The
    /// scenario player waits for its next row with no minimum slice (a row at 86400x is due in
    /// well under a millisecond of wall time).
    func sleep(until time: Timestamp, wallSliceMillisecondsMin: Int64 = wallSliceMillisecondsMin, wallSliceMillisecondsMax: Int64 = wallSliceMillisecondsMax) async {
        await ClockWaits.sleep(
            on: self, untilNanoseconds: time.millisecondsSinceUnixEpoch * 1_000_000, readNow: pace.nowNanoseconds,
            wallSliceNanosecondsMin: wallSliceMillisecondsMin * 1_000_000, wallSliceNanosecondsMax: wallSliceMillisecondsMax * 1_000_000)
    }

    /// Wall milliseconds until the unconstrained clock reaches `time` (0 when it has).
    func wallMillisecondsUntil(_ time: Timestamp) -> Int64 {
        let ahead = time.milliseconds(since: unconstrainedNow())
        return ahead <= 0 ? 0 : (pace.wallNanoseconds(forClockNanoseconds: ahead * 1_000_000) + 999_999) / 1_000_000
    }
}
