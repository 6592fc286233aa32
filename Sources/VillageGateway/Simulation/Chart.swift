// The replay chart (SVG): the station level as coloured bands, hourly rain, and each rule's
// measure against its thresholds, on one time axis, for a county engineer to read.
import WarningLogic

struct ChartInput {
    var title: String
    var subtitle: String
    var configuration: EngineConfiguration
    var result: SimulationResult
    /// Rain per gauge per local hour, in mm, hours in order.
    var hourlyRain: [(gaugeId: String, hours: [(start: Timestamp, millimeters: Double)])]
    var utcOffsetMinutes: Int
}

enum Chart {
    static let widthPixels = 1280.0
    static let marginLeftPixels = 78.0
    static let marginRightPixels = 150.0
    static let panelHeightPixels = 120.0
    static let panelGapPixels = 42.0
    static let levelStripHeightPixels = 30.0
    /// A chart is a picture for people: beyond this many panels it stops being readable.
    static let panelsMax = 16

    static func colour(_ level: WarningLevel) -> String {
        switch level {
        case .none: "#e8ecef"
        case .blue: "#1f6fd1"
        case .yellow: "#e8b800"
        case .orange: "#f07c00"
        case .red: "#d62728"
        }
    }

    /// One panel per distinct (sensor, measure) that has data, with the thresholds of every rule on it.
    struct Panel {
        var sensorId: String
        var measure: Measure
        var ruleIds: [String]
        var thresholds: [(level: WarningLevel, value: Double)]
        var points: [(time: Timestamp, value: Double?)]
    }

    static func panels(_ input: ChartInput) -> [Panel] {
        var panels: [Panel] = []
        for rule in input.configuration.rules {
            if let index = panels.firstIndex(where: { $0.sensorId == rule.sensorId && $0.measure == rule.measure }) {
                panels[index].ruleIds.append(rule.id)
                for threshold in rule.thresholds.defined where !panels[index].thresholds.contains(where: { $0.value == threshold.value }) {
                    panels[index].thresholds.append(threshold)
                }
                continue
            }
            let points = input.result.samples.map { sample in
                (sample.time, sample.measures.first(where: { $0.ruleId == rule.id })?.value)
            }
            guard points.contains(where: { $0.1 != nil }) else { continue }
            panels.append(Panel(sensorId: rule.sensorId, measure: rule.measure, ruleIds: [rule.id], thresholds: rule.thresholds.defined, points: points))
        }
        return Array(panels.prefix(panelsMax))
    }

    static func render(_ input: ChartInput) -> String {
        let panels = panels(input)
        let start = input.result.firstTime
        let end = max(input.result.lastTime, start.adding(milliseconds: Milliseconds.hour))
        let plotWidth = widthPixels - marginLeftPixels - marginRightPixels
        func x(_ time: Timestamp) -> Double {
            marginLeftPixels + plotWidth * Double(time.milliseconds(since: start)) / Double(end.milliseconds(since: start))
        }
        let hasRain = !input.hourlyRain.isEmpty
        let headerHeight = 92.0
        var top = headerHeight
        let stripTop = top
        top += levelStripHeightPixels + panelGapPixels
        let rainTop = top
        if hasRain { top += panelHeightPixels + panelGapPixels }
        let panelsTop = top
        let height = panelsTop + Double(panels.count) * (panelHeightPixels + panelGapPixels) + 24

        var svg = SVGWriter(width: widthPixels, height: height)
        svg.rect(x: 0, y: 0, width: widthPixels, height: height, fill: "#ffffff")
        svg.text(input.title, x: marginLeftPixels, y: 30, size: 20, weight: "bold")
        svg.text(input.subtitle, x: marginLeftPixels, y: 52, size: 13, fill: "#444")
        // Legend of level colours.
        var legendX = marginLeftPixels
        for level in WarningLevel.allCases {
            svg.rect(x: legendX, y: 64, width: 14, height: 14, fill: colour(level), stroke: "#999")
            let label = level == .none ? "none 无" : "\(level.name) \(level.chineseName.prefix(1))"
            svg.text(label, x: legendX + 19, y: 76, size: 12)
            legendX += 92
        }
        svg.line(x1: legendX + 10, y1: 71, x2: legendX + 40, y2: 71, stroke: "#222", width: 2)
        svg.text("measure", x: legendX + 45, y: 76, size: 12)
        svg.line(x1: legendX + 120, y1: 71, x2: legendX + 150, y2: 71, stroke: "#888", width: 1.5, dash: "6 4")
        svg.text("threshold (≥ reaches the level)", x: legendX + 155, y: 76, size: 12)

        let timeTicks = timeTicks(start: start, end: end, utcOffsetMinutes: input.utcOffsetMinutes)

        // Station level bands: the real level, and a drill's level as a hatched band under it.
        svg.text("Station level", x: marginLeftPixels - 8, y: stripTop + levelStripHeightPixels / 2 + 4, size: 12, anchor: "end")
        for band in levelBands(input.result, start: start, end: end, exercise: false) {
            svg.rect(x: x(band.from), y: stripTop, width: max(0.5, x(band.to) - x(band.from)), height: levelStripHeightPixels, fill: colour(band.level))
            if band.level != .none, x(band.to) - x(band.from) > 40 {
                svg.text(band.level.name, x: (x(band.from) + x(band.to)) / 2, y: stripTop + levelStripHeightPixels / 2 + 4, size: 11, fill: "#fff", anchor: "middle", weight: "bold")
            }
        }
        for band in levelBands(input.result, start: start, end: end, exercise: true) where band.level != .none {
            svg.rect(x: x(band.from), y: stripTop + levelStripHeightPixels, width: max(0.5, x(band.to) - x(band.from)), height: 6, fill: colour(band.level))
            svg.text("drill", x: x(band.from) + 2, y: stripTop + levelStripHeightPixels + 16, size: 10, fill: "#444")
        }
        svg.rect(x: marginLeftPixels, y: stripTop, width: plotWidth, height: levelStripHeightPixels, fill: "none", stroke: "#888")

        if hasRain {
            drawRainBars(&svg, input: input, top: rainTop, x: x, ticks: timeTicks, plotWidth: plotWidth)
        }
        for (index, panel) in panels.enumerated() {
            let panelTop = panelsTop + Double(index) * (panelHeightPixels + panelGapPixels)
            drawPanel(&svg, panel: panel, top: panelTop, x: x, ticks: timeTicks, plotWidth: plotWidth, input: input)
        }
        return svg.finish()
    }

    struct Band {
        var from: Timestamp
        var to: Timestamp
        var level: WarningLevel
    }

    /// Level intervals from the exact level-change actions (not from samples, so a band starts
    /// at the instant the level changed).
    static func levelBands(_ result: SimulationResult, start: Timestamp, end: Timestamp, exercise: Bool) -> [Band] {
        var bands: [Band] = []
        var current = WarningLevel.none
        var since = start
        for timed in result.actions {
            guard case .levelChanged(let change) = timed.action, change.exercise == exercise else { continue }
            if timed.time > since { bands.append(Band(from: since, to: timed.time, level: current)) }
            current = change.to
            since = timed.time
        }
        if end > since { bands.append(Band(from: since, to: end, level: current)) }
        return bands
    }

    static func drawRainBars(_ svg: inout SVGWriter, input: ChartInput, top: Double, x: (Timestamp) -> Double, ticks: [(Timestamp, String)], plotWidth: Double) {
        let maxMillimeters = input.hourlyRain.flatMap { $0.hours.map(\.millimeters) }.max() ?? 0
        let axis = niceAxis(minimum: 0, maximum: max(maxMillimeters, 1))
        func y(_ value: Double) -> Double { top + panelHeightPixels * (1 - (value - axis.minimum) / (axis.maximum - axis.minimum)) }
        drawFrame(&svg, title: "Hourly rain (mm per hour)", top: top, axis: axis, y: y, x: x, ticks: ticks, plotWidth: plotWidth, unit: "mm")
        let palette = ["#3b7dd8", "#5aa469", "#9467bd", "#8c564b"]
        for (gaugeIndex, gauge) in input.hourlyRain.enumerated() {
            let fill = palette[gaugeIndex % palette.count]
            let share = 1.0 / Double(input.hourlyRain.count)
            for hour in gauge.hours where hour.millimeters > 0 {
                let left = x(hour.start)
                let right = x(hour.start.adding(milliseconds: Milliseconds.hour))
                let width = max(0.8, (right - left) * 0.9 * share)
                svg.rect(x: left + width * Double(gaugeIndex), y: y(hour.millimeters), width: width, height: y(0) - y(hour.millimeters), fill: fill)
            }
            svg.text("■ \(gauge.gaugeId)", x: marginLeftPixels + plotWidth + 10, y: top + 14 + 16 * Double(gaugeIndex), size: 12, fill: fill)
        }
    }

    static func drawPanel(_ svg: inout SVGWriter, panel: Panel, top: Double, x: (Timestamp) -> Double, ticks: [(Timestamp, String)], plotWidth: Double, input: ChartInput) {
        let values = panel.points.compactMap(\.value)
        let thresholdValues = panel.thresholds.map(\.value)
        var minimum = min(0, values.min() ?? 0)
        var maximum = max(values.max() ?? 1, thresholdValues.max() ?? 1)
        if case .tangentAngle = panel.measure { minimum = min(minimum, 0); maximum = max(maximum, 90) }
        if maximum <= minimum { maximum = minimum + 1 }
        let axis = niceAxis(minimum: minimum, maximum: maximum)
        func y(_ value: Double) -> Double { top + panelHeightPixels * (1 - (value - axis.minimum) / (axis.maximum - axis.minimum)) }
        let title = "\(panel.ruleIds.joined(separator: ", ")) — \(panel.measure.name) of \(panel.sensorId) (\(panel.measure.unit))"
        drawFrame(&svg, title: title, top: top, axis: axis, y: y, x: x, ticks: ticks, plotWidth: plotWidth, unit: panel.measure.unit)
        // Thresholds: dashed, in the colour of the level they reach, labelled at the right.
        var labelYs: [Double] = []
        for threshold in panel.thresholds.sorted(by: { $0.value < $1.value }) {
            let lineY = y(threshold.value)
            svg.line(x1: marginLeftPixels, y1: lineY, x2: marginLeftPixels + plotWidth, y2: lineY, stroke: colour(threshold.level), width: 1.5, dash: "7 4")
            var labelY = lineY + 4
            if let last = labelYs.last, last - labelY < 12 { labelY = last - 12 }
            labelYs.append(labelY)
            svg.text("\(threshold.level.name) \(formatNumber(threshold.value)) \(panel.measure.unit)", x: marginLeftPixels + plotWidth + 10, y: labelY, size: 12, fill: colour(threshold.level))
        }
        // The measure: a polyline, broken where the sensor was faulty or had no data.
        var segment: [(Double, Double)] = []
        func flush() {
            if segment.count > 1 { svg.polyline(segment, stroke: "#222", width: 1.8) }
            if segment.count == 1 { svg.circle(cx: segment[0].0, cy: segment[0].1, r: 1.5, fill: "#222") }
            segment.removeAll()
        }
        for point in panel.points {
            if let value = point.value { segment.append((x(point.time), y(value))) } else { flush() }
        }
        flush()
        if let peak = panel.points.compactMap({ point in point.value.map { (point.time, $0) } }).max(by: { $0.1 < $1.1 }) {
            svg.text("peak \(formatNumber(peak.1)) \(panel.measure.unit)", x: marginLeftPixels + plotWidth - 4, y: top + 13, size: 11, fill: "#222", anchor: "end")
        }
    }

    static func drawFrame(_ svg: inout SVGWriter, title: String, top: Double, axis: Axis, y: (Double) -> Double, x: (Timestamp) -> Double, ticks: [(Timestamp, String)], plotWidth: Double, unit: String) {
        svg.text(title, x: marginLeftPixels, y: top - 8, size: 13, weight: "bold")
        svg.rect(x: marginLeftPixels, y: top, width: plotWidth, height: panelHeightPixels, fill: "#fbfbfb", stroke: "#888")
        for value in axis.ticks {
            let lineY = y(value)
            svg.line(x1: marginLeftPixels, y1: lineY, x2: marginLeftPixels + plotWidth, y2: lineY, stroke: "#e2e2e2", width: 1)
            svg.text("\(formatNumber(value))", x: marginLeftPixels - 6, y: lineY + 4, size: 11, fill: "#444", anchor: "end")
        }
        svg.text(unit, x: marginLeftPixels - 6, y: top - 8, size: 11, fill: "#444", anchor: "end")
        for (time, label) in ticks {
            let lineX = x(time)
            svg.line(x1: lineX, y1: top, x2: lineX, y2: top + panelHeightPixels, stroke: "#e2e2e2", width: 1)
            svg.text(label, x: lineX, y: top + panelHeightPixels + 14, size: 11, fill: "#444", anchor: "middle")
        }
    }

    struct Axis {
        var minimum: Double
        var maximum: Double
        var ticks: [Double]
    }

    /// A y axis on round numbers (1, 2 or 5 × 10ⁿ steps), four to six ticks.
    static func niceAxis(minimum: Double, maximum: Double) -> Axis {
        let span = maximum - minimum
        let roughStep = span / 5
        var magnitude = 1.0
        while magnitude * 10 <= roughStep { magnitude *= 10 }
        while magnitude > roughStep { magnitude /= 10 }
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first(where: { $0 >= roughStep }) ?? magnitude * 10
        let low = (minimum / step).rounded(.down) * step
        let high = (maximum * 1.05 / step).rounded(.up) * step
        var ticks: [Double] = []
        var value = low
        while value <= high + step / 2 && ticks.count < 20 {
            ticks.append(value)
            value += step
        }
        return Axis(minimum: low, maximum: max(high, low + step), ticks: ticks)
    }

    /// Time labels in the station's local time, at a step that gives about 6–14 labels.
    static func timeTicks(start: Timestamp, end: Timestamp, utcOffsetMinutes: Int) -> [(Timestamp, String)] {
        let span = end.milliseconds(since: start)
        let steps: [Int64] = [1, 2, 3, 6, 12, 24, 48, 72, 168].map { $0 * Milliseconds.hour }
        let step = steps.first(where: { span / $0 <= 14 }) ?? 336 * Milliseconds.hour
        let offset = Int64(utcOffsetMinutes) * Milliseconds.minute
        var local = ((start.millisecondsSinceUnixEpoch + offset) / step + 1) * step
        var ticks: [(Timestamp, String)] = []
        while local - offset < end.millisecondsSinceUnixEpoch && ticks.count < 40 {
            let time = Timestamp(millisecondsSinceUnixEpoch: local - offset)
            let fields = ISO8601.localFields(time, utcOffsetMinutes: utcOffsetMinutes)
            func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
            let label = step >= Milliseconds.day || fields.hour == 0
                ? "\(two(fields.month))-\(two(fields.day))"
                : "\(two(fields.month))-\(two(fields.day)) \(two(fields.hour)):\(two(fields.minute))"
            ticks.append((time, label))
            local += step
        }
        return ticks
    }

    static func formatNumber(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e9 { return String(Int64(value)) }
        let rounded = (value * 100).rounded() / 100
        return String(rounded)
    }
}

/// A minimal SVG builder: shapes and text, XML-escaped, numbers rounded to 0.1 px.
struct SVGWriter {
    private var body: [String] = []
    let width: Double
    let height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    private static func number(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil) {
        let strokeAttribute = stroke.map { " stroke=\"\($0)\"" } ?? ""
        body.append("<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" fill=\"\(fill)\"\(strokeAttribute)/>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double, dash: String? = nil) {
        let dashAttribute = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        body.append("<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\"\(dashAttribute)/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double) {
        let list = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.number(width))\" stroke-linejoin=\"round\"/>")
    }

    mutating func circle(cx: Double, cy: Double, r: Double, fill: String) {
        body.append("<circle cx=\"\(Self.number(cx))\" cy=\"\(Self.number(cy))\" r=\"\(Self.number(r))\" fill=\"\(fill)\"/>")
    }

    mutating func text(_ text: String, x: Double, y: Double, size: Double, fill: String = "#111", anchor: String = "start", weight: String = "normal") {
        body.append("<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\" fill=\"\(fill)\" text-anchor=\"\(anchor)\" font-weight=\"\(weight)\">\(Self.escape(text))</text>")
    }

    func finish() -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.number(width))" height="\(Self.number(height))" viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="Noto Sans CJK SC, WenQuanYi Micro Hei, Microsoft YaHei, DejaVu Sans, sans-serif">
        \(body.joined(separator: "\n"))
        </svg>

        """
    }
}
