// A station's last 72 hours as inline SVG, drawn like `simulate --chart` (the level as coloured
// bands on top, then one panel per measure on one time axis), from what the county holds: the
// observation summaries (rain per period, 1 h and 6 h rain, water level, displacement) and the
// level changes.
import Foundation
import WarningLogic

package enum StationChart {
    static let widthPixels = 1100.0
    static let marginLeftPixels = 70.0
    static let marginRightPixels = 20.0
    static let panelHeightPixels = 110.0
    static let panelGapPixels = 36.0
    static let levelStripHeightPixels = 26.0
    /// Panels beyond this are left out: a box has a few sensors.
    static let panelsMax = 12

    package static func colour(_ level: WarningLevel) -> String {
        switch level {
        case .none: "#e8ecef"
        case .blue: "#1f6fd1"
        case .yellow: "#e8b800"
        case .orange: "#f07c00"
        case .red: "#d62728"
        }
    }

    struct Series {
        var title: String
        var unit: String
        /// Bars (rain in each period) or a line.
        var bars: Bool
        var points: [(time: Int64, value: Double)]
        var colour: String
    }

    /// The panels: one per sensor and measure that has values in the summaries.
    static func series(_ reports: [StoredReport]) -> [Series] {
        var order: [String] = []
        var byKey: [String: Series] = [:]
        func add(_ key: String, _ make: @autoclosure () -> Series, _ time: Int64, _ value: Double?) {
            guard let value, value.isFinite else { return }
            if byKey[key] == nil {
                byKey[key] = make()
                order.append(key)
            }
            byKey[key]?.points.append((time, value))
        }
        for report in reports where report.kind == "observation_summary" {
            let fields = report.fields
            let time = (fields["observed_at_milliseconds"] as? NSNumber)?.int64Value ?? report.timeMilliseconds
            for case let sensor as [String: Any] in fields["sensors"] as? [Any] ?? [] {
                let id = sensor["id"] as? String ?? "?"
                func number(_ key: String) -> Double? { (sensor[key] as? NSNumber)?.doubleValue }
                add("\(id) period", Series(title: "\(id) 时段雨量", unit: "mm", bars: true, points: [], colour: "#4a90d9"), time, number("rain_millimeters_period"))
                add("\(id) 1h", Series(title: "\(id) 1 小时雨量", unit: "mm", bars: false, points: [], colour: "#1f4e9c"), time, number("rain_millimeters1h"))
                add("\(id) 6h", Series(title: "\(id) 6 小时雨量", unit: "mm", bars: false, points: [], colour: "#6b4fbb"), time, number("rain_millimeters6h"))
                add("\(id) water", Series(title: "\(id) 水位", unit: "m", bars: false, points: [], colour: "#0b7a75"), time, number("water_level_meters"))
                add(
                    "\(id) displacement", Series(title: "\(id) 位移", unit: "mm", bars: false, points: [], colour: "#8a5a00"), time,
                    number("displacement_millimeters"))
            }
        }
        return order.prefix(panelsMax).compactMap { byKey[$0] }
    }

    /// Level intervals from the level changes in the window (and the level before it).
    static func levelBands(_ reports: [StoredReport], levelBefore: WarningLevel, start: Int64, end: Int64) -> [(from: Int64, to: Int64, level: WarningLevel)] {
        var bands: [(Int64, Int64, WarningLevel)] = []
        var current = levelBefore
        var since = start
        for report in reports where report.kind == "level_changed" && !report.exercise {
            guard let to = (report.fields["to"] as? String).flatMap(WarningLevel.init(name:)) else { continue }
            let time = min(max(report.timeMilliseconds, start), end)
            if time > since { bands.append((since, time, current)) }
            current = to
            since = time
        }
        if end > since { bands.append((since, end, current)) }
        return bands
    }

    package static func render(reports: [StoredReport], levelBefore: WarningLevel, windowMilliseconds: Int64) -> String {
        let end = reports.map(\.timeMilliseconds).max() ?? 0
        // The window, or less when the county holds less: a storm fills the chart's width.
        let start = max(end - windowMilliseconds, min(reports.map(\.timeMilliseconds).min() ?? end, end - 3_600_000))
        let panels = series(reports)
        let plotWidth = widthPixels - marginLeftPixels - marginRightPixels
        func x(_ time: Int64) -> Double {
            marginLeftPixels + plotWidth * Double(max(0, time - start)) / Double(max(1, end - start))
        }
        let stripTop = 46.0
        let panelsTop = stripTop + levelStripHeightPixels + panelGapPixels
        let height = panelsTop + Double(panels.count) * (panelHeightPixels + panelGapPixels) + 10
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" id="chart" width="\(Int(widthPixels))" height="\(Int(height))" \
            viewBox="0 0 \(Int(widthPixels)) \(Int(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="#fff"/>
            <text x="\(marginLeftPixels)" y="18" font-size="13" font-weight="bold">\(HTML.escape(HTML.time(start))) 至 \(HTML.escape(HTML.time(end)))（最后一份报告；最多显示 \(windowMilliseconds / 3_600_000) 小时）</text>

            """
        // Hour ticks every 6 h, labelled in the county's local time.
        let sixHours: Int64 = 6 * 3_600_000
        let offset = Int64(HTML.countyUTCOffsetMinutes) * 60_000
        var tick = ((start + offset) / sixHours + 1) * sixHours - offset
        while tick <= end {
            let tx = x(tick)
            svg += "<line x1=\"\(f(tx))\" y1=\"\(f(stripTop))\" x2=\"\(f(tx))\" y2=\"\(f(height - 10))\" stroke=\"#eef0f2\"/>"
            svg += "<text x=\"\(f(tx))\" y=\"\(f(stripTop - 3))\" text-anchor=\"middle\" fill=\"#6b7682\">\(HTML.escape(String(HTML.time(tick).dropFirst(5))))</text>\n"
            tick += sixHours
        }
        // The level as bands.
        for band in levelBands(reports, levelBefore: levelBefore, start: start, end: end) {
            svg += "<rect class=\"level-band\" data-level=\"\(band.level.name)\" x=\"\(f(x(band.from)))\" y=\"\(f(stripTop))\" "
                + "width=\"\(f(max(0.5, x(band.to) - x(band.from))))\" height=\"\(f(levelStripHeightPixels))\" fill=\"\(colour(band.level))\"/>\n"
        }
        svg += "<text x=\"4\" y=\"\(f(stripTop + 17))\">预警等级</text>\n"
        for (index, panel) in panels.enumerated() {
            let top = panelsTop + Double(index) * (panelHeightPixels + panelGapPixels)
            let values = panel.points.map(\.value)
            var low = panel.bars ? 0 : (values.min() ?? 0)
            var high = values.max() ?? 1
            if high - low < 1e-9 {
                high += 1
                low = panel.bars ? 0 : low - 1
            }
            func y(_ value: Double) -> Double { top + panelHeightPixels - panelHeightPixels * (value - low) / (high - low) }
            svg += "<g class=\"panel\"><rect x=\"\(f(marginLeftPixels))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(panelHeightPixels))\" fill=\"none\" stroke=\"#c9ced4\"/>"
            svg += "<text x=\"\(f(marginLeftPixels))\" y=\"\(f(top - 5))\" font-weight=\"bold\">\(HTML.escape(panel.title))（\(panel.unit)）</text>"
            svg += "<text x=\"\(f(marginLeftPixels - 4))\" y=\"\(f(top + 10))\" text-anchor=\"end\">\(number(high))</text>"
            svg += "<text x=\"\(f(marginLeftPixels - 4))\" y=\"\(f(top + panelHeightPixels))\" text-anchor=\"end\">\(number(low))</text>"
            if panel.bars {
                let barWidth = max(1, plotWidth / Double(max(1, panel.points.count)) * 0.8)
                for point in panel.points where point.value > 0 {
                    svg += "<rect x=\"\(f(x(point.time) - barWidth))\" y=\"\(f(y(point.value)))\" width=\"\(f(barWidth))\" "
                        + "height=\"\(f(top + panelHeightPixels - y(point.value)))\" fill=\"\(panel.colour)\"/>"
                }
            } else {
                let path = panel.points.map { "\(f(x($0.time))),\(f(y($0.value)))" }.joined(separator: " ")
                svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(panel.colour)\" stroke-width=\"1.6\"/>"
            }
            svg += "</g>\n"
        }
        if panels.isEmpty {
            svg += "<text x=\"\(f(marginLeftPixels))\" y=\"\(f(panelsTop + 10))\" fill=\"#6b7682\">此时段内县里没有这个站的观测汇总</text>\n"
        }
        svg += "</svg>"
        return svg
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func number(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(format: "%.2f", value)
    }
}
