// A station's state as the overview shows it, made from the newest report of each kind the
// county holds. Pure: the store gives the reports, the pages draw the state, the tests check it.
import Foundation
import WarningLogic

/// One person's answer to a 叫应, as the box reported it.
package struct CallAnswer: Sendable, Equatable {
    package var by: String
    /// How it came (`sms`, `call`, `keypress`, `button`, `shell`, `scenario`); nil from boxes
    /// older than issue 14.
    package var channel: String?
    /// Seconds from the request to the answer.
    package var seconds: Int64?
    package var atMilliseconds: Int64

    package init(by: String, channel: String?, seconds: Int64?, atMilliseconds: Int64) {
        self.by = by
        self.channel = channel
        self.seconds = seconds
        self.atMilliseconds = atMilliseconds
    }

    /// Someone at the box (its button, the technician's shell) or a scenario answers for
    /// everyone asked: the box then waits for nobody (the engine's `acknowledgeAll`).
    package var answersForEveryone: Bool { ["button", "shell", "scenario"].contains(channel ?? "") }
}

/// Where a station's newest 叫应 (the call for an answer after a warning) stands: every answer
/// since it was asked, and who is still waited for.
package struct CallState: Sendable, Equatable {
    package var level: WarningLevel
    package var sinceMilliseconds: Int64
    package var deadlineMilliseconds: Int64?
    /// The last escalation step reported since the request, if any.
    package var escalationStep: Int?
    /// Everyone asked: the request's contacts, then those added by escalations, in order.
    package var asked: [String]
    /// Every answer since the request, oldest first.
    package var answers: [CallAnswer]
    /// Asked and not answered; empty once everyone answered or someone at the box answered for all.
    package var waiting: [String]
    /// The box gave up chasing (its policy ran out) at this time; late answers still count.
    package var unansweredAtMilliseconds: Int64?
    /// More answers and escalations than one page reads (`DashboardReadLimits.callReportsPerStationMax`).
    package var truncated = false

    package init(
        level: WarningLevel, sinceMilliseconds: Int64, deadlineMilliseconds: Int64?, escalationStep: Int?, asked: [String], answers: [CallAnswer],
        waiting: [String], unansweredAtMilliseconds: Int64?, truncated: Bool = false
    ) {
        self.level = level
        self.sinceMilliseconds = sinceMilliseconds
        self.deadlineMilliseconds = deadlineMilliseconds
        self.escalationStep = escalationStep
        self.asked = asked
        self.answers = answers
        self.waiting = waiting
        self.unansweredAtMilliseconds = unansweredAtMilliseconds
        self.truncated = truncated
    }

    /// Someone is still waited for and the box is still chasing.
    package var isWaiting: Bool { !waiting.isEmpty && unansweredAtMilliseconds == nil }
    /// Everyone asked has answered (or someone answered for all).
    package var isComplete: Bool { waiting.isEmpty }
}

/// One sensor's health as last reported.
package struct SensorHealth: Sendable, Equatable {
    package var id: String
    package var faulty: Bool
    package var reason: String?
}

package struct StationState: Sendable, Equatable {
    package var id: String
    package var name: String
    package var level: WarningLevel
    /// When the current level began (the level change's time); nil when never changed.
    package var levelSinceMilliseconds: Int64?
    package var causes: [String]
    /// The newest 叫应; nil when none was asked.
    package var call: CallState?
    /// A drill running at the box (its level, who started it); real levels are shown apart.
    package var drill: (level: WarningLevel, by: String)?
    /// A county warning in force at the box.
    package var countyWarning: (id: String, level: WarningLevel)?
    /// The newest report's time (box clock) and the last pull that reached the box (county clock).
    package var lastReportMilliseconds: Int64?
    package var lastContactMilliseconds: Int64?
    /// How often the box makes its routine summary (its `summary_every`), when known.
    package var summaryPeriodMilliseconds: Int64?
    /// Reports the box holds that the county has not collected yet.
    package var backlog: Int64
    package var gapRanges: Int64
    package var gapReports: Int64
    package var missingRanges: Int64
    package var missingNumbers: Int64
    package var conflicts: Int64
    package var sensors: [SensorHealth]
    /// No contact for longer than the dashboard's silence limit (or never).
    package var silent: Bool

    package static func == (lhs: StationState, rhs: StationState) -> Bool {
        lhs.id == rhs.id && lhs.level == rhs.level && lhs.call == rhs.call && lhs.silent == rhs.silent
            && lhs.drill?.level == rhs.drill?.level && lhs.drill?.by == rhs.drill?.by && lhs.sensors == rhs.sensors
            && lhs.lastContactMilliseconds == rhs.lastContactMilliseconds && lhs.backlog == rhs.backlog
    }

    package var faultySensors: [SensorHealth] { sensors.filter(\.faulty) }

    /// Most severe first: level, then a call still waiting, then silent boxes, then name.
    package static func severityOrder(_ a: StationState, _ b: StationState) -> Bool {
        if a.level != b.level { return a.level > b.level }
        if a.isWaitingForAnswers != b.isWaitingForAnswers { return a.isWaitingForAnswers }
        if a.silent != b.silent { return a.silent }
        if a.name != b.name { return a.name < b.name }
        return a.id < b.id
    }
}

extension StationState {
    package var isWaitingForAnswers: Bool { call?.isWaiting ?? false }
}

package enum StationStateBuilder {
    /// - silentAfterMilliseconds: a box not reached for longer than this is flagged silent.
    /// - callReports: the answers and escalations since the newest 叫应 request, oldest first
    ///   (`DashboardStore`'s `calls`).
    package static func state(
        row: StationRow, latest: [String: StoredReport], callReports: [StoredReport], sensorHealth: [StoredReport], displayName: String?,
        nowMilliseconds: Int64, silentAfterMilliseconds: Int64
    ) -> StationState {
        var level = WarningLevel.none
        var since: Int64?
        var causes: [String] = []
        if let change = latest["level_changed"] {
            let fields = change.fields
            level = (fields["to"] as? String).flatMap(WarningLevel.init(name:)) ?? .none
            since = change.timeMilliseconds
            causes = fields["causes"] as? [String] ?? []
        }
        var drill: (WarningLevel, String)?
        if let report = latest["drill"] {
            let fields = report.fields
            if fields["started"] as? Bool == true, let drillLevel = (fields["level"] as? String).flatMap(WarningLevel.init(name:)) {
                drill = (drillLevel, fields["by"] as? String ?? "")
            }
        }
        var county: (String, WarningLevel)?
        if let report = latest["county_warning"] {
            let fields = report.fields
            if fields["cancelled"] as? Bool != true, let countyLevel = (fields["level"] as? String).flatMap(WarningLevel.init(name:)),
                countyLevel != .none
            {
                county = (fields["id"] as? String ?? "", countyLevel)
            }
        }
        var summaryPeriod: Int64?
        var sensors: [String: SensorHealth] = [:]
        var sensorOrder: [String] = []
        var summarySequence: Int64 = -1
        if let summary = latest["observation_summary"] {
            let fields = summary.fields
            summaryPeriod = (fields["period_milliseconds"] as? NSNumber)?.int64Value
            summarySequence = summary.sequence
            for case let sensor as [String: Any] in fields["sensors"] as? [Any] ?? [] {
                guard let id = sensor["id"] as? String else { continue }
                sensors[id] = SensorHealth(id: id, faulty: sensor["faulty"] as? Bool ?? false, reason: nil)
                sensorOrder.append(id)
            }
        }
        // A health report newer than the last summary is fresher news of that sensor.
        var seen: Set<String> = []
        for report in sensorHealth where report.sequence > summarySequence {
            let fields = report.fields
            guard let id = fields["sensor_id"] as? String, !seen.contains(id) else { continue }
            seen.insert(id)
            if sensors[id] == nil { sensorOrder.append(id) }
            sensors[id] = SensorHealth(id: id, faulty: fields["faulty"] as? Bool ?? false, reason: fields["reason"] as? String)
        }
        let lastContact = row.lastPullAtMilliseconds
        let silent = lastContact.map { nowMilliseconds - $0 > silentAfterMilliseconds } ?? true
        let lastReport = Self.newest(latest.values.map(\.timeMilliseconds) + sensorHealth.prefix(1).map(\.timeMilliseconds))
        return StationState(
            id: row.station, name: displayName ?? row.name, level: level, levelSinceMilliseconds: since, causes: causes,
            call: call(latest, since: callReports), drill: drill, countyWarning: county, lastReportMilliseconds: lastReport, lastContactMilliseconds: lastContact,
            summaryPeriodMilliseconds: summaryPeriod, backlog: max(0, row.boxLastSequence - row.pulledThrough), gapRanges: row.gapRanges,
            gapReports: row.gapReports, missingRanges: row.missingRanges, missingNumbers: row.missingNumbers, conflicts: row.conflicts,
            sensors: sensorOrder.compactMap { sensors[$0] }, silent: silent)
    }

    private static func newest(_ times: [Int64]) -> Int64? { times.max() }

    /// The newest request's 叫应: every answer and escalation reported after it (`callReports`,
    /// oldest first; others are ignored), and the newest "unanswered" report if it came after.
    package static func call(_ latest: [String: StoredReport], since callReports: [StoredReport]) -> CallState? {
        guard let request = latest["acknowledgement_requested"] else { return nil }
        let asked = request.fields
        let level = (asked["level"] as? String).flatMap(WarningLevel.init(name:)) ?? .none
        var contacts = asked["contacts"] as? [String] ?? []
        var step: Int?
        var answers: [CallAnswer] = []
        var forEveryone = false
        // A box older than issue 14 reports one answer, which ends its 叫应.
        var oneAnswerEnds = false
        // A drill's 叫应 and a real one may run at once: only this request's kind of answers count.
        for report in callReports where report.sequence > request.sequence && report.exercise == request.exercise {
            let fields = report.fields
            switch report.kind {
            case "escalated":
                step = (fields["step"] as? NSNumber)?.intValue ?? step
                for contact in fields["contacts"] as? [String] ?? [] where !contacts.contains(contact) { contacts.append(contact) }
            case "acknowledged":
                let by = fields["by"] as? String ?? "?"
                guard !answers.contains(where: { $0.by == by }) else { continue }
                let channel = fields["channel"] as? String
                var seconds = (fields["seconds_to_answer"] as? NSNumber)?.int64Value
                if seconds == nil, let requestedAt = (fields["requested_at_ms"] as? NSNumber)?.int64Value {
                    seconds = max(0, report.timeMilliseconds - requestedAt) / 1_000
                }
                let answer = CallAnswer(by: by, channel: channel, seconds: seconds, atMilliseconds: report.timeMilliseconds)
                answers.append(answer)
                forEveryone = forEveryone || answer.answersForEveryone
                oneAnswerEnds = oneAnswerEnds || channel == nil
            default:
                continue
            }
        }
        let answered = Set(answers.map(\.by))
        let waiting = forEveryone || oneAnswerEnds ? [] : contacts.filter { !answered.contains($0) }
        var unansweredAt: Int64?
        if let unanswered = latest["acknowledgement_unanswered"], unanswered.sequence > request.sequence, unanswered.exercise == request.exercise {
            unansweredAt = unanswered.timeMilliseconds
        }
        return CallState(
            level: level, sinceMilliseconds: request.timeMilliseconds, deadlineMilliseconds: (asked["deadline_ms"] as? NSNumber)?.int64Value,
            escalationStep: step, asked: contacts, answers: answers, waiting: waiting, unansweredAtMilliseconds: unansweredAt,
            truncated: callReports.count >= DashboardReadLimits.callReportsPerStationMax)
    }
}
