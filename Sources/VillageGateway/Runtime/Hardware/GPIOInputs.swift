// The rain gauge and the buttons as runtime inputs: a dedicated thread waits on each debounced
// GPIO line and hands its events to the engine's queue.
import Drivers
import Logging
import Synchronization
import TimeSeam
import WarningLogic

/// Why an input's `run` ended other than by cancellation, in words a technician can act on.
struct HardwareInputError: Error, CustomStringConvertible, Equatable {
    var description: String
}

/// Shared by the GPIO inputs: a driver object may be waited on by one thread only, so `run`
/// may be called once.
final class RunOnce: Sendable {
    private let ran = Mutex(false)

    func claim(_ what: String) throws(HardwareInputError) {
        let already = ran.withLock { ran in
            defer { ran = true }
            return ran
        }
        guard !already else { throw HardwareInputError(description: "\(what) is already running; an input runs once") }
    }
}

/// Turns a driver's timestamp of an edge into box time. `now` is the box clock read just before:
/// on a board the edge is `CLOCK_MONOTONIC` nanoseconds and lies `monotonic now − edge` in the
/// past; in simulation the twin's clock already counts scenario time.
typealias EdgeTimeConverter = @Sendable (_ edgeNanoseconds: Int64, _ now: Timestamp) -> Timestamp

/// The board's converter: the kernel stamps GPIO edges on CLOCK_MONOTONIC (Linux ≥ 5.7).
let kernelEdgeTime: EdgeTimeConverter = { edgeNanoseconds, now in
    let ageNanoseconds = max(0, SystemMonotonicClock.nowNanoseconds() - edgeNanoseconds)
    return now.adding(milliseconds: -(ageNanoseconds / 1_000_000))
}

/// How long one GPIO wait may block before the thread checks whether it was cancelled: the
/// bound on how late a cancelled input notices.
let gpioWaitSliceMilliseconds = 250

/// A tipping-bucket rain gauge: one tip per debounced activation of the reed switch. Tips that
/// arrive together (in one wait, or while the engine's queue was full) become one `.tips` event
/// with their count; nothing is ever dropped. The event's time is the kernel's timestamp of the
/// (newest) tip's edge, turned into box time, not the moment a busy thread got to it: a loaded
/// box must not move rain into a later window.
///
/// `@unchecked Sendable`, and not a Mutex: the line (`input`, a driver object that is not
/// Sendable) belongs to the one thread `run` starts (`RunOnce` refuses a second run); the
/// counters are behind a Mutex and the rest is immutable.
final class TipCounterInput: GatewayInput, @unchecked Sendable {
    /// What `status` shows about the gauge.
    struct Counters: Equatable, Sendable {
        /// Tips seen on the line since start.
        var tipsCounted = 0
        /// Tips handed to the engine since start.
        var tipsSubmitted = 0
        /// Edges the debouncer threw away (bounce; a climbing number means a worn reed switch).
        var rejectedEdges = 0
    }

    let sensorId: String
    let inputDescription: String
    // Touched only by the input's own thread once `run` starts it.
    private let input: any GPIOInput
    private let logger: Logger
    private let runOnce = RunOnce()
    private let countersValue = Mutex(Counters())
    private let eventTime: EdgeTimeConverter
    private let waitSliceMilliseconds: Int

    /// `waitSliceMilliseconds`: one GPIO wait on the line's clock (see `gpioWaitSliceMilliseconds`).
    init(
        sensorId: String, input: any GPIOInput, eventTime: @escaping EdgeTimeConverter = kernelEdgeTime,
        waitSliceMilliseconds: Int = gpioWaitSliceMilliseconds, logger: Logger = Logger(label: "village-gateway.rain-gauge")
    ) {
        self.sensorId = sensorId
        self.input = input
        self.logger = logger
        self.eventTime = eventTime
        self.waitSliceMilliseconds = waitSliceMilliseconds
        inputDescription = "rain gauge \(sensorId) on \(input.lineDescription)"
    }

    var counters: Counters { countersValue.withLock { $0 } }

    func statusCounters() -> [InputCounter] {
        let now = counters
        return [
            InputCounter(name: "tips counted", value: now.tipsCounted),
            InputCounter(name: "tips submitted", value: now.tipsSubmitted),
            InputCounter(name: "rejected edges", value: now.rejectedEdges),
        ]
    }

    private func update(_ change: (inout Counters) -> Void) {
        countersValue.withLock { change(&$0) }
    }

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        try runOnce.claim(inputDescription)
        // One pending item at most (tips merge), so the capacity only matters in principle.
        let queue = ThreadToAsyncEventQueue(capacity: 1)
        let failure = ThreadFailure()
        startDedicatedThread(name: "rain-\(sensorId)") { [self] in
            waitForTips(queue: queue, failure: failure)
        }
        while let item = await queue.nextStamped() {
            let now = clock.now()
            let time = item.timestampNanoseconds.map { eventTime($0, now) } ?? now
            await sink.submit(Event(time: time, kind: item.kind))
            if case .tips(_, let count) = item.kind { update { $0.tipsSubmitted += count } }
        }
        queue.cancel()
        await queue.producerEnded()
        let undelivered = queue.pendingTipCount
        if undelivered > 0 {
            logger.critical("stopping with tips not handed to the engine", metadata: ["sensor": "\(sensorId)", "tips": "\(undelivered)"])
        }
        if let error = failure.error {
            throw HardwareInputError(description: "\(inputDescription) stopped: \(error); the gauge's tips are not counted until it is fixed")
        }
    }

    private func waitForTips(queue: ThreadToAsyncEventQueue, failure: ThreadFailure) {
        defer { queue.finish() }
        while !queue.isCancelled {
            do {
                let changes = try input.waitForEvents(timeoutMilliseconds: waitSliceMilliseconds)
                let activations = changes.filter { $0.kind == .activated }
                let rejected = input.rejectedEdgeCount
                update {
                    $0.tipsCounted += activations.count
                    $0.rejectedEdges = rejected
                }
                if let newest = activations.last {
                    queue.put(.tips(sensorId: sensorId, count: activations.count), timestampNanoseconds: newest.timestampNanoseconds)
                }
            } catch {
                logger.critical("rain gauge line failed", metadata: ["sensor": "\(sensorId)", "error": "\(error)"])
                failure.record(error.description)
                return
            }
        }
    }
}

/// The error a dedicated thread ended with, read by the async side after the thread finished.
final class ThreadFailure: Sendable {
    private let message = Mutex<String?>(nil)

    func record(_ text: String) {
        message.withLock { $0 = $0 ?? text }
    }

    var error: String? { message.withLock { $0 } }
}

/// A button on the box.
///
/// - acknowledge: each press answers the 叫应 (`.acknowledge(by: "button")`), at once.
/// - drillKey: a momentary key. Held for `drillHoldMillisecondsMin` (3 s) or longer and released,
///   it starts a drill at the configured level; a short press stops the drill. A drill sounds
///   the sirens of the whole village, so starting one takes a deliberate hold, while stopping is
///   always one short press. The decision needs no memory of whether a drill runs (the shell
///   or the county may have started or stopped it): a short press with no drill running is
///   rejected by the engine and logged there. Both durations are measured between the kernel's
///   timestamps of the debounced press and release, so a busy box cannot turn a short press
///   into a long one.
///
/// `@unchecked Sendable`, and not a Mutex: the line (`input`, not Sendable) belongs to the one
/// thread `run` starts (`RunOnce` refuses a second run); the rest is immutable.
final class ButtonInput: GatewayInput, @unchecked Sendable {
    static let drillHoldMillisecondsMin: Int64 = 3_000
    static let acknowledgedBy = "button"
    static let drillBy = "drill key"

    enum Role: Sendable, Equatable {
        case acknowledge
        case drillKey(level: WarningLevel)
    }

    let role: Role
    let inputDescription: String
    private let input: any GPIOInput
    private let logger: Logger
    private let runOnce = RunOnce()
    private let eventTime: EdgeTimeConverter
    private let waitSliceMilliseconds: Int

    init(
        role: Role, input: any GPIOInput, eventTime: @escaping EdgeTimeConverter = kernelEdgeTime,
        waitSliceMilliseconds: Int = gpioWaitSliceMilliseconds, logger: Logger = Logger(label: "village-gateway.button")
    ) {
        self.role = role
        self.input = input
        self.logger = logger
        self.eventTime = eventTime
        self.waitSliceMilliseconds = waitSliceMilliseconds
        switch role {
        case .acknowledge: inputDescription = "acknowledge button on \(input.lineDescription)"
        case .drillKey(let level): inputDescription = "drill key (\(level.name)) on \(input.lineDescription)"
        }
    }

    /// What a debounced change of the line means; nil: nothing. Pure, so the press rules are
    /// tested without a line. `pressedAtNanoseconds` is the press being held, if any.
    static func meaning(of change: GPIOInputEvent, role: Role, pressedAtNanoseconds: inout Int64?) -> Event.Kind? {
        switch (role, change.kind) {
        case (.acknowledge, .activated):
            return .acknowledge(by: acknowledgedBy, channel: .button)
        case (.acknowledge, .released):
            return nil
        case (.drillKey, .activated):
            pressedAtNanoseconds = change.timestampNanoseconds
            return nil
        case (.drillKey(let level), .released):
            guard let pressed = pressedAtNanoseconds else { return nil }  // held since before start
            pressedAtNanoseconds = nil
            let heldMilliseconds = (change.timestampNanoseconds - pressed) / 1_000_000
            return heldMilliseconds >= drillHoldMillisecondsMin ? .drillStart(level: level, by: drillBy) : .drillStop(by: drillBy)
        }
    }

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        try runOnce.claim(inputDescription)
        // Presses are rare and each one matters; a few may wait while the engine is busy.
        let queue = ThreadToAsyncEventQueue(capacity: Self.pendingPressesMax)
        let failure = ThreadFailure()
        startDedicatedThread(name: "button") { [self] in
            waitForPresses(queue: queue, failure: failure)
        }
        while let item = await queue.nextStamped() {
            logger.info("button pressed", metadata: ["input": "\(inputDescription)", "event": "\(item.kind)"])
            let now = clock.now()
            await sink.submit(Event(time: item.timestampNanoseconds.map { eventTime($0, now) } ?? now, kind: item.kind))
        }
        queue.cancel()
        await queue.producerEnded()
        if let error = failure.error {
            throw HardwareInputError(description: "\(inputDescription) stopped: \(error)")
        }
    }

    /// Presses waiting for the engine's queue; beyond it the button thread waits (the kernel
    /// keeps the edges meanwhile).
    static let pendingPressesMax = 8

    private func waitForPresses(queue: ThreadToAsyncEventQueue, failure: ThreadFailure) {
        defer { queue.finish() }
        var pressedAt: Int64?
        while !queue.isCancelled {
            do {
                for change in try input.waitForEvents(timeoutMilliseconds: waitSliceMilliseconds) {
                    if let kind = Self.meaning(of: change, role: role, pressedAtNanoseconds: &pressedAt) {
                        guard queue.put(kind, timestampNanoseconds: change.timestampNanoseconds) else { return }
                    }
                }
            } catch {
                logger.critical("button line failed", metadata: ["input": "\(inputDescription)", "error": "\(error)"])
                failure.record(error.description)
                return
            }
        }
    }
}
