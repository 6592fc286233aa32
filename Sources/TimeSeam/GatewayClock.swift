// The one time seam of the package: what time it is, and waiting until a time, for the box, its
// drivers' threads and the county program alike (issue 13 part 4).
//
// Why one protocol in a module of its own: `Drivers` cannot import the box, yet on `--board sim`
// the box's clock (a scenario's, running `speed` times the wall) must be the clock the drivers'
// threads and the twins wait on, or the box runs two clocks that drift apart. Both import this
// module and nothing else of each other's. A clock here is three things: now; how long a span of
// its time lasts on the wall (the only thing a wait that can be woken needs, since a condition
// variable waits on the wall); and two waits built on those, an async one for tasks and a
// blocking one for the drivers' dedicated threads (a blocked thread of the cooperative pool is
// half a two-core board: `DedicatedThreads.swift`). Real clocks run one for one with the wall; a
// scenario's runs faster; a test's stepped clock jumps to the deadline instead of waiting, which
// is what lets a test prove that a component waits on its clock and not on the wall.
import Glibc

/// What time it is, and waiting until then. Real boards: `SystemClock` (stamps), the box's
/// `SteadyBoxClock` (stamps that never jump), `SystemMonotonicClock` (driver deadlines). `--board
/// sim`: a `SimulationPace` and the clocks over it. Tests: `SimulatedClock` stepped by hand, and
/// clocks that stand still and record the waits.
public protocol GatewayClock: Sendable {
    /// Now, in nanoseconds. Clocks that stamp events count from the Unix epoch; a driver's deadline
    /// clock counts from any fixed point (only differences mean anything to a deadline).
    func nowNanoseconds() -> Int64
    /// How long `clockNanoseconds` of this clock's time last on the wall at its pace now (rounded
    /// up, never negative): the same on a board, shorter in an accelerated simulation. A thread
    /// that waits on a condition variable converts its deadline with this.
    func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64
    /// Suspends the task until this clock reaches `deadline`, or returns early when the task is
    /// cancelled.
    func sleep(untilNanoseconds deadline: Int64) async
    /// Blocks the calling thread (a driver's own thread, never the cooperative pool) until this
    /// clock reaches `deadline`.
    func sleepBlocking(untilNanoseconds deadline: Int64)
}

/// The wall slices every wait on the seam is cut into.
public enum ClockWaits {
    /// The longest wall slice of a wait: a change of pace (`--real-time-after-scenario`) or a step
    /// of the wall clock is followed within it, and a cancelled task returns within it.
    public static let wallSliceNanosecondsMax: Int64 = 500_000_000
    /// The shortest wall slice of a blocking wait: a deadline a few simulated nanoseconds away at
    /// 86400x must not spin a thread.
    public static let blockingSliceNanosecondsMin: Int64 = 1_000

    /// The async wait of every clock that runs by itself: wall slices of its converted remainder,
    /// each at least `wallSliceNanosecondsMin` (a poller at 60000x must not spin) and at most
    /// `wallSliceNanosecondsMax`, until `readNow` reaches `deadline`. This and `blocking` are the
    /// only places a wait on the seam touches the wall.
    public static func sleep(
        on clock: some GatewayClock, untilNanoseconds deadline: Int64, readNow: () -> Int64,
        wallSliceNanosecondsMin: Int64 = 0, wallSliceNanosecondsMax: Int64 = wallSliceNanosecondsMax
    ) async {
        while !Task.isCancelled {
            let remaining = deadline - readNow()
            if remaining <= 0 { return }
            let wall = min(max(clock.wallNanoseconds(forClockNanoseconds: remaining), wallSliceNanosecondsMin, 1), wallSliceNanosecondsMax)
            try? await Task.sleep(nanoseconds: UInt64(wall))
        }
    }

    /// The blocking wait of every clock that runs by itself (see `sleep`).
    public static func blocking(on clock: some GatewayClock, untilNanoseconds deadline: Int64, readNow: () -> Int64) {
        while true {
            let remaining = deadline - readNow()
            if remaining <= 0 { return }
            let wall = min(max(clock.wallNanoseconds(forClockNanoseconds: remaining), blockingSliceNanosecondsMin), wallSliceNanosecondsMax)
            var request = timespec(tv_sec: Int(wall / 1_000_000_000), tv_nsec: Int(wall % 1_000_000_000))
            _ = nanosleep(&request, nil)
        }
    }
}

extension GatewayClock {
    /// A clock that runs with the wall.
    public func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64 { max(0, clockNanoseconds) }

    public func sleep(untilNanoseconds deadline: Int64) async {
        await ClockWaits.sleep(on: self, untilNanoseconds: deadline, readNow: nowNanoseconds)
    }

    public func sleepBlocking(untilNanoseconds deadline: Int64) {
        ClockWaits.blocking(on: self, untilNanoseconds: deadline, readNow: nowNanoseconds)
    }

    public func nowMilliseconds() -> Int64 { nowNanoseconds() / 1_000_000 }

    /// Returns after `milliseconds` of this clock's time, or early when the task is cancelled.
    public func sleep(milliseconds: Int64) async {
        await sleep(untilNanoseconds: nowNanoseconds() + max(0, milliseconds) * 1_000_000)
    }

    /// Blocks the thread for `milliseconds` of this clock's time.
    public func sleepBlocking(milliseconds: Int64) {
        sleepBlocking(untilNanoseconds: nowNanoseconds() + max(0, milliseconds) * 1_000_000)
    }
}

/// The wall clock (CLOCK_REALTIME): what real boards and the county program stamp events and
/// sign requests with (the RTC, corrected by NTP when there is a network). It can step; deadlines
/// are measured on `SystemMonotonicClock`.
public struct SystemClock: GatewayClock {
    public init() {}

    public func nowNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Measured on the monotonic clock from the moment it begins: a step of the wall clock
    /// neither ends a wait early nor holds it for the size of the step.
    public func sleep(untilNanoseconds deadline: Int64) async {
        let monotonic = SystemMonotonicClock()
        await monotonic.sleep(untilNanoseconds: monotonic.nowNanoseconds() + (deadline - nowNanoseconds()))
    }

    public func sleepBlocking(untilNanoseconds deadline: Int64) {
        let monotonic = SystemMonotonicClock()
        monotonic.sleepBlocking(untilNanoseconds: monotonic.nowNanoseconds() + (deadline - nowNanoseconds()))
    }
}

/// CLOCK_MONOTONIC: never jumps (NTP or the technician setting the date must not stretch or cut
/// a modem timeout), and the clock the kernel stamps GPIO events with (Linux ≥ 5.7).
public struct SystemMonotonicClock: GatewayClock {
    public init() {}

    public func nowNanoseconds() -> Int64 { Self.nowNanoseconds() }

    public static func nowNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
