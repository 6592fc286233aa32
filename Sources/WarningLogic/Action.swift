// What the engine asks the world to do. The engine never does these itself.

public enum Action: Hashable, Codable, Sendable {
    /// The station level (or the drill level driving the outputs) changed.
    case levelChanged(LevelChange)
    case setSiren(SirenPattern, exercise: Bool)
    /// The lamp to light; nil turns every lamp off.
    case setLamp(LampColour?, exercise: Bool)
    /// Speak through the voice module and the village broadcast.
    case broadcast(message: String, exercise: Bool)
    case sendSMS(SMS)
    /// Ring a contact who has not answered (叫应 escalation); the outcome comes back as
    /// `Event.Kind.callEnded`.
    case call(PhoneCall)
    /// Put a report into the outbox for the county.
    case enqueueReport(Report)
}

public struct LevelChange: Hashable, Codable, Sendable {
    public var time: Timestamp
    public var from: WarningLevel
    public var to: WarningLevel
    /// Rule ids (and `manual`, `county:<id>`, `latch`, `drill`) that hold the new level.
    public var causes: [String]
    /// True when this change is a drill's, not the real station level's.
    public var exercise: Bool

    public init(time: Timestamp, from: WarningLevel, to: WarningLevel, causes: [String], exercise: Bool) {
        self.time = time
        self.from = from
        self.to = to
        self.causes = causes
        self.exercise = exercise
    }
}

public struct SMS: Hashable, Codable, Sendable {
    public var contact: Contact
    public var text: String
    public var exercise: Bool

    public init(contact: Contact, text: String, exercise: Bool) {
        self.contact = contact
        self.text = text
        self.exercise = exercise
    }
}

/// A call to a contact: ring for at most `ringMilliseconds`; a module that can speak in a call
/// says `text` and takes a key press as the answer.
public struct PhoneCall: Hashable, Codable, Sendable {
    public var contact: Contact
    public var text: String
    public var exercise: Bool
    public var ringMilliseconds: Int64

    public init(contact: Contact, text: String, exercise: Bool, ringMilliseconds: Int64) {
        self.contact = contact
        self.text = text
        self.exercise = exercise
        self.ringMilliseconds = ringMilliseconds
    }
}

/// A report for the county. The outbox numbers and stores it; the engine only says what happened.
public struct Report: Hashable, Codable, Sendable {
    public var time: Timestamp
    public var kind: Kind
    /// Drill reports are marked, so the county never mistakes a drill for an event.
    public var exercise: Bool

    public init(time: Timestamp, kind: Kind, exercise: Bool) {
        self.time = time
        self.kind = kind
        self.exercise = exercise
    }

    public enum Kind: Hashable, Codable, Sendable {
        case levelChanged(from: WarningLevel, to: WarningLevel, causes: [String])
        /// A sensor turned faulty (with why) or recovered (`faulty == false`).
        case sensorHealth(sensorId: String, faulty: Bool, reason: String)
        /// 叫应 asked `contacts` to answer for `level` by `deadline`.
        case acknowledgementRequested(level: WarningLevel, contacts: [String], deadline: Timestamp)
        /// `by` answered, through `channel`, `secondsToAnswer` after the warning asked. The two
        /// are nil only in reports stored before they were kept.
        case acknowledged(level: WarningLevel, by: String, requestedAt: Timestamp, channel: AnswerChannel? = nil, secondsToAnswer: Int64? = nil)
        /// A deadline passed with people unanswered; `step` counts escalations from 1.
        /// `contacts` were texted, `called` rung (nil in reports stored before calls).
        case escalated(level: WarningLevel, step: Int, contacts: [String], called: [String]? = nil)
        /// Escalations ran out (or the warning ended) with `unanswered` never answering (nil in
        /// reports stored before it was kept).
        case acknowledgementUnanswered(level: WarningLevel, unanswered: [String]? = nil)
        /// A call the box made to `contact`: picked up (`reached`, which is not an answer unless
        /// a key was pressed) or not, with why.
        case callEnded(level: WarningLevel?, contact: String, reached: Bool, detail: String)
        /// An SMS or call that was not taken as an answer: unknown number, no 叫应 waiting, not
        /// an answer keyword. Kept for the record (audit).
        case answerNotTaken(phone: String, channel: AnswerChannel, reason: String)
        case latchCleared(level: WarningLevel, by: String)
        /// A drill started or ended; `preemptedBy` says which real warning ended it (nil: a person
        /// stopped it). Optional so that reports stored before it existed still read.
        case drill(started: Bool, level: WarningLevel, by: String, preemptedBy: String? = nil)
        case manualLevel(level: WarningLevel, by: String)
        case countyWarning(id: String, level: WarningLevel, cancelled: Bool)
        /// The input was refused (unknown sensor, time running backwards); kept for the record.
        case inputRejected(reason: String)
    }

    /// True for reports that must never be thinned or dropped: alarms, 叫应 and health.
    public var isAlarm: Bool {
        switch kind {
        case .levelChanged, .acknowledgementRequested, .acknowledged, .escalated, .acknowledgementUnanswered,
            .latchCleared, .countyWarning, .manualLevel, .sensorHealth, .callEnded:
            true
        case .drill, .inputRejected, .answerNotTaken:
            false
        }
    }
}
