// How a replay's actions read: aligned text for a county engineer, JSON lines for tools.
import WarningLogic

enum TimelineFormat: String, CaseIterable, Sendable {
    case text
    case json
}

struct TimelineWriter {
    var format: TimelineFormat
    var utcOffsetMinutes: Int

    func time(_ time: Timestamp) -> String { ISO8601.format(time, utcOffsetMinutes: utcOffsetMinutes) }

    /// One line for an action, or nil for actions the format leaves out (in text, the report of a
    /// level change repeats the LEVEL line above it).
    func line(for timed: SimulationResult.TimedAction) -> String? {
        switch format {
        case .text: textLine(timed)
        case .json: jsonLine(timed)
        }
    }

    private func textLine(_ timed: SimulationResult.TimedAction) -> String? {
        let when = time(timed.time)
        func row(_ tag: String, _ text: String, exercise: Bool) -> String {
            let padded = tag.paddedRight(to: 7)
            return "\(when)  \(padded)\(exercise ? "[drill] " : "")\(text)"
        }
        switch timed.action {
        case .levelChanged(let change):
            let causes = change.causes.isEmpty ? "" : "  (\(change.causes.joined(separator: ", ")))"
            let arrow = change.to > change.from ? "▲" : "▼"
            return row("LEVEL", "\(arrow) \(change.from.name) → \(change.to.name)\(causes)", exercise: change.exercise)
        case .setSiren(let pattern, let exercise):
            return row("SIREN", pattern.description, exercise: exercise)
        case .setLamp(let lamp, let exercise):
            return row("LAMP", lamp.map { "\($0.rawValue) on" } ?? "all off", exercise: exercise)
        case .broadcast(let message, let exercise):
            return row("SPEAK", "“\(message)”", exercise: exercise)
        case .sendSMS(let sms):
            return row("SMS", "to \(sms.contact.name) \(sms.contact.phone): “\(sms.text)”", exercise: sms.exercise)
        case .call(let call):
            return row("CALL", "ring \(call.contact.name) \(call.contact.phone) for \(call.ringMilliseconds / 1000) s", exercise: call.exercise)
        case .enqueueReport(let report):
            if case .levelChanged = report.kind { return nil }
            return row("REPORT", Self.describe(report.kind, utcOffsetMinutes: utcOffsetMinutes), exercise: report.exercise)
        }
    }

    static func describe(_ kind: Report.Kind, utcOffsetMinutes: Int) -> String {
        switch kind {
        case .levelChanged(let from, let to, let causes):
            return "level \(from.name) → \(to.name) (\(causes.joined(separator: ", ")))"
        case .sensorHealth(let sensorId, let faulty, let reason):
            return faulty ? "sensor \(sensorId) FAULTY: \(reason)" : "sensor \(sensorId) recovered: \(reason)"
        case .acknowledgementRequested(let level, let contacts, let deadline):
            return "叫应 \(level.name): waiting for \(contacts.joined(separator: ", ")) to answer by "
                + ISO8601.format(deadline, utcOffsetMinutes: utcOffsetMinutes)
        case .acknowledged(let level, let by, _, let channel, let seconds):
            var how: [String] = []
            if let channel { how.append("by \(channel.rawValue)") }
            if let seconds { how.append("\(seconds) s after the warning") }
            return "叫应 \(level.name) answered by \(by)" + (how.isEmpty ? "" : " (\(how.joined(separator: ", ")))")
        case .escalated(let level, let step, let contacts, let called):
            var parts: [String] = []
            if !contacts.isEmpty { parts.append("SMS to \(contacts.joined(separator: ", "))") }
            if let called, !called.isEmpty { parts.append("ringing \(called.joined(separator: ", "))") }
            return "叫应 \(level.name) unanswered: escalation \(step): \(parts.joined(separator: "; "))"
        case .acknowledgementUnanswered(let level, let unanswered):
            guard let unanswered, !unanswered.isEmpty else { return "叫应 \(level.name): nobody answered; escalations exhausted" }
            return "叫应 \(level.name): never answered: \(unanswered.joined(separator: ", "))"
        case .callEnded(_, let contact, let reached, let detail):
            return reached ? "call to \(contact): picked up (reached, not an answer unless a key is pressed): \(detail)" : "call to \(contact): not reached: \(detail)"
        case .answerNotTaken(let phone, let channel, let reason):
            return "\(channel.rawValue) from \(phone) not taken as an answer: \(reason)"
        case .latchCleared(let level, let by):
            return "latched \(level.name) cleared by \(by)"
        case .drill(let started, let level, let by, let preemptedBy):
            if started { return "drill at \(level.name) started by \(by)" }
            if let preemptedBy { return "drill at \(level.name) ended: pre-empted by \(preemptedBy)" }
            return "drill stopped by \(by)"
        case .manualLevel(let level, let by):
            return level == .none ? "manual level withdrawn by \(by)" : "manual level \(level.name) set by \(by)"
        case .countyWarning(let id, let level, let cancelled):
            return cancelled ? "county warning \(id) cancelled" : "county warning \(id): \(level.name)"
        case .inputRejected(let reason):
            return "input rejected: \(reason)"
        }
    }

    private func jsonLine(_ timed: SimulationResult.TimedAction) -> String? {
        var object = JSONObjectWriter()
        object.add("time", string: time(timed.time))
        switch timed.action {
        case .levelChanged(let change):
            object.add("type", string: "level")
            object.add("from", string: change.from.name)
            object.add("to", string: change.to.name)
            object.add("causes", strings: change.causes)
            if change.exercise { object.add("exercise", bool: true) }
        case .setSiren(let pattern, let exercise):
            object.add("type", string: "siren")
            switch pattern {
            case .off: object.add("pattern", string: "off")
            case .continuous: object.add("pattern", string: "continuous")
            case .intermittent(let on, let off):
                object.add("pattern", string: "intermittent")
                object.add("on_milliseconds", integer: on)
                object.add("off_milliseconds", integer: off)
            }
            if exercise { object.add("exercise", bool: true) }
        case .setLamp(let lamp, let exercise):
            object.add("type", string: "lamp")
            if let lamp { object.add("lamp", string: lamp.rawValue) } else { object.addNull("lamp") }
            if exercise { object.add("exercise", bool: true) }
        case .broadcast(let message, let exercise):
            object.add("type", string: "broadcast")
            object.add("message", string: message)
            if exercise { object.add("exercise", bool: true) }
        case .sendSMS(let sms):
            object.add("type", string: "sms")
            object.add("contact", string: sms.contact.name)
            object.add("phone", string: sms.contact.phone)
            object.add("text", string: sms.text)
            if sms.exercise { object.add("exercise", bool: true) }
        case .call(let call):
            object.add("type", string: "call")
            object.add("contact", string: call.contact.name)
            object.add("phone", string: call.contact.phone)
            object.add("ring_milliseconds", integer: call.ringMilliseconds)
            if call.exercise { object.add("exercise", bool: true) }
        case .enqueueReport(let report):
            object.add("type", string: "report")
            object.add("report", string: Self.reportKindName(report.kind))
            object.add("text", string: Self.describe(report.kind, utcOffsetMinutes: utcOffsetMinutes))
            if case .acknowledged(_, let by, _, let channel, let seconds) = report.kind {
                object.add("by", string: by)
                if let channel { object.add("channel", string: channel.rawValue) }
                if let seconds { object.add("seconds_to_answer", integer: seconds) }
            }
            if report.exercise { object.add("exercise", bool: true) }
        }
        return object.text
    }

    static func reportKindName(_ kind: Report.Kind) -> String {
        switch kind {
        case .levelChanged: "level_changed"
        case .sensorHealth: "sensor_health"
        case .acknowledgementRequested: "acknowledgement_requested"
        case .acknowledged: "acknowledged"
        case .escalated: "escalated"
        case .acknowledgementUnanswered: "acknowledgement_unanswered"
        case .latchCleared: "latch_cleared"
        case .drill: "drill"
        case .manualLevel: "manual_level"
        case .countyWarning: "county_warning"
        case .inputRejected: "input_rejected"
        case .callEnded: "call_ended"
        case .answerNotTaken: "answer_not_taken"
        }
    }
}

/// One JSON object on one line, keys in the order added (Foundation's encoder would sort or
/// shuffle them; the documented order `time, type, …` is easier for people reading the stream).
struct JSONObjectWriter {
    private var members: [String] = []

    mutating func add(_ key: String, string value: String) { members.append("\(Self.quote(key)):\(Self.quote(value))") }
    mutating func add(_ key: String, integer value: Int64) { members.append("\(Self.quote(key)):\(value)") }
    mutating func add(_ key: String, bool value: Bool) { members.append("\(Self.quote(key)):\(value)") }
    mutating func addNull(_ key: String) { members.append("\(Self.quote(key)):null") }
    mutating func add(_ key: String, strings values: [String]) {
        members.append("\(Self.quote(key)):[\(values.map(Self.quote).joined(separator: ","))]")
    }

    var text: String { "{" + members.joined(separator: ",") + "}" }

    /// JSON strings (RFC 8259) take the same escapes as TOML basic strings: quotes,
    /// backslashes and control characters; Chinese text passes through as UTF-8.
    static func quote(_ text: String) -> String { tomlQuoted(text) }
}

extension String {
    /// Pads with spaces to `length` characters (never truncates).
    func paddedRight(to length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }
}

/// Folds a run of the same broadcast repeated with nothing else between into one line: a red
/// level repeats its message every few minutes for hours, and a person reading the replay needs
/// to see that it went on, not each repetition. JSON output keeps every action.
struct RepeatedBroadcastFolder {
    private var lastPrinted: (message: String, exercise: Bool)?
    private var run: (first: Timestamp, last: Timestamp, count: Int)?

    /// The lines to print now for this action (none while a run of repeats is being counted).
    mutating func lines(for timed: SimulationResult.TimedAction, writer: TimelineWriter) -> [String] {
        guard let line = writer.line(for: timed) else { return [] }
        if case .broadcast(let message, let exercise) = timed.action, let last = lastPrinted,
            last.message == message, last.exercise == exercise
        {
            if let current = run {
                run = (current.first, timed.time, current.count + 1)
            } else {
                run = (timed.time, timed.time, 1)
            }
            return []
        }
        var lines = finish(writer: writer)
        lines.append(line)
        if case .broadcast(let message, let exercise) = timed.action {
            lastPrinted = (message, exercise)
        } else {
            lastPrinted = nil
        }
        return lines
    }

    /// The summary of a pending run of repeats, if any.
    mutating func finish(writer: TimelineWriter) -> [String] {
        defer { run = nil }
        guard let run else { return [] }
        if run.count == 1 { return ["\(writer.time(run.last))  SPEAK  ↻ the same message again"] }
        return ["\(writer.time(run.last))  SPEAK  ↻ the same message \(run.count) more times since \(writer.time(run.first))"]
    }
}
