// Dedicated threads for the blocking drivers, and the bridges between them and Swift concurrency.
//
// The drivers (GPIO waits, serial reads, the modem's 60 s SMS answer) block. On a board with two
// cores, one blocked cooperative-pool thread is half the program, so every blocking call runs on
// a thread of its own that owns its driver objects; the async side only ever touches the
// lock-protected mailboxes defined here.
import Foundation
import Drivers
import TimeSeam
import WarningLogic

/// An event kind from a driver thread, with the driver's timestamp of it when it has one (the
/// kernel's CLOCK_MONOTONIC stamp of a GPIO edge; in simulation, the twin's scenario time).
struct ThreadEvent: Sendable, Equatable {
    var kind: Event.Kind
    var timestampNanoseconds: Int64?
}

/// Events a thread hands to the async side of an input, bounded. Tips merge into the pending
/// tips of the same gauge (a rainstorm never fills the queue, so the GPIO thread never waits and
/// never misses edges; the merged tips carry the newest tip's timestamp); any other event waits
/// while the queue is full, so backpressure from the engine's queue reaches the Modbus bus owner
/// instead of dropping readings.
///
/// `@unchecked Sendable`, and not a Mutex: the producing thread waits on a condition variable
/// (a Mutex cannot wait); every field is touched only with `condition` held.
final class ThreadToAsyncEventQueue: @unchecked Sendable {
    let capacity: Int
    private let condition = NSCondition()
    private var items: [ThreadEvent] = []
    private var waiter: CheckedContinuation<ThreadEvent?, Never>?
    private var producerFinished = false
    private var cancelled = false
    private var finishWaiters: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int) {
        precondition(capacity >= 1, "a queue holds at least one event")
        self.capacity = capacity
    }

    /// Whether the consumer went away (its task was cancelled): the producing thread stops.
    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Thread side. Returns false once the consumer is gone.
    @discardableResult
    func put(_ kind: Event.Kind, timestampNanoseconds: Int64? = nil) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if case .tips(let sensorId, let count) = kind, let last = items.indices.last,
           case .tips(let pendingSensorId, let pendingCount) = items[last].kind, pendingSensorId == sensorId {
            items[last] = ThreadEvent(
                kind: .tips(sensorId: sensorId, count: pendingCount + count), timestampNanoseconds: timestampNanoseconds ?? items[last].timestampNanoseconds)
            return !cancelled
        }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        let item = ThreadEvent(kind: kind, timestampNanoseconds: timestampNanoseconds)
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: item)
        } else {
            items.append(item)
        }
        return true
    }

    /// Thread side, for a producer that must never wait (the modem's owner): puts `kind` unless
    /// the queue is full or the consumer gone. Returns whether it was taken.
    func tryPut(_ kind: Event.Kind) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !cancelled, items.count < capacity else { return false }
        let item = ThreadEvent(kind: kind, timestampNanoseconds: nil)
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: item)
        } else {
            items.append(item)
        }
        return true
    }

    /// Everything waiting, taken at once without waiting: for manual driving, where no async
    /// consumer runs (the deterministic tests).
    func takeAll() -> [Event.Kind] {
        condition.lock()
        defer { condition.unlock() }
        defer { items.removeAll() }
        condition.broadcast()
        return items.map(\.kind)
    }

    /// Thread side: sleeps `clockMilliseconds` on the thread's clock (shorter on the wall in an
    /// accelerated simulation), returning early (true) when the consumer is gone. The condition
    /// waits on the wall, so the wait is the seam's conversion of what is left, in slices that
    /// re-read the clock (a change of pace is followed).
    func sleepUnlessCancelled(clockMilliseconds: Int64, clock: any GatewayClock) -> Bool {
        let deadline = clock.nowNanoseconds() + max(0, clockMilliseconds) * 1_000_000
        condition.lock()
        defer { condition.unlock() }
        while !cancelled {
            let remaining = deadline - clock.nowNanoseconds()
            if remaining <= 0 { break }
            let wall = min(max(clock.wallNanoseconds(forClockNanoseconds: remaining), ClockWaits.blockingSliceNanosecondsMin), ClockWaits.wallSliceNanosecondsMax)
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wall) / 1_000_000_000))
        }
        return cancelled
    }

    /// Thread side: nothing more will come; what is queued is still delivered.
    func finish() {
        condition.lock()
        defer { condition.unlock() }
        producerFinished = true
        for finishWaiter in finishWaiters { finishWaiter.resume() }
        finishWaiters.removeAll()
        if items.isEmpty, let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    /// Async side: returns once the producing thread has ended (after `cancel`, within its
    /// current driver call: a GPIO wait slice or one Modbus transaction), so the line or port
    /// it owned is released when the input's `run` returns and a restarted input can open it.
    func producerEnded() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            defer { condition.unlock() }
            if producerFinished {
                continuation.resume()
            } else {
                finishWaiters.append(continuation)
            }
        }
    }

    /// Async side: the next event kind (see `nextStamped`).
    func next() async -> Event.Kind? {
        await nextStamped()?.kind
    }

    /// Async side: the next event, or nil once the producer finished and everything was taken,
    /// or once the calling task is cancelled.
    func nextStamped() async -> ThreadEvent? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ThreadEvent?, Never>) in
                condition.lock()
                defer { condition.unlock() }
                if cancelled {
                    continuation.resume(returning: nil)
                } else if !items.isEmpty {
                    let item = items.removeFirst()
                    condition.broadcast()
                    continuation.resume(returning: item)
                } else if producerFinished {
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The consumer is gone: wake the producer (out of a full-queue wait or a sleep) so it stops.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        cancelled = true
        condition.broadcast()
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }

    /// Events taken from the thread but not yet handed to the consumer (tips count as their sum).
    var pendingTipCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.reduce(0) { sum, item in
            if case .tips(_, let count) = item.kind { sum + count } else { sum }
        }
    }
}

/// Starts `body` on a thread of its own (never the cooperative pool).
func startDedicatedThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = name
    thread.start()
}

/// One output's work, run by exactly one thread (or, in the deterministic tests, by hand): does
/// what is due at `nowMilliseconds` and says when it next needs to run.
protocol SteppedWorker: AnyObject {
    /// Nil: only when woken by a new command.
    func step(nowMilliseconds: Int64) -> Int64?
    /// The thread is ending: leave the hardware safe.
    func finish()
}

/// How the output workers are run: on dedicated threads against a monotonic clock (the box,
/// `--board sim`), or stepped by hand on the caller's thread (deterministic tests with a
/// `SimulatedClock`: a command is carried out at once, and `HardwareOutputs.stepManually()`
/// runs what a simulated clock advance made due).
enum OutputDriving: Sendable {
    case dedicatedThreads
    case manual
}

/// Runs one `SteppedWorker`. Threaded: wakes at the worker's next deadline or when woken, never
/// sleeping longer than `waitSliceMillisecondsMax` (the condition waits on the wall clock, so a
/// clock step can stretch one slice at most). Manual: `wake()` steps at once on the caller.
final class WorkerRunner: @unchecked Sendable {
    static let waitSliceMillisecondsMax: Int64 = 250

    let name: String
    let driving: OutputDriving
    // The worker and clock are touched only by the worker's thread (or, manual, under `condition`).
    private let worker: any SteppedWorker
    private let clock: any GatewayClock
    private let condition = NSCondition()
    private var wakeRequested = false
    private var stopRequested = false
    private var started = false
    private var finished = false
    private var nextDeadlineMilliseconds: Int64?

    init(name: String, worker: any SteppedWorker, clock: any GatewayClock, driving: OutputDriving) {
        self.name = name
        self.worker = worker
        self.clock = clock
        self.driving = driving
    }

    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard driving == .dedicatedThreads, !started else { return }
        started = true
        startDedicatedThread(name: name) { [self] in loop() }
    }

    func wake() {
        switch driving {
        case .dedicatedThreads:
            condition.lock()
            wakeRequested = true
            condition.broadcast()
            condition.unlock()
        case .manual:
            _ = stepManually()
        }
    }

    /// Manual driving: runs the worker now, by its clock; returns its next deadline.
    func stepManually() -> Int64? {
        condition.lock()
        defer { condition.unlock() }
        precondition(driving == .manual, "a threaded worker is stepped by its own thread only")
        guard !finished else { return nil }
        nextDeadlineMilliseconds = worker.step(nowMilliseconds: clock.nowMilliseconds())
        return nextDeadlineMilliseconds
    }

    /// Stops the thread (after its current driver call) and waits up to `timeoutMilliseconds`
    /// for it to leave the hardware safe. Returns false if it did not finish in time.
    @discardableResult
    func stop(timeoutMilliseconds: Int64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopRequested = true
        condition.broadcast()
        if driving == .manual || !started {
            if !finished {
                worker.finish()
                finished = true
            }
            return true
        }
        // Wall time by design: a shutdown budget (systemd's stop timeout is real time).
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMilliseconds) / 1000)
        while !finished {
            if !condition.wait(until: deadline) { break }
        }
        return finished
    }

    private func loop() {
        while true {
            condition.lock()
            if stopRequested {
                condition.unlock()
                break
            }
            wakeRequested = false
            condition.unlock()
            let next = worker.step(nowMilliseconds: clock.nowMilliseconds())
            condition.lock()
            if !stopRequested && !wakeRequested {
                // The deadline is on the worker's clock (scenario time in a simulation); the
                // condition waits on the wall, and the slice bound is a wall bound.
                let now = clock.nowMilliseconds()
                let sliceNanoseconds = Self.waitSliceMillisecondsMax * 1_000_000
                let waitNanoseconds = min(next.map { clock.wallNanoseconds(forClockNanoseconds: max(0, $0 - now) * 1_000_000) } ?? sliceNanoseconds, sliceNanoseconds)
                if waitNanoseconds > 0 {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(waitNanoseconds) / 1_000_000_000))
                }
            }
            condition.unlock()
        }
        worker.finish()
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }
}
