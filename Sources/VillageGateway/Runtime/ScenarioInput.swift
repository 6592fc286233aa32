// The sensors of `--board sim`: a scenario file's rows, played against the scenario clock.
import Drivers
import Synchronization
import WarningLogic

/// How far the scenario has been played; the engine owner ends an `--exit-after-scenario` run
/// once every row is in and the storm has cleared.
final class ScenarioProgress: Sendable {
    struct Counts: Sendable {
        var rowsTotal: Int
        var rowsSkippedOnResume: Int
        var rowsSubmitted: Int
        var finished: Bool
    }

    let counts: Mutex<Counts>
    /// The last row's time: the tail after it is bounded.
    let lastRowTime: Timestamp?

    init(rowsTotal: Int, rowsSkipped: Int, lastRowTime: Timestamp?) {
        counts = Mutex(Counts(rowsTotal: rowsTotal, rowsSkippedOnResume: rowsSkipped, rowsSubmitted: 0, finished: rowsSkipped == rowsTotal))
        self.lastRowTime = lastRowTime
    }

    var finished: Bool { counts.withLock { $0.finished } }
}

/// Plays the rows still to come. The world of `--board sim` lives inside the process, so after a
/// restart the rows the engine already counted are skipped: those before its last event time,
/// and, at that very instant, those it handled (`eventsAtLastTime`), one for one.
struct ScenarioInput: GatewayInput {
    let rows: [Event]
    let scenarioClock: ScenarioClock
    let progress: ScenarioProgress
    let inputDescription: String
    /// The simulated board's modem: `sms_reply` and `call_in` rows go to it (an SMS arrives, the
    /// box's number rings), so the answer takes the path a real one does, through the modem
    /// worker. nil: they go to the engine directly as the answers they are.
    var modemTwin: SimulatedModem? = nil

    /// Rows of `scenario` not yet handled by an engine that stopped at `resumeTime`.
    static func remainingRows(of scenario: Scenario, resumeTime: Timestamp?, eventsAtLastTime: [Event]) -> [Event] {
        guard let resumeTime else { return scenario.rows.map(\.event) }
        var alreadyHandled = eventsAtLastTime
        var remaining: [Event] = []
        for row in scenario.rows {
            let event = row.event
            if event.time < resumeTime { continue }
            if event.time == resumeTime, let index = alreadyHandled.firstIndex(of: event) {
                alreadyHandled.remove(at: index)
                continue
            }
            remaining.append(event)
        }
        return remaining
    }

    /// Plays a phone's answer into the modem twin; false when the row is not one (or its number
    /// cannot be put in a PDU), so it goes to the engine as it is.
    static func deliver(_ event: Event, to twin: SimulatedModem) -> Bool {
        guard case .reply(let phone, let channel, let text) = event.kind else { return false }
        switch channel {
        case .sms:
            do {
                try twin.deliverSMS(from: phone, text: text)
                return true
            } catch {
                return false
            }
        case .call:
            twin.ring(from: phone)
            return true
        case .keypress, .button, .shell, .scenario:
            return false
        }
    }

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        for (index, event) in rows.enumerated() {
            scenarioClock.setBarrier(event.time)
            while true {
                let waitMilliseconds = scenarioClock.wallMillisecondsUntil(event.time)
                if waitMilliseconds == 0 { break }
                // Sleep in slices: the wait is short at speed, and cancellation ends it promptly.
                try await Task.sleep(for: .milliseconds(min(waitMilliseconds, 500)))
            }
            try Task.checkCancellation()
            if let modemTwin, Self.deliver(event, to: modemTwin) {
                // The modem worker reads it and hands the engine the answer.
            } else {
                await sink.submit(event)
            }
            let isLast = index == rows.count - 1
            progress.counts.withLock {
                $0.rowsSubmitted += 1
                if isLast { $0.finished = true }
            }
            scenarioClock.setBarrier(isLast ? nil : rows[index + 1].time)
        }
        scenarioClock.setBarrier(nil)
        // The scenario is over; the clock runs on (the tail) while the box clears by itself.
        while true { try await Task.sleep(for: .seconds(3600)) }
    }
}
