// A station's state as the overview shows it, made from the newest report of each kind the
// county holds. Pure: the store gives the reports, the pages draw the state, the tests check it.
import Foundation
import WarningLogic

/// Where a station's 叫应 (the call for an answer after a warning) stands.
package enum CallState: Sendable, Equatable {
    /// No call asked yet.
    case none
    /// Asked and not answered: waiting for these people since `sinceMilliseconds`.
    case waiting(level: WarningLevel, contacts: [String], sinceMilliseconds: Int64, deadlineMilliseconds: Int64?, escalationStep: Int?)
    /// Answered: by whom, through what (when the box says), how many seconds after the ask.
    case answered(level: WarningLevel, by: String, channel: String?, seconds: Int64?, atMilliseconds: Int64)
    /// Nobody answered before the policy ran out.
    case unanswered(level: WarningLevel, sinceMilliseconds: Int64)
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
    package var call: CallState
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
        if a.call.isWaiting != b.call.isWaiting { return a.call.isWaiting }
        if a.silent != b.silent { return a.silent }
        if a.name != b.name { return a.name < b.name }
        return a.id < b.id
    }
}

extension CallState {
    package var isWaiting: Bool {
        if case .waiting = self { return true }
        return false
    }
}

package enum StationStateBuilder {
    /// - silentAfterMilliseconds: a box not reached for longer than this is flagged silent.
    package static func state(
        row: StationRow, latest: [String: StoredReport], sensorHealth: [StoredReport], displayName: String?,
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
            call: call(latest), drill: drill, countyWarning: county, lastReportMilliseconds: lastReport, lastContactMilliseconds: lastContact,
            summaryPeriodMilliseconds: summaryPeriod, backlog: max(0, row.boxLastSequence - row.pulledThrough), gapRanges: row.gapRanges,
            gapReports: row.gapReports, missingRanges: row.missingRanges, missingNumbers: row.missingNumbers, conflicts: row.conflicts,
            sensors: sensorOrder.compactMap { sensors[$0] }, silent: silent)
    }

    private static func newest(_ times: [Int64]) -> Int64? { times.max() }

    /// The 叫应 from the newest request, answer, escalation and "unanswered" reports.
    package static func call(_ latest: [String: StoredReport]) -> CallState {
        guard let request = latest["acknowledgement_requested"] else { return .none }
        let asked = request.fields
        let level = (asked["level"] as? String).flatMap(WarningLevel.init(name:)) ?? .none
        if let answer = latest["acknowledged"], answer.sequence > request.sequence {
            let fields = answer.fields
            let answeredLevel = (fields["level"] as? String).flatMap(WarningLevel.init(name:)) ?? level
            // #14's answers carry the channel and the seconds; older boxes only when it was asked.
            var seconds = (fields["seconds_to_answer"] as? NSNumber)?.int64Value
            if seconds == nil, let requestedAt = (fields["requested_at_ms"] as? NSNumber)?.int64Value {
                seconds = max(0, answer.timeMilliseconds - requestedAt) / 1_000
            }
            return .answered(
                level: answeredLevel, by: fields["by"] as? String ?? "?", channel: fields["channel"] as? String, seconds: seconds,
                atMilliseconds: answer.timeMilliseconds)
        }
        if let unanswered = latest["acknowledgement_unanswered"], unanswered.sequence > request.sequence {
            return .unanswered(level: level, sinceMilliseconds: unanswered.timeMilliseconds)
        }
        var contacts = asked["contacts"] as? [String] ?? []
        var step: Int?
        if let escalation = latest["escalated"], escalation.sequence > request.sequence {
            let fields = escalation.fields
            step = (fields["step"] as? NSNumber)?.intValue
            for contact in fields["contacts"] as? [String] ?? [] where !contacts.contains(contact) { contacts.append(contact) }
        }
        return .waiting(
            level: level, contacts: contacts, sinceMilliseconds: request.timeMilliseconds,
            deadlineMilliseconds: (asked["deadline_ms"] as? NSNumber)?.int64Value, escalationStep: step)
    }
}
