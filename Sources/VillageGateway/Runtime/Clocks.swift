// The box's clocks: the wall clock on real boards, and a scenario's (accelerated) clock in sim.
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

/// A scenario's clock: starts at `start`, runs `speed` scenario seconds per wall second, and
/// never passes the barrier, the time of the next scenario row not yet submitted. Without the
/// barrier a tick could be stamped after a row the input has not handed over yet, and the engine
/// would see that row's time go backwards.
final class ScenarioClock: GatewayClock {
    let start: Timestamp
    let speed: Double
    private let wallStartMilliseconds: Int64
    private let barrier: Mutex<Timestamp?>

    init(start: Timestamp, speed: Double, barrier: Timestamp?) {
        precondition(speed > 0, "the scenario speed is checked by the command")
        self.start = start
        self.speed = speed
        self.wallStartMilliseconds = monotonicMilliseconds()
        self.barrier = Mutex(barrier)
    }

    /// Where the clock would be with no barrier.
    func unconstrainedNow() -> Timestamp {
        let elapsed = Double(monotonicMilliseconds() - wallStartMilliseconds) * speed
        return start.adding(milliseconds: Int64(elapsed))
    }

    func now() -> Timestamp {
        let free = unconstrainedNow()
        return barrier.withLock { barrier in barrier.map { min($0, free) } ?? free }
    }

    /// nil: no more rows, time runs free.
    func setBarrier(_ time: Timestamp?) {
        barrier.withLock { $0 = time }
    }

    /// Wall milliseconds until the unconstrained clock reaches `time` (0 when it has).
    func wallMillisecondsUntil(_ time: Timestamp) -> Int64 {
        let ahead = time.milliseconds(since: unconstrainedNow())
        return ahead <= 0 ? 0 : Int64((Double(ahead) / speed).rounded(.up))
    }
}
