// A station's last 72 hours as the chart `simulate --chart` draws (ChartDrawing), built from what
// the county holds: the level changes (the level as bands, a drill's under it), the observation
// summaries' rain per period (hourly bars), and their rules (each rule's measure against the
// thresholds in force at each time, the tangent angle among them). Summaries from boxes that sent
// no rules still show their sensors' values, without thresholds.
import ChartDrawing
import CountyProtocol
import Foundation
import WarningLogic

package enum StationChart {
    /// An observation summary as the chart reads it.
    struct Summary {
        struct Rule {
            var id: String
            var sensorId: String
            var measure: String
            var unit: String
            var value: Double?
            var thresholds: [(level: WarningLevel, value: Double)]
        }

        var time: Timestamp
        var periodMilliseconds: Int64
        /// Each sensor's fields (`rain_millimeters_period`, `water_level_meters`, …).
        var sensors: [(id: String, fields: [String: Any])]
        /// Nil in a summary from a box that did not send its rules.
        var rules: [Rule]?
    }

    static func summaries(_ reports: [StoredReport]) -> [Summary] {
        reports.filter { $0.kind == "observation_summary" }.map { report in
            let fields = report.fields
            func number(_ object: [String: Any], _ key: String) -> Double? {
                (object[key] as? NSNumber).map(\.doubleValue).flatMap { $0.isFinite ? $0 : nil }
            }
            let time = (fields["observed_at_milliseconds"] as? NSNumber)?.int64Value ?? report.timeMilliseconds
            let sensors = (fields["sensors"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }.map { ($0["id"] as? String ?? "?", $0) }
            let rules = (fields["rules"] as? [Any]).map { list in
                list.compactMap { $0 as? [String: Any] }.map { rule in
                    let thresholds = rule["thresholds"] as? [String: Any] ?? [:]
                    return Summary.Rule(
                        id: rule["id"] as? String ?? "?", sensorId: rule["sensor_id"] as? String ?? "?", measure: rule["measure"] as? String ?? "?",
                        unit: rule["unit"] as? String ?? "", value: number(rule, "value"),
                        thresholds: WarningLevel.colours.compactMap { level in number(thresholds, level.name).map { (level, $0) } })
                }
            }
            return Summary(
                time: Timestamp(millisecondsSinceUnixEpoch: time),
                periodMilliseconds: max(1, (fields["period_milliseconds"] as? NSNumber)?.int64Value ?? Milliseconds.hour),
                sensors: sensors, rules: rules)
        }.sorted { $0.time < $1.time }
    }

    /// "1 小时雨量", "24 小时位移速率", "改进切线角".
    static func measureWord(_ name: String) -> String {
        // Hydrology speaks of 24-hour rain, and of days only beyond two.
        func span(_ milliseconds: Int64) -> String {
            if milliseconds % Milliseconds.day == 0 && milliseconds >= 2 * Milliseconds.day { return "\(milliseconds / Milliseconds.day) 天" }
            for (unit, word) in [(Milliseconds.hour, "小时"), (Milliseconds.minute, "分钟")] where milliseconds % unit == 0 {
                return "\(milliseconds / unit) \(word)"
            }
            return "\(milliseconds / 1_000) 秒"
        }
        switch Measure(name: name) {
        case .rainAccumulation(let window): return "\(span(window))雨量"
        case .rainAntecedent: return "前期雨量指数"
        case .waterLevel: return "水位"
        case .waterRise(let riseMilliseconds): return "\(span(riseMilliseconds))水位涨幅"
        case .displacement: return "位移"
        case .displacementRate(let rateMilliseconds): return "\(span(rateMilliseconds))位移速率"
        case .tangentAngle: return "改进切线角"
        case nil: return name
        }
    }

    /// A summary further from the one before than this many periods leaves a break in the lines:
    /// the county holds nothing for the time between.
    static let periodsBeforeABreak: Int64 = 2

    /// One panel per sensor and measure the rules name, with every rule's thresholds as they stood
    /// at each summary (a change shows as a step at the first summary that carries it).
    static func rulePanels(_ summaries: [Summary], end: Timestamp) -> [LevelChart.Panel] {
        var panels: [LevelChart.Panel] = []
        var ruleIds: [[String]] = []
        /// The threshold line being drawn, per panel, rule and level: index into its panel's thresholds.
        var open: [String: Int] = [:]
        var previous: Summary?
        for summary in summaries {
            let broken = previous.map { summary.time.milliseconds(since: $0.time) > periodsBeforeABreak * summary.periodMilliseconds } ?? false
            previous = summary
            var seen: Set<Int> = []
            var stillOpen: Set<String> = []
            for rule in summary.rules ?? [] {
                let index: Int
                if let found = panels.firstIndex(where: { $0.sensorId == rule.sensorId && $0.measure == rule.measure }) {
                    index = found
                } else {
                    index = panels.count
                    panels.append(LevelChart.Panel(
                        title: "", sensorId: rule.sensorId, measure: rule.measure, unit: rule.unit, points: [], thresholds: [],
                        axisIncludes: rule.measure == Measure.tangentAngle.name ? [0, 90] : [],
                        noValueNote: "暂无数值：传感器故障，或读数还不够算出这一量"))
                    ruleIds.append([])
                }
                if !ruleIds[index].contains(rule.id) { ruleIds[index].append(rule.id) }
                if !seen.contains(index) {
                    if broken { panels[index].points.append((summary.time, nil)) }
                    panels[index].points.append((summary.time, rule.value))
                    seen.insert(index)
                } else if panels[index].points.last?.value == nil, let value = rule.value {
                    panels[index].points[panels[index].points.count - 1].value = value
                }
                for threshold in rule.thresholds {
                    let key = "\(index)|\(rule.id)|\(threshold.level.name)"
                    stillOpen.insert(key)
                    if let line = open[key], panels[index].thresholds[line].value == threshold.value {
                        panels[index].thresholds[line].to = summary.time
                        continue
                    }
                    if let line = open[key] { panels[index].thresholds[line].to = summary.time }
                    open[key] = panels[index].thresholds.count
                    panels[index].thresholds.append(LevelChart.Threshold(
                        ruleId: rule.id, level: threshold.level, value: threshold.value, from: summary.time, to: summary.time))
                }
            }
            // A panel no rule of this summary reports (a rule removed, an old box) breaks its line;
            // a threshold no longer reported ends here.
            for index in panels.indices where !seen.contains(index) { panels[index].points.append((summary.time, nil)) }
            for key in Array(open.keys) where !stillOpen.contains(key) { open[key] = nil }
        }
        // The thresholds the last summary reported hold until the chart's end.
        for (key, line) in open {
            guard let index = Int(key.prefix(while: { $0 != "|" })) else { continue }
            panels[index].thresholds[line].to = max(panels[index].thresholds[line].to, end)
        }
        for index in panels.indices {
            let panel = panels[index]
            panels[index].title = "\(panel.sensorId) \(measureWord(panel.measure))（\(panel.unit)）· 规则 \(ruleIds[index].joined(separator: "、"))"
        }
        return panels
    }

    /// A sensor's own values, for sensors no rule panel shows (summaries from boxes that did not
    /// send their rules): no thresholds, since the county does not know them.
    static func sensorPanels(_ summaries: [Summary], except ruled: Set<String>) -> [LevelChart.Panel] {
        let measures: [(field: String, measure: String, word: String, unit: String)] = [
            ("rain_millimeters1h", "rain_1h", "1 小时雨量", "mm"),
            ("rain_millimeters6h", "rain_6h", "6 小时雨量", "mm"),
            ("water_level_meters", "water_level_reading", "水位", "m"),
            ("displacement_millimeters", "displacement_reading", "位移读数", "mm"),
        ]
        var panels: [LevelChart.Panel] = []
        var previous: Summary?
        for summary in summaries {
            let broken = previous.map { summary.time.milliseconds(since: $0.time) > periodsBeforeABreak * summary.periodMilliseconds } ?? false
            previous = summary
            for (sensorId, fields) in summary.sensors where !ruled.contains(sensorId) {
                for measure in measures {
                    guard let value = (fields[measure.field] as? NSNumber)?.doubleValue, value.isFinite else { continue }
                    let index = panels.firstIndex { $0.sensorId == sensorId && $0.measure == measure.measure } ?? {
                        panels.append(LevelChart.Panel(
                            title: "\(sensorId) \(measure.word)（\(measure.unit)）· 盒子未报规则与阈值", sensorId: sensorId, measure: measure.measure,
                            unit: measure.unit, points: [], thresholds: []))
                        return panels.count - 1
                    }()
                    if broken { panels[index].points.append((summary.time, nil)) }
                    panels[index].points.append((summary.time, value))
                }
            }
        }
        return panels
    }

    /// Rain per gauge in bars of an hour (or of the summary period when that is longer), on the
    /// station's local hours, summed from each summary's rain of its period.
    static func rain(_ summaries: [Summary], utcOffsetMinutes: Int) -> LevelChart.RainBars? {
        var gauges: [(id: String, bars: [LevelChart.RainBars.Bar])] = []
        let offset = Int64(utcOffsetMinutes) * Milliseconds.minute
        for summary in summaries {
            let barMilliseconds = max(Milliseconds.hour, summary.periodMilliseconds)
            // The period ends at the summary's time: its rain fell in the bar holding the instant before.
            let local = summary.time.millisecondsSinceUnixEpoch - 1 + offset
            let start = Timestamp(millisecondsSinceUnixEpoch: local - ((local % barMilliseconds) + barMilliseconds) % barMilliseconds - offset)
            for (sensorId, fields) in summary.sensors {
                guard let millimeters = (fields["rain_millimeters_period"] as? NSNumber)?.doubleValue, millimeters.isFinite else { continue }
                let gauge = gauges.firstIndex { $0.id == sensorId } ?? {
                    gauges.append((sensorId, []))
                    return gauges.count - 1
                }()
                if let last = gauges[gauge].bars.last, last.start == start {
                    gauges[gauge].bars[gauges[gauge].bars.count - 1].millimeters += millimeters
                } else {
                    gauges[gauge].bars.append(.init(start: start, end: start.adding(milliseconds: barMilliseconds), millimeters: millimeters))
                }
            }
        }
        return gauges.isEmpty ? nil : LevelChart.RainBars(title: "每小时雨量（毫米）", gauges: gauges)
    }

    /// The chart of the reports in the window: the last report's time back `windowMilliseconds`,
    /// or less when the county holds less (a storm fills the chart's width).
    package static func chart(reports: [StoredReport], name: String, levelBefore: WarningLevel, windowMilliseconds: Int64) -> LevelChart {
        let endMilliseconds = reports.map(\.timeMilliseconds).max() ?? 0
        let startMilliseconds = max(endMilliseconds - windowMilliseconds, min(reports.map(\.timeMilliseconds).min() ?? endMilliseconds, endMilliseconds - Milliseconds.hour))
        let start = Timestamp(millisecondsSinceUnixEpoch: startMilliseconds)
        let end = Timestamp(millisecondsSinceUnixEpoch: endMilliseconds)
        // The station's own offset, as its reports carry it.
        let offset = reports.last.flatMap { try? ISO8601.parseOrExplain($0.time) }?.utcOffsetMinutes ?? HTML.countyUTCOffsetMinutes
        // Only the window's: the store may hand over more than the chart shows.
        let summaries = summaries(reports).filter { $0.time >= start }
        let rulePanels = rulePanels(summaries, end: end)
        let panels = rulePanels + sensorPanels(summaries, except: Set(rulePanels.map(\.sensorId)))
        func changes(exercise: Bool) -> [(time: Timestamp, to: WarningLevel)] {
            reports.compactMap { report in
                guard report.kind == "level_changed", report.exercise == exercise,
                      let to = (report.fields["to"] as? String).flatMap(WarningLevel.init(name:)) else { return nil }
                return (Timestamp(millisecondsSinceUnixEpoch: report.timeMilliseconds), to)
            }
        }
        let station = reports.last?.station ?? ""
        return LevelChart(
            title: "\(name)（\(station)）最近 \(windowMilliseconds / Milliseconds.hour) 小时",
            subtitle: "\(HTML.time(startMilliseconds)) 至 \(HTML.time(endMilliseconds))（县里收到的最后一份报告）"
                + (panels.isEmpty ? "；此时段内县里没有这个站的观测汇总" : ""),
            start: start, end: end, utcOffsetMinutes: offset, language: .chinese,
            levelBands: LevelChart.bands(changes: changes(exercise: false), initial: levelBefore, start: start, end: end),
            drillBands: LevelChart.bands(changes: changes(exercise: true), initial: .none, start: start, end: end),
            rain: rain(summaries, utcOffsetMinutes: offset), panels: panels)
    }

    package static func render(reports: [StoredReport], name: String, levelBefore: WarningLevel, windowMilliseconds: Int64) -> String {
        chart(reports: reports, name: name, levelBefore: levelBefore, windowMilliseconds: windowMilliseconds).render(inlineId: "chart")
    }
}
