// The rain gauge and the buttons as runtime inputs: a dedicated thread waits on each debounced
// GPIO line and hands its events to the engine's queue.
import Foundation
import Drivers
import Logging
import WarningLogic

/// Why an input's `run` ended other than by cancellation, in words a technician can act on.
struct HardwareInputError: Error, CustomStringConvertible, Equatable {
    var description: String
}

/// Shared by the GPIO inputs: a driver object may be waited on by one thread only, so `run`
/// may be called once.
final class RunOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var ran = false

    func claim(_ what: String) throws(HardwareInputError) {
        lock.lock()
        defer { lock.unlock() }
        guard !ran else { throw HardwareInputError(description: "\(what) is already running; an input runs once") }
        ran = true
    }
}

/// How long one GPIO wait may block before the thread checks whether it was cancelled: the
/// bound on how late a cancelled input notices.
let gpioWaitSliceMilliseconds = 250

/// A tipping-bucket rain gauge: one tip per debounced activation of the reed switch. Tips that
/// arrive together (in one wait, or while the engine's queue was full) become one `.tips` event
/// with their count; nothing is ever dropped. Events are stamped with the gateway clock when
/// they are handed to the engine (the kernel's monotonic timestamps are used for debouncing and
/// ordering only, since they do not say what time of day it is).
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
    private let countersLock = NSLock()
    private var countersValue = Counters()

    init(sensorId: String, input: any GPIOInput, logger: Logger = Logger(label: "village-gateway.rain-gauge")) {
        self.sensorId = sensorId
        self.input = input
        self.logger = logger
        inputDescription = "rain gauge \(sensorId) on \(input.lineDescription)"
    }

    var counters: Counters {
        countersLock.lock()
        defer { countersLock.unlock() }
        return countersValue
    }

    func statusCounters() -> [InputCounter] {
        let now = counters
        return [
            InputCounter(name: "tips counted", value: now.tipsCounted),
            InputCounter(name: "tips submitted", value: now.tipsSubmitted),
            InputCounter(name: "rejected edges", value: now.rejectedEdges),
        ]
    }

    private func update(_ change: (inout Counters) -> Void) {
        countersLock.lock()
        change(&countersValue)
        countersLock.unlock()
    }

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        try runOnce.claim(inputDescription)
        // One pending item at most (tips merge), so the capacity only matters in principle.
        let queue = ThreadToAsyncEventQueue(capacity: 1)
        let failure = ThreadFailure()
        startDedicatedThread(name: "rain-\(sensorId)") { [self] in
            waitForTips(queue: queue, failure: failure)
        }
        while let kind = await queue.next() {
            await sink.submit(Event(time: clock.now(), kind: kind))
            if case .tips(_, let count) = kind { update { $0.tipsSubmitted += count } }
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
                let changes = try input.waitForEvents(timeoutMilliseconds: gpioWaitSliceMilliseconds)
                let tips = changes.filter { $0.kind == .activated }.count
                let rejected = input.rejectedEdgeCount
                update {
                    $0.tipsCounted += tips
                    $0.rejectedEdges = rejected
                }
                if tips > 0 { queue.put(.tips(sensorId: sensorId, count: tips)) }
            } catch {
                logger.critical("rain gauge line failed", metadata: ["sensor": "\(sensorId)", "error": "\(error)"])
                failure.record(error.description)
                return
            }
        }
    }
}

/// The error a dedicated thread ended with, read by the async side after the thread finished.
final class ThreadFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?

    func record(_ text: String) {
        lock.lock()
        message = message ?? text
        lock.unlock()
    }

    var error: String? {
        lock.lock()
        defer { lock.unlock() }
        return message
    }
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

    init(role: Role, input: any GPIOInput, logger: Logger = Logger(label: "village-gateway.button")) {
        self.role = role
        self.input = input
        self.logger = logger
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
        while let kind = await queue.next() {
            logger.info("button pressed", metadata: ["input": "\(inputDescription)", "event": "\(kind)"])
            await sink.submit(Event(time: clock.now(), kind: kind))
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
                for change in try input.waitForEvents(timeoutMilliseconds: gpioWaitSliceMilliseconds) {
                    if let kind = Self.meaning(of: change, role: role, pressedAtNanoseconds: &pressedAt) {
                        guard queue.put(kind) else { return }
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
