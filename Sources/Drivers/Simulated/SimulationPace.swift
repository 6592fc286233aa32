// Simulated time that runs by itself: the twins of `--board sim` live on a scenario's clock,
// which runs `speed` simulated seconds per wall second, so a 72-hour storm plays in a minute.
import Glibc

/// The clock of a running simulation. Simulated nanoseconds are counted from the Unix epoch (a
/// scenario's own times), so the GPIO twin stamps an edge with the box time it stands for.
/// Immutable after creation, hence `Sendable`: every thread reads the same pace.
public final class SimulationPace: Sendable {
    /// A pace faster than this would turn one wall nanosecond into more than a simulated second.
    public static let speedMax = 1_000_000.0

    public let startNanoseconds: Int64
    public let speed: Double
    private let wallStartNanoseconds: Int64

    public init(startNanoseconds: Int64, speed: Double) {
        precondition(speed > 0 && speed <= Self.speedMax, "a simulation runs forward, at most \(Self.speedMax)× (the command checks --speed)")
        self.startNanoseconds = startNanoseconds
        self.speed = speed
        wallStartNanoseconds = SystemMonotonicClock.nowNanoseconds()
    }

    /// Now, in simulated nanoseconds since the Unix epoch.
    public func nowNanoseconds() -> Int64 {
        let elapsed = Double(SystemMonotonicClock.nowNanoseconds() - wallStartNanoseconds) * speed
        return startNanoseconds + Int64(elapsed)
    }

    /// How long `simulatedNanoseconds` of simulated time take on the wall (rounded up; never negative).
    public func wallNanoseconds(forSimulated simulatedNanoseconds: Int64) -> Int64 {
        simulatedNanoseconds <= 0 ? 0 : Int64((Double(simulatedNanoseconds) / speed).rounded(.up))
    }

    /// How much simulated time `wallNanoseconds` of wall time are.
    public func simulatedNanoseconds(forWall wallNanoseconds: Int64) -> Int64 {
        wallNanoseconds <= 0 ? 0 : Int64(Double(wallNanoseconds) * speed)
    }

    /// Blocks the calling thread until simulated time reaches `target`.
    public func sleep(untilNanoseconds target: Int64) {
        while true {
            let remaining = target - nowNanoseconds()
            if remaining <= 0 { return }
            let wall = max(wallNanoseconds(forSimulated: remaining), 1_000)
            var request = timespec(tv_sec: Int(wall / 1_000_000_000), tv_nsec: Int(wall % 1_000_000_000))
            _ = nanosleep(&request, nil)
        }
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
