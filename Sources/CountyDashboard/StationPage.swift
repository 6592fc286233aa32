// One station's page: its state, the last 72 h chart, its gaps and conflicts explained, and the
// reports the county holds with the CAP view of each that is an alert and the SL 651 frame of each
// the box sends as one.
import CountyProtocol
import Foundation
import WarningLogic

package enum StationPage {
    package static let windowMilliseconds: Int64 = 72 * 3_600_000
    /// Rows in the reports list; the chart uses every report of the window.
    package static let listedReportsMax = 400

    package static func render(
        _ snapshot: StationSnapshot, state: StationState, configured: DashboardStation?, nowMilliseconds: Int64, user: String?
    ) -> String {
        var body = "<h1>\(HTML.escape(state.name)) <span class=\"muted\">\(state.id)</span> \(HTML.band(state.level))</h1>\n"
        body += "<div class=\"panel\"><table><tbody>"
        func line(_ label: String, _ value: String) { body += "<tr><th>\(label)</th><td>\(value)</td></tr>" }
        line("等级", "\(HTML.band(state.level)) \(state.level.chineseName)" + (state.levelSinceMilliseconds.map { "，自 \(HTML.time($0))" } ?? ""))
        line("原因", state.causes.isEmpty ? "—" : HTML.escape(state.causes.map(CAPAlertWriter.causeDescription).joined(separator: "、")))
        line("叫应", OverviewPage.callCell(state.call))
        line("最后联系", state.lastContactMilliseconds.map { "\(HTML.time($0))（\(HTML.age(nowMilliseconds - $0))）" } ?? "从未联系"
            + (state.silent ? " <span class=\"silent\">失联</span>" : ""))
        line("待取报告", "\(state.backlog)（盒子最后编号 \(snapshot.row.boxLastSequence)，县里已取到 \(snapshot.row.pulledThrough)）")
        line("传感器", state.sensors.isEmpty ? "—" : state.sensors.map { sensor in
            sensor.faulty ? "<span class=\"fault\">\(HTML.escape(sensor.id)) 故障\(sensor.reason.map { "：" + HTML.escape($0) } ?? "")</span>"
                : "\(HTML.escape(sensor.id)) 正常"
        }.joined(separator: "；"))
        if let drill = state.drill { line("演练", "<span class=\"drill\">演练中：\(HTML.levelWord(drill.level))</span>（\(HTML.escape(drill.by))）") }
        if let configured, let latitude = configured.latitude, let longitude = configured.longitude {
            line("位置", String(format: "北纬 %.5f，东经 %.5f", latitude, longitude))
        }
        body += "</tbody></table>"
        if configured != nil {
            body += "<p><a href=\"/warnings?station=\(state.id)\">向此站发布县级预警</a></p>"
        }
        body += "</div>\n"

        let levelBefore = levelBefore(snapshot)
        body += "<div class=\"panel\">\(StationChart.render(reports: snapshot.reports, name: state.name, levelBefore: levelBefore, windowMilliseconds: windowMilliseconds))</div>\n"
        body += holes(snapshot)
        body += reportsList(snapshot, name: state.name)
        return HTML.page(title: state.name, user: user, refresh: true, body: body)
    }

    /// The level in force when the window begins: the level change just before it, if the county
    /// holds one in the window (its "from"), else the current level's own.
    static func levelBefore(_ snapshot: StationSnapshot) -> WarningLevel {
        if let first = snapshot.reports.first(where: { $0.kind == "level_changed" && !$0.exercise }) {
            return (first.fields["from"] as? String).flatMap(WarningLevel.init(name:)) ?? .none
        }
        return (snapshot.latest["level_changed"]?.fields["to"] as? String).flatMap(WarningLevel.init(name:)) ?? .none
    }

    static func holes(_ snapshot: StationSnapshot) -> String {
        guard !snapshot.gaps.isEmpty || !snapshot.missing.isEmpty || !snapshot.conflicts.isEmpty else {
            return "<div class=\"panel\" id=\"holes\">编号连续：县里收齐了 1 至 \(snapshot.row.pulledThrough) 号，没有缺口和冲突。</div>\n"
        }
        var text = "<div class=\"panel\" id=\"holes\"><h2>缺口与冲突</h2><ul>"
        for gap in snapshot.gaps {
            text += "<li>第 \(gap.from)–\(gap.through) 号（\(gap.count) 条）：盒子存储已满时按规则删去的例行报告，盒子已声明"
                + "（原因：\(HTML.escape(gap.reason ?? ""))）。报警和事件不会被删。</li>"
        }
        for hole in snapshot.missing {
            text += "<li class=\"fault\">第 \(hole.from)–\(hole.through) 号（\(hole.count) 个编号）：盒子没有发来，也没有声明缺口。"
                + "这是盒子一侧的故障，请检查盒子的存储和日志。</li>"
        }
        for conflict in snapshot.conflicts {
            text += "<li class=\"fault\">第 \(conflict.later.sequence) 号被再次发送但内容不同：县里保留最先收到的一份"
                + "（\(HTML.escape(conflict.first?.kind ?? "?"))），后来的一份（\(HTML.escape(conflict.later.kind))）另存备查，两份都没有丢。"
                + "<details><summary>对比</summary><pre>最先：\(HTML.escape(conflict.first?.payload ?? ""))\n后来：\(HTML.escape(conflict.later.payload))</pre></details></li>"
        }
        return text + "</ul></div>\n"
    }

    static func reportsList(_ snapshot: StationSnapshot, name: String) -> String {
        let listed = snapshot.reports.reversed().prefix(listedReportsMax)
        var text = "<div class=\"panel\"><h2>报告（最近 72 小时，新的在前\(snapshot.reports.count > listedReportsMax ? "，只列最近 \(listedReportsMax) 条" : "")）</h2>"
        text += "<table id=\"reports\"><thead><tr><th>编号</th><th>时间</th><th>类型</th><th>内容</th></tr></thead><tbody>"
        for report in listed {
            let drill = report.exercise ? " <span class=\"drill\">演练</span>" : ""
            var views = "<details><summary>JSON</summary><pre>\(HTML.escape(report.payload))</pre></details>"
            if let cap = capXML(report, name: name) {
                views += "<details class=\"cap\"><summary>CAP</summary><pre>\(HTML.escape(cap))</pre></details>"
            }
            views += SL651View.html(report, reports: snapshot.reports)
            text += "<tr data-kind=\"\(HTML.escape(report.kind))\"><td>\(report.sequence)</td><td>\(HTML.escape(report.time))</td>"
                + "<td>\(kindWord(report.kind))\(drill)</td><td>\(HTML.escape(summary(report)))\(views)</td></tr>\n"
        }
        return text + "</tbody></table></div>\n"
    }

    static func kindWord(_ kind: String) -> String {
        switch kind {
        case "level_changed": "等级变化"
        case "sensor_health": "传感器状态"
        case "acknowledgement_requested": "叫应发出"
        case "acknowledged": "叫应应答"
        case "escalated": "叫应升级"
        case "acknowledgement_unanswered": "叫应无人应答"
        case "latch_cleared": "解除锁定"
        case "drill": "演练"
        case "manual_level": "人工等级"
        case "county_warning": "县级预警"
        case "input_rejected": "输入被拒"
        case "observation_summary": "观测汇总"
        case "outbox_full": "存储已满"
        case "outbox_reports_lost": "报告丢失"
        case "shell_audit": "现场操作"
        default: HTML.escape(kind)
        }
    }

    /// One line a duty officer reads without opening the JSON.
    static func summary(_ report: StoredReport) -> String {
        let fields = report.fields
        func level(_ key: String) -> String { (fields[key] as? String).flatMap(WarningLevel.init(name:)).map(HTML.levelWord) ?? "?" }
        switch report.kind {
        case "level_changed":
            let causes = (fields["causes"] as? [String] ?? []).joined(separator: "、")
            return "\(level("from")) → \(level("to"))" + (causes.isEmpty ? "" : "（\(causes)）")
        case "acknowledgement_requested": return "\(level("level"))色叫应：" + (fields["contacts"] as? [String] ?? []).joined(separator: "、")
        case "acknowledged": return "\(level("level"))色叫应由\(fields["by"] as? String ?? "?")应答"
        case "escalated": return "第 \((fields["step"] as? NSNumber)?.intValue ?? 0) 步：" + (fields["contacts"] as? [String] ?? []).joined(separator: "、")
        case "sensor_health": return "\(fields["sensor_id"] as? String ?? "?") \((fields["faulty"] as? Bool ?? false) ? "故障" : "恢复")：\(fields["reason"] as? String ?? "")"
        case "county_warning": return "\(fields["id"] as? String ?? "?") \(level("level"))" + ((fields["cancelled"] as? Bool ?? false) ? " 已取消" : "")
        case "drill": return "\((fields["started"] as? Bool ?? false) ? "开始" : "结束") \(level("level"))，\(fields["by"] as? String ?? "")"
        case "observation_summary": return "等级 \(level("level"))"
        default: return ""
        }
    }

    /// The engine's report kind of a v2 report, for the kinds the CAP and SL 651 views draw.
    static func engineKind(_ report: StoredReport) -> Report.Kind? {
        let fields = report.fields
        func level(_ key: String) -> WarningLevel? { (fields[key] as? String).flatMap(WarningLevel.init(name:)) }
        switch report.kind {
        case "level_changed":
            guard let from = level("from"), let to = level("to") else { return nil }
            return .levelChanged(from: from, to: to, causes: fields["causes"] as? [String] ?? [])
        case "county_warning":
            guard let countyLevel = level("level") else { return nil }
            return .countyWarning(id: fields["id"] as? String ?? "", level: countyLevel, cancelled: fields["cancelled"] as? Bool ?? false)
        case "acknowledged":
            guard let answered = level("level") else { return nil }
            let requested = (fields["requested_at_ms"] as? NSNumber)?.int64Value ?? report.timeMilliseconds
            return .acknowledged(level: answered, by: fields["by"] as? String ?? "", requestedAt: Timestamp(millisecondsSinceUnixEpoch: requested))
        case "latch_cleared":
            guard let latched = level("level") else { return nil }
            return .latchCleared(level: latched, by: fields["by"] as? String ?? "")
        default:
            return nil
        }
    }

    /// The CAP 1.2 alert the box would send for this report, rebuilt from its v2 payload.
    static func capXML(_ report: StoredReport, name: String) -> String? {
        guard let kind = engineKind(report) else { return nil }
        let offset = (try? ISO8601.parseOrExplain(report.time))?.utcOffsetMinutes ?? HTML.countyUTCOffsetMinutes
        let station = StationIdentity(id: report.station, name: name, utcOffsetMinutes: offset)
        let alert = try? CAPAlertWriter.alert(
            for: Report(time: Timestamp(millisecondsSinceUnixEpoch: report.timeMilliseconds), kind: kind, exercise: report.exercise),
            sequenceNumber: report.sequence, station: station)
        return alert?.xml
    }
}
