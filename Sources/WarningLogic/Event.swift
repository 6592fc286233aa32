// What happens to the box, as the engine is told of it. Every event carries its own time.

public struct Event: Hashable, Codable, Sendable {
    public var time: Timestamp
    public var kind: Kind

    public init(time: Timestamp, kind: Kind) {
        self.time = time
        self.kind = kind
    }

    public enum Kind: Hashable, Codable, Sendable {
        /// Time passes: windows slide, clear timers, 叫应 deadlines and staleness are checked.
        case tick
        /// `count` debounced tips of a rain gauge at the event's time.
        case tips(sensorId: String, count: Int)
        /// A reading in the sensor's unit.
        case reading(sensorId: String, value: Double)
        /// A read that failed (timeout, bad CRC, slave exception); `reason` is for reports.
        case readFailure(sensorId: String, reason: String)
        /// A person raises the station to `level` by hand; `.none` withdraws the manual level.
        case manual(level: WarningLevel, by: String)
        /// The county orders a warning (identified by `id`, so it can be cancelled).
        case countyWarning(id: String, level: WarningLevel, text: String?)
        case countyCancel(id: String)
        /// Someone at the box (button, shell) or a scenario answered the 叫应 for everyone.
        /// `channel` nil: a journal written before channels were kept (read from `by`).
        case acknowledge(by: String, channel: AnswerChannel? = nil)
        /// A phone answered: an SMS reply (`text` its body), a call to the box (`text` empty) or a
        /// key pressed in the box's call (`text` the key). The engine finds the contact by number
        /// and decides whether it counts; an unknown number or an answer outside a 叫应 is
        /// reported, never taken.
        case reply(phone: String, channel: AnswerChannel, text: String)
        /// How a call the box made to a contact ended: `reached` when it was picked up.
        case callEnded(phone: String, reached: Bool, detail: String)
        /// A person clears a latched level after acknowledging it.
        case clearLatch(by: String)
        /// A drill: the outputs act as at `level`, every report and message marked exercise.
        /// Real warnings pre-empt drills: refused while a real level of yellow or above or a
        /// county warning is in force; at a real blue only with `force` (nil or false: not forced;
        /// optional so that journals written before the flag existed still read).
        case drillStart(level: WarningLevel, by: String, force: Bool? = nil)
        case drillStop(by: String)
    }
}

/// How a person answered the 叫应.
public enum AnswerChannel: String, Hashable, Codable, Sendable, CaseIterable {
    /// An SMS reply.
    case sms
    /// A call to the box's number (seen by caller id, not picked up).
    case call
    /// A key pressed while the box called them and spoke the warning.
    case keypress
    /// The acknowledge button on the box.
    case button
    /// The technician's shell.
    case shell
    /// A scenario row (`simulate`, `--board sim`).
    case scenario

    /// What an acknowledgement journaled before channels were kept most likely came from.
    static func guessed(by person: String) -> AnswerChannel {
        if person == "button" { return .button }
        if person.hasPrefix("shell") { return .shell }
        return .scenario
    }
}
