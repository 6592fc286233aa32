// Time for the drivers' deadlines in simulation: a hand-driven clock, or one over a running
// simulation's pace. On the board drivers read `SystemMonotonicClock` (TimeSeam); both are the
// package's one time seam, `GatewayClock`.
import Synchronization
import TimeSeam

/// Simulated time, in one of two modes.
/// - Stepped (the tests): advances only when a simulated device says time passed (a read that
///   waited for its timeout, bytes that took time on the wire), so tests never sleep and never
///   depend on how busy the machine is.
/// - Paced (`--board sim`): reads a `SimulationPace`, which runs by itself; "time passes" then
///   means waiting until the pace gets there, so a silent device really makes its reader wait
///   (at the scenario's speed). Threads each hold their own paced clock over the one pace.
///
/// A wait on a stepped clock (`sleep`, `sleepBlocking`) moves it to the deadline at once: a
/// component that waits on its clock runs at simulated time with no real waiting, and one that
/// waited on the wall instead would leave the clock where it was (the tests check that).
public final class SimulatedClock: GatewayClock {
    private let steppedNanoseconds: Mutex<Int64>
    /// Set in paced mode.
    public let pace: SimulationPace?

    public init(startNanoseconds: Int64 = 0) {
        steppedNanoseconds = Mutex(startNanoseconds)
        pace = nil
    }

    public init(pace: SimulationPace) {
        steppedNanoseconds = Mutex(0)
        self.pace = pace
    }

    public var nanoseconds: Int64 { pace?.nowNanoseconds() ?? steppedNanoseconds.withLock { $0 } }

    public func nowNanoseconds() -> Int64 { nanoseconds }

    public func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64 {
        pace?.wallNanoseconds(forClockNanoseconds: clockNanoseconds) ?? max(0, clockNanoseconds)
    }

    public func sleep(untilNanoseconds deadline: Int64) async {
        guard let pace else {
            if !Task.isCancelled { advance(toNanoseconds: deadline) }
            return
        }
        await pace.sleep(untilNanoseconds: deadline)
    }

    public func sleepBlocking(untilNanoseconds deadline: Int64) {
        guard let pace else { return advance(toNanoseconds: deadline) }
        pace.sleepBlocking(untilNanoseconds: deadline)
    }

    public func advance(milliseconds: Int) {
        precondition(milliseconds >= 0, "simulated time never runs backwards")
        advance(nanoseconds: Int64(milliseconds) * 1_000_000)
    }

    /// Time passes: a stepped clock moves on, a paced one waits until the pace gets there.
    public func advance(nanoseconds delta: Int64) {
        precondition(delta >= 0, "simulated time never runs backwards")
        if let pace {
            pace.sleepBlocking(untilNanoseconds: pace.nowNanoseconds() + delta)
        } else {
            steppedNanoseconds.withLock { $0 += delta }
        }
    }

    /// A stepped clock's wait: on to `target`, never back.
    private func advance(toNanoseconds target: Int64) {
        steppedNanoseconds.withLock { $0 = max($0, target) }
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
