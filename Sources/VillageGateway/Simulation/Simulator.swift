// Replays a scenario through the same Engine the daemon runs, as fast as the CPU allows.
import WarningLogic

/// What one replay produced: every action with its time, and sampled status for charts.
struct SimulationResult: Sendable {
    struct TimedAction: Sendable, Equatable {
        var time: Timestamp
        var action: Action
    }

    var actions: [TimedAction]
    var samples: [StationStatus]
    var finalStatus: StationStatus
    var firstTime: Timestamp
    var lastTime: Timestamp
    /// Why the clock stopped after the last row.
    var endReason: String
}

struct Simulator {
    let configuration: EngineConfiguration
    /// How often status is sampled for the chart (and time ticks the engine in quiet stretches,
    /// which also drives the daily antecedent-rainfall update).
    var sampleIntervalMilliseconds: Int64 = 5 * Milliseconds.minute
    /// After the last row the clock runs on until everything has cleared, but never longer than
    /// this: a latched level waits for a person, and a replay must end.
    var tailMillisecondsMax: Int64 = 7 * Milliseconds.day
    /// Keep samples for a chart? A benchmark or a text-only replay need not pay for them.
    var keepsSamples = true

    /// Replays `events` (in time order); `onAction` sees each action as it happens, so long
    /// replays print as they go. Stops at `until` when given.
    func run(
        events: [Event],
        until: Timestamp? = nil,
        onAction: (SimulationResult.TimedAction) -> Void = { _ in }
    ) -> SimulationResult {
        var engine = Engine(configuration: configuration)
        var actions: [SimulationResult.TimedAction] = []
        var samples: [StationStatus] = []
        let firstTime = events.first?.time ?? until ?? Timestamp(millisecondsSinceUnixEpoch: 0)
        var now = firstTime
        var nextSample = firstTime

        func deliver(_ event: Event) {
            now = event.time
            for action in engine.handle(event) {
                let timed = SimulationResult.TimedAction(time: event.time, action: action)
                actions.append(timed)
                onAction(timed)
            }
        }
        /// Advances the clock to `target`: ticks at every instant the engine says something is due
        /// and at every sample instant, so lowering and escalation happen at their exact times.
        func advance(to target: Timestamp) {
            while true {
                var next = nextSample
                if let wakeup = engine.nextWakeup(), wakeup < next { next = wakeup }
                guard next <= target else { break }
                // The engine promises wake-ups after the last event; a sample may fall on it.
                precondition(
                    next > now || next == nextSample,
                    "Engine.nextWakeup() returned \(next), not after the last event at \(now)")
                deliver(Event(time: next, kind: .tick))
                if next == nextSample {
                    if keepsSamples { samples.append(engine.status()) }
                    nextSample = nextSample.adding(milliseconds: sampleIntervalMilliseconds)
                }
            }
        }

        for event in events {
            if let until, event.time > until { break }
            advance(to: event.time)
            deliver(event)
        }

        // The tail: let time pass with no input until the level is none and nothing is pending.
        let tailEnd = until ?? now.adding(milliseconds: tailMillisecondsMax)
        var endReason = until == nil ? "" : "reached --until"
        if until == nil {
            while true {
                let status = engine.status()
                if Self.isSettled(status) {
                    endReason = "the level is back to none with no timer pending"
                    break
                }
                guard let wakeup = engine.nextWakeup() else {
                    endReason = Self.waitingReason(status)
                    break
                }
                guard wakeup <= tailEnd else {
                    endReason = "stopped \(tailMillisecondsMax / Milliseconds.day) days after the last row; " + Self.waitingReason(status)
                    break
                }
                advance(to: wakeup)
            }
        } else {
            advance(to: tailEnd)
        }
        if keepsSamples { samples.append(engine.status()) }
        return SimulationResult(
            actions: actions, samples: samples, finalStatus: engine.status(),
            firstTime: firstTime, lastTime: engine.status().time, endReason: endReason)
    }

    static func isSettled(_ status: StationStatus) -> Bool {
        status.level == .none && status.outputLevel == .none && status.lowerAt == nil
            && status.acknowledgementDeadline == nil && status.latchedLevel == nil && status.drillLevel == nil
    }

    static func waitingReason(_ status: StationStatus) -> String {
        if let latched = status.latchedLevel {
            return "level \(latched.name) is latched and waits for a person to acknowledge and clear it"
        }
        if let drill = status.drillLevel { return "a \(drill.name) drill is still running" }
        if status.level != .none { return "level \(status.level.name) is held by \(status.causes.joined(separator: ", "))" }
        return "nothing more is pending"
    }
}
