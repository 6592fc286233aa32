// The overview: every station in one table, most severe first, the counts per level on top.
import ConfigurationFiles
import Foundation
import WarningLogic

/// A station as the stations file configures it: the pull's own type, so the two never drift.
package typealias DashboardStation = PullStation

package enum OverviewPage {
    /// The states of every station the database or the stations file knows, most severe first.
    package static func states(
        _ snapshot: OverviewSnapshot, configured: [DashboardStation], nowMilliseconds: Int64, silentAfterMilliseconds: Int64
    ) -> [StationState] {
        let names = Dictionary(configured.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var states = snapshot.stations.map { row in
            StationStateBuilder.state(
                row: row, latest: snapshot.latest[row.station] ?? [:], callReports: snapshot.calls[row.station] ?? [],
                sensorHealth: snapshot.sensorHealth[row.station] ?? [],
                displayName: names[row.station], nowMilliseconds: nowMilliseconds, silentAfterMilliseconds: silentAfterMilliseconds)
        }
        // A configured box never pulled yet: silent, and shown so.
        let known = Set(snapshot.stations.map(\.station))
        for station in configured where !known.contains(station.id) {
            states.append(StationStateBuilder.state(
                row: StationRow(station: station.id, name: station.name, pulledThrough: 0, boxLastSequence: 0, lastPullAtMilliseconds: nil),
                latest: [:], callReports: [], sensorHealth: [], displayName: station.name, nowMilliseconds: nowMilliseconds,
                silentAfterMilliseconds: silentAfterMilliseconds))
        }
        return states.sorted(by: StationState.severityOrder)
    }

    package static func render(_ states: [StationState], nowMilliseconds: Int64, silentAfterMilliseconds: Int64, user: String?) -> String {
        var counts: [WarningLevel: Int] = [:]
        for state in states { counts[state.level, default: 0] += 1 }
        let silentCount = states.filter(\.silent).count
        let waitingCount = states.filter(\.isWaitingForAnswers).count
        var body = "<h1>各村预警总览</h1>\n<div class=\"counts\" id=\"counts\">"
        for level in WarningLevel.allCases.reversed() {
            body += "<span class=\"lv-\(level.name)\" data-count-level=\"\(level.name)\">\(HTML.levelWord(level)) \(counts[level] ?? 0)</span>"
        }
        body += "<span class=\"lv-none\" data-count=\"silent\">失联 \(silentCount)</span>"
        body += "<span class=\"lv-none\" data-count=\"waiting\">待叫应 \(waitingCount)</span>"
        body += "</div>\n<p class=\"muted\">共 \(states.count) 站 · 更新于 \(HTML.time(nowMilliseconds)) · 每 \(HTML.refreshSeconds) 秒自动刷新 · "
            + "超过 \(silentAfterMilliseconds / 60_000) 分钟未联系视为失联</p>\n"
        body += """
            <table id="stations">
            <thead><tr><th>村（站）</th><th>等级</th><th>起始</th><th>原因</th><th>叫应</th><th>最后报告</th><th>最后联系</th>\
            <th>待取</th><th>缺号</th><th>传感器</th><th>演练/县级</th></tr></thead>
            <tbody>

            """
        for state in states { body += row(state, nowMilliseconds: nowMilliseconds) }
        body += "</tbody></table>\n"
        return HTML.page(title: "各村预警总览", user: user, refresh: true, body: body)
    }

    static func row(_ state: StationState, nowMilliseconds: Int64) -> String {
        var cells: [String] = []
        cells.append("<a href=\"/stations/\(HTML.escape(state.id))\">\(HTML.escape(state.name))</a><br><span class=\"muted\">\(state.id)</span>")
        cells.append(HTML.band(state.level))
        cells.append(state.levelSinceMilliseconds.map(HTML.time) ?? "—")
        cells.append(state.causes.isEmpty ? "—" : HTML.escape(state.causes.map(HTML.causeWord).joined(separator: "、")))
        cells.append(callCell(state.call))
        cells.append(state.lastReportMilliseconds.map { "\(HTML.time($0))<br><span class=\"muted\">\(HTML.age(nowMilliseconds - $0))</span>" } ?? "—")
        var contact = state.lastContactMilliseconds.map { HTML.age(nowMilliseconds - $0) } ?? "从未联系"
        if state.silent { contact = "<span class=\"silent\" data-silent=\"true\">失联 · \(contact)</span>" }
        cells.append(contact)
        cells.append(state.backlog > 0 ? "<span class=\"waiting\">\(state.backlog)</span>" : "0")
        var holes: [String] = []
        if state.gapRanges > 0 { holes.append("声明缺口 \(state.gapReports) 条") }
        if state.missingNumbers > 0 { holes.append("<span class=\"fault\">缺号 \(state.missingNumbers)</span>") }
        if state.conflicts > 0 { holes.append("<span class=\"fault\">冲突 \(state.conflicts)</span>") }
        cells.append(holes.isEmpty ? "—" : holes.joined(separator: "<br>"))
        let faulty = state.faultySensors
        cells.append(
            state.sensors.isEmpty ? "—"
                : faulty.isEmpty ? "<span class=\"answered\">\(state.sensors.count) 个正常</span>"
                : faulty.map { "<span class=\"fault\">\(HTML.escape($0.id)) 故障</span>" }.joined(separator: "<br>"))
        var marks: [String] = []
        if let drill = state.drill { marks.append("<span class=\"drill\" data-drill=\"true\">演练 \(HTML.levelWord(drill.level))</span>") }
        if let county = state.countyWarning { marks.append("县级预警 \(HTML.band(county.level)) \(HTML.escape(county.id))") }
        cells.append(marks.isEmpty ? "—" : marks.joined(separator: "<br>"))
        let attributes = "class=\"row-\(state.level.name)\" data-station=\"\(state.id)\" data-level=\"\(state.level.name)\""
            + (state.silent ? " data-silent=\"true\"" : "")
        return "<tr \(attributes)>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
    }

    /// The 叫应 as one cell: where it stands, every answer (who, how, after how long), and who is
    /// still waited for.
    package static func callCell(_ call: CallState?) -> String {
        guard let call else { return "—" }
        let level = HTML.levelWord(call.level)
        var cell: String
        if call.isComplete {
            cell = "<span class=\"answered\" data-call=\"answered\">\(level)色叫应已全部应答</span>"
        } else if call.unansweredAtMilliseconds != nil {
            cell = "<span class=\"fault\" data-call=\"unanswered\">\(level)色叫应\(call.answers.isEmpty ? "无人应答" : "超时，仍有人未应答")</span>"
        } else if call.answers.isEmpty {
            cell = "<span class=\"waiting\" data-call=\"waiting\">\(level)色叫应待应答</span>"
        } else {
            cell = "<span class=\"waiting\" data-call=\"partial\">\(level)色叫应已应答 \(call.answers.count)/\(call.answers.count + call.waiting.count)</span>"
        }
        if let step = call.escalationStep { cell += "（已升级第 \(step) 步）" }
        for answer in call.answers {
            let how = answer.channel.map { " 经\(HTML.escape(HTML.channelWord($0)))" } ?? ""
            let after = answer.seconds.map { " \(HTML.duration(seconds: $0))后" } ?? ""
            cell += "<br><span class=\"answered\" data-answer=\"\(HTML.escape(answer.by))\">\(HTML.escape(answer.by))\(how)\(after)应答</span>"
        }
        if call.truncated { cell += "<br><span class=\"muted\">（应答过多，只列出前 \(DashboardReadLimits.callReportsPerStationMax) 条记录）</span>" }
        if !call.waiting.isEmpty {
            let label = call.unansweredAtMilliseconds == nil ? "仍待" : "未应答"
            let css = call.unansweredAtMilliseconds == nil ? "waiting" : "fault"
            cell += "<br><span class=\"\(css)\" data-waiting=\"\(call.waiting.count)\">\(label)：\(call.waiting.map(HTML.escape).joined(separator: "、"))</span>"
        }
        cell += "<br><span class=\"muted\">自 \(HTML.time(call.sinceMilliseconds))</span>"
        return cell
    }
}
