// The box's clocks: the wall clock on real boards, and a scenario's (accelerated) clock in sim.
import Drivers
import Foundation
import Synchronization
import WarningLogic

/// Real boards stamp events with the wall clock (the RTC, corrected by NTP when there is a network).
struct SystemClock: GatewayClock {
    func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(millisecondsSinceUnixEpoch: Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}

/// Milliseconds of a clock that never steps (for measuring, not for stamping events).
func monotonicMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
}

func monotonicNanoseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
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

    func now() -> Timestamp {
        let free = unconstrainedNow()
        return barrier.withLock { barrier in barrier.map { min($0, free) } ?? free }
    }

    /// nil: no more rows, time runs free.
    func setBarrier(_ time: Timestamp?) {
        barrier.withLock { $0 = time }
    }

    /// A wait in scenario time: the push's backoff (up to the hour's rest) plays at the scenario's
    /// speed like the outage it answers; a week offline is seconds. Each wall slice is at least
    /// `wallSliceMillisecondsMin` (a 10 s idle poll at 60000x must not spin) and at most
    /// `wallSliceMillisecondsMax`, so a change of pace (`--real-time-after-scenario`) is followed.
    func sleep(milliseconds: Int64) async {
        await sleep(until: unconstrainedNow().adding(milliseconds: max(0, milliseconds)))
    }

    static let wallSliceMillisecondsMin: Int64 = 50
    static let wallSliceMillisecondsMax: Int64 = 1_000

    /// Returns once the unconstrained clock has reached `time`, or early when cancelled. The
    /// scenario player waits for its next row with no minimum slice (a row at 86400x is due in
    /// well under a millisecond of wall time).
    func sleep(until time: Timestamp, wallSliceMillisecondsMin: Int64 = wallSliceMillisecondsMin, wallSliceMillisecondsMax: Int64 = wallSliceMillisecondsMax) async {
        while !Task.isCancelled {
            let wall = wallMillisecondsUntil(time)
            if wall <= 0 { return }
            let slice = min(max(wall, wallSliceMillisecondsMin), wallSliceMillisecondsMax)
            try? await Task.sleep(for: .milliseconds(slice))
        }
    }

    /// Wall milliseconds until the unconstrained clock reaches `time` (0 when it has).
    func wallMillisecondsUntil(_ time: Timestamp) -> Int64 {
        let ahead = time.milliseconds(since: unconstrainedNow())
        return ahead <= 0 ? 0 : (pace.wallNanoseconds(forSimulated: ahead * 1_000_000) + 999_999) / 1_000_000
    }
}
