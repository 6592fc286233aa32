// Simulated time that runs by itself: the twins of `--board sim` live on a scenario's clock,
// which runs `speed` simulated seconds per wall second, so a 72-hour storm plays in a minute.
import Glibc
import TimeSeam

/// The clock of a running simulation. Simulated nanoseconds are counted from the Unix epoch (a
/// scenario's own times), so the GPIO twin stamps an edge with the box time it stands for.
/// Immutable after creation, hence `Sendable`: every thread reads the same pace. It is a clock of
/// the one seam: its waits (the defaults) convert with `wallNanoseconds(forClockNanoseconds:)`.
public final class SimulationPace: GatewayClock {
    /// A pace faster than this would turn one wall nanosecond into more than a simulated second.
    public static let speedMax = 1_000_000.0

    public let startNanoseconds: Int64
    public let speed: Double
    /// From this simulated time on the pace is real time (1×): a long outage plays in seconds and
    /// what follows it (the link's return) is watched at the wall's pace. nil: `speed` throughout.
    public let realTimeFromNanoseconds: Int64?
    private let wallStartNanoseconds: Int64

    public init(startNanoseconds: Int64, speed: Double, realTimeFromNanoseconds: Int64? = nil) {
        precondition(speed > 0 && speed <= Self.speedMax, "a simulation runs forward, at most \(Self.speedMax)× (the command checks --speed)")
        self.startNanoseconds = startNanoseconds
        self.speed = speed
        self.realTimeFromNanoseconds = realTimeFromNanoseconds.map { max($0, startNanoseconds) }
        wallStartNanoseconds = SystemMonotonicClock.nowNanoseconds()
    }

    /// Now, in simulated nanoseconds since the Unix epoch.
    public func nowNanoseconds() -> Int64 {
        let wallElapsed = SystemMonotonicClock.nowNanoseconds() - wallStartNanoseconds
        let simulated = startNanoseconds + Int64(Double(wallElapsed) * speed)
        guard let switchTime = realTimeFromNanoseconds, simulated > switchTime else { return simulated }
        // Past the switch: the wall time spent reaching it at `speed`, then one for one.
        let wallAtSwitch = Int64((Double(switchTime - startNanoseconds) / speed).rounded(.up))
        return switchTime + max(0, wallElapsed - wallAtSwitch)
    }

    /// The pace now: `speed`, or 1 once real time has begun.
    public var currentSpeed: Double {
        guard let switchTime = realTimeFromNanoseconds, nowNanoseconds() >= switchTime else { return speed }
        return 1
    }

    /// How long `clockNanoseconds` of simulated time take on the wall at the pace now (rounded
    /// up; never negative). Across the switch to real time it is too short: waits run in a loop.
    public func wallNanoseconds(forClockNanoseconds clockNanoseconds: Int64) -> Int64 {
        clockNanoseconds <= 0 ? 0 : Int64((Double(clockNanoseconds) / currentSpeed).rounded(.up))
    }

    /// How much simulated time `wallNanoseconds` of wall time are, at the pace now.
    public func simulatedNanoseconds(forWall wallNanoseconds: Int64) -> Int64 {
        wallNanoseconds <= 0 ? 0 : Int64(Double(wallNanoseconds) * currentSpeed)
    }
}

/// A mutex and a condition variable (pthread, on CLOCK_MONOTONIC) for the twins that threads
/// share in a running simulation: a driver thread waits on it, the scenario's player wakes it.
/// `@unchecked Sendable`: the pthread objects are the synchronisation, allocated once, never moved.
public final class SimulationCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// With the lock held: releases it, waits up to `wallNanoseconds` or until woken, retakes it.
    public func wait(wallNanoseconds: Int64) {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let total = Int64(deadline.tv_nsec) + max(0, wallNanoseconds)
        deadline.tv_sec += Int(total / 1_000_000_000)
        deadline.tv_nsec = Int(total % 1_000_000_000)
        _ = pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// With the lock held: wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
