// Time for deadlines: the real monotonic clock on the board, a hand-driven one in simulation.
import Glibc

/// A clock that never jumps backwards (NTP or the technician setting the date must not stretch
/// or cut a modem timeout). Drivers measure deadlines with it and nothing else.
public protocol MonotonicClock: AnyObject {
    /// Milliseconds since an arbitrary fixed point; only differences mean anything.
    func nowMilliseconds() -> Int64
    /// How long a wait of `clockNanoseconds` on this clock lasts on the wall: the same on the
    /// board; shorter for a simulation that runs faster than real time. Workers that sleep on a
    /// wall-clock condition convert with it, and cap their slices in wall time.
    func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64
}

extension MonotonicClock {
    public func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64 { max(0, clockNanoseconds) }
}

/// CLOCK_MONOTONIC: the same clock the kernel stamps GPIO events with (Linux ≥ 5.7).
public final class SystemMonotonicClock: MonotonicClock {
    public init() {}

    public func nowMilliseconds() -> Int64 {
        Self.nowNanoseconds() / 1_000_000
    }

    public static func nowNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

/// Simulated time, in one of two modes.
/// - Stepped (the tests): advances only when a simulated device says time passed (a read that
///   waited for its timeout, bytes that took time on the wire), so tests never sleep and never
///   depend on how busy the machine is.
/// - Paced (`--board sim`): reads a `SimulationPace`, which runs by itself; "time passes" then
///   means waiting until the pace gets there, so a silent device really makes its reader wait
///   (at the scenario's speed). Threads each hold their own paced clock over the one pace.
public final class SimulatedClock: MonotonicClock {
    private var steppedNanoseconds: Int64
    /// Set in paced mode.
    public let pace: SimulationPace?

    public init(startNanoseconds: Int64 = 0) {
        steppedNanoseconds = startNanoseconds
        pace = nil
    }

    public init(pace: SimulationPace) {
        steppedNanoseconds = 0
        self.pace = pace
    }

    public var nanoseconds: Int64 { pace?.nowNanoseconds() ?? steppedNanoseconds }

    public func nowMilliseconds() -> Int64 { nanoseconds / 1_000_000 }

    public func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64 {
        pace?.wallNanoseconds(forSimulated: clockNanoseconds) ?? max(0, clockNanoseconds)
    }

    public func advance(milliseconds: Int) {
        precondition(milliseconds >= 0, "simulated time never runs backwards")
        advance(nanoseconds: Int64(milliseconds) * 1_000_000)
    }

    public func advance(nanoseconds delta: Int64) {
        precondition(delta >= 0, "simulated time never runs backwards")
        if let pace {
            pace.sleep(untilNanoseconds: pace.nowNanoseconds() + delta)
        } else {
            steppedNanoseconds += delta
        }
    }
}

/// A small deterministic generator (SplitMix64) so simulated bounce, noise and fuzzing replay
/// bit for bit from a seed on every machine.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
