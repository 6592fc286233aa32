// A station's level chart (SVG), drawn one way for both programs: `simulate --chart` on the box's
// side and the county dashboard's station page. The level as coloured bands (a drill's under it),
// rain per hour, and each rule's measure against its thresholds, on one time axis. The callers
// build a `LevelChart` from what they hold (a replay, the reports the county pulled); this draws it.
import CountyProtocol
import WarningLogic

package struct LevelChart: Sendable {
    /// One stretch of one level.
    package struct Band: Sendable, Equatable {
        package var from: Timestamp
        package var to: Timestamp
        package var level: WarningLevel

        package init(from: Timestamp, to: Timestamp, level: WarningLevel) {
            self.from = from
            self.to = to
            self.level = level
        }
    }

    /// Rain per bar (an hour, or a longer summary period), per gauge.
    package struct RainBars: Sendable {
        package struct Bar: Sendable {
            package var start: Timestamp
            package var end: Timestamp
            package var millimeters: Double

            package init(start: Timestamp, end: Timestamp, millimeters: Double) {
                self.start = start
                self.end = end
                self.millimeters = millimeters
            }
        }

        package var title: String
        package var gauges: [(id: String, bars: [Bar])]

        package init(title: String, gauges: [(id: String, bars: [Bar])]) {
            self.title = title
            self.gauges = gauges
        }
    }

    /// A threshold as it stood from `from` to `to`: a rule changed at the box shows as a step.
    package struct Threshold: Sendable, Equatable {
        package var ruleId: String
        package var level: WarningLevel
        package var value: Double
        package var from: Timestamp
        package var to: Timestamp

        package init(ruleId: String, level: WarningLevel, value: Double, from: Timestamp, to: Timestamp) {
            self.ruleId = ruleId
            self.level = level
            self.value = value
            self.from = from
            self.to = to
        }
    }

    /// One sensor's measure (as the rules on it compute it) against their thresholds.
    package struct Panel: Sendable {
        package var title: String
        package var sensorId: String
        /// The measure's configuration name (`rain_1h`, `tangent_angle`).
        package var measure: String
        package var unit: String
        /// A nil value breaks the line: the sensor was faulty, or nothing was reported then.
        package var points: [(time: Timestamp, value: Double?)]
        package var thresholds: [Threshold]
        /// Values the y axis always covers (0 to 90 for an angle), besides 0, the data and thresholds.
        package var axisIncludes: [Double]
        /// Said inside the panel when it has no value at all (why, in the reader's words).
        package var noValueNote: String?

        package init(
            title: String, sensorId: String, measure: String, unit: String, points: [(time: Timestamp, value: Double?)],
            thresholds: [Threshold], axisIncludes: [Double] = [], noValueNote: String? = nil
        ) {
            self.title = title
            self.sensorId = sensorId
            self.measure = measure
            self.unit = unit
            self.points = points
            self.thresholds = thresholds
            self.axisIncludes = axisIncludes
            self.noValueNote = noValueNote
        }
    }

    /// The fixed words of the chart: `simulate` writes for an engineer in English, the county's
    /// page is in Chinese.
    package enum Language: Sendable {
        case english
        case chinese

        func legend(_ level: WarningLevel) -> String {
            switch self {
            case .english: level == .none ? "none 无" : "\(level.name) \(level.chineseName.prefix(1))"
            case .chinese: level == .none ? "无预警" : level.chineseName
            }
        }

        func thresholdLabel(_ level: WarningLevel) -> String {
            switch self {
            case .english: level.name
            case .chinese: String(level.chineseName.prefix(1))
            }
        }

        var stationLevel: String { self == .english ? "Station level" : "预警等级" }
        var drill: String { self == .english ? "drill" : "演练" }
        var measure: String { self == .english ? "measure" : "测值" }
        var threshold: String { self == .english ? "threshold (≥ reaches the level)" : "阈值（达到即为该级）" }
        var peak: String { self == .english ? "peak" : "峰值" }
    }

    package var title: String
    package var subtitle: String
    package var start: Timestamp
    package var end: Timestamp
    /// Time labels are in the station's local time.
    package var utcOffsetMinutes: Int
    package var language: Language
    package var levelBands: [Band]
    package var drillBands: [Band]
    package var rain: RainBars?
    package var panels: [Panel]

    package init(
        title: String, subtitle: String, start: Timestamp, end: Timestamp, utcOffsetMinutes: Int, language: Language,
        levelBands: [Band], drillBands: [Band], rain: RainBars?, panels: [Panel]
    ) {
        self.title = title
        self.subtitle = subtitle
        self.start = start
        self.end = end
        self.utcOffsetMinutes = utcOffsetMinutes
        self.language = language
        self.levelBands = levelBands
        self.drillBands = drillBands
        self.rain = rain
        self.panels = panels
    }

    static let widthPixels = 1280.0
    static let marginLeftPixels = 78.0
    static let marginRightPixels = 150.0
    static let panelHeightPixels = 120.0
    static let panelGapPixels = 42.0
    static let levelStripHeightPixels = 30.0
    /// A chart is a picture for people: beyond this many panels it stops being readable.
    package static let panelsMax = 16

    package static func colour(_ level: WarningLevel) -> String {
        switch level {
        case .none: "#e8ecef"
        case .blue: "#1f6fd1"
        case .yellow: "#e8b800"
        case .orange: "#f07c00"
        case .red: "#d62728"
        }
    }

    /// Level stretches from level changes in time order: the level `initial` holds from `start`
    /// to the first change, each change's level to the next; clipped to the chart.
    package static func bands(changes: [(time: Timestamp, to: WarningLevel)], initial: WarningLevel, start: Timestamp, end: Timestamp) -> [Band] {
        var bands: [Band] = []
        var current = initial
        var since = start
        for change in changes {
            let time = min(max(change.time, start), end)
            if time > since { bands.append(Band(from: since, to: time, level: current)) }
            current = change.to
            since = time
        }
        if end > since { bands.append(Band(from: since, to: end, level: current)) }
        return bands
    }

    /// The SVG: a file of its own, or an element with `inlineId` for an HTML page.
    package func render(inlineId: String? = nil) -> String {
        let panels = Array(self.panels.prefix(Self.panelsMax))
        let start = self.start
        let end = max(self.end, start.adding(milliseconds: Milliseconds.hour))
        let plotWidth = Self.widthPixels - Self.marginLeftPixels - Self.marginRightPixels
        func x(_ time: Timestamp) -> Double {
            let clamped = min(max(time, start), end)
            return Self.marginLeftPixels + plotWidth * Double(clamped.milliseconds(since: start)) / Double(end.milliseconds(since: start))
        }
        let headerHeight = 92.0
        var top = headerHeight
        let stripTop = top
        top += Self.levelStripHeightPixels + Self.panelGapPixels
        let rainTop = top
        if rain != nil { top += Self.panelHeightPixels + Self.panelGapPixels }
        let panelsTop = top
        let height = panelsTop + Double(panels.count) * (Self.panelHeightPixels + Self.panelGapPixels) + 24

        var svg = SVGWriter(width: Self.widthPixels, height: height)
        svg.rect(x: 0, y: 0, width: Self.widthPixels, height: height, fill: "#ffffff")
        svg.text(title, x: Self.marginLeftPixels, y: 30, size: 20, weight: "bold")
        svg.text(subtitle, x: Self.marginLeftPixels, y: 52, size: 13, fill: "#444")
        // Legend of level colours.
        var legendX = Self.marginLeftPixels
        for level in WarningLevel.allCases {
            svg.rect(x: legendX, y: 64, width: 14, height: 14, fill: Self.colour(level), stroke: "#999")
            svg.text(language.legend(level), x: legendX + 19, y: 76, size: 12)
            legendX += 92
        }
        svg.line(x1: legendX + 10, y1: 71, x2: legendX + 40, y2: 71, stroke: "#222", width: 2)
        svg.text(language.measure, x: legendX + 45, y: 76, size: 12)
        svg.line(x1: legendX + 120, y1: 71, x2: legendX + 150, y2: 71, stroke: "#888", width: 1.5, dash: "6 4")
        svg.text(language.threshold, x: legendX + 155, y: 76, size: 12)

        let ticks = Self.timeTicks(start: start, end: end, utcOffsetMinutes: utcOffsetMinutes)

        // Station level bands: the real level, and a drill's level as a thin band under it.
        svg.text(language.stationLevel, x: Self.marginLeftPixels - 8, y: stripTop + Self.levelStripHeightPixels / 2 + 4, size: 12, anchor: "end")
        for band in levelBands {
            svg.rect(
                x: x(band.from), y: stripTop, width: max(0.5, x(band.to) - x(band.from)), height: Self.levelStripHeightPixels,
                fill: Self.colour(band.level), attributes: [("class", "level-band"), ("data-level", band.level.name)])
            if band.level != .none, x(band.to) - x(band.from) > 40 {
                svg.text(language.thresholdLabel(band.level), x: (x(band.from) + x(band.to)) / 2, y: stripTop + Self.levelStripHeightPixels / 2 + 4, size: 11, fill: "#fff", anchor: "middle", weight: "bold")
            }
        }
        for band in drillBands where band.level != .none {
            svg.rect(
                x: x(band.from), y: stripTop + Self.levelStripHeightPixels, width: max(0.5, x(band.to) - x(band.from)), height: 6,
                fill: Self.colour(band.level), attributes: [("class", "drill-band"), ("data-level", band.level.name)])
            svg.text(language.drill, x: x(band.from) + 2, y: stripTop + Self.levelStripHeightPixels + 16, size: 10, fill: "#444")
        }
        svg.rect(x: Self.marginLeftPixels, y: stripTop, width: plotWidth, height: Self.levelStripHeightPixels, fill: "none", stroke: "#888")

        if let rain {
            drawRain(&svg, rain, top: rainTop, x: x, ticks: ticks, plotWidth: plotWidth)
        }
        for (index, panel) in panels.enumerated() {
            drawPanel(&svg, panel, top: panelsTop + Double(index) * (Self.panelHeightPixels + Self.panelGapPixels), x: x, ticks: ticks, plotWidth: plotWidth)
        }
        return svg.finish(inlineId: inlineId)
    }

    private func drawRain(_ svg: inout SVGWriter, _ rain: RainBars, top: Double, x: (Timestamp) -> Double, ticks: [(Timestamp, String)], plotWidth: Double) {
        let maxMillimeters = rain.gauges.flatMap { $0.bars.map(\.millimeters) }.max() ?? 0
        let axis = Self.niceAxis(minimum: 0, maximum: max(maxMillimeters, 1))
        func y(_ value: Double) -> Double { top + Self.panelHeightPixels * (1 - (value - axis.minimum) / (axis.maximum - axis.minimum)) }
        svg.open(group: [("class", "panel"), ("data-measure", "rain_per_hour")])
        Self.drawFrame(&svg, title: rain.title, top: top, axis: axis, y: y, x: x, ticks: ticks, plotWidth: plotWidth, unit: "mm")
        let palette = ["#3b7dd8", "#5aa469", "#9467bd", "#8c564b"]
        for (gaugeIndex, gauge) in rain.gauges.enumerated() {
            let fill = palette[gaugeIndex % palette.count]
            let share = 1.0 / Double(rain.gauges.count)
            for bar in gauge.bars where bar.millimeters > 0 {
                let left = x(bar.start)
                let width = max(0.8, (x(bar.end) - left) * 0.9 * share)
                svg.rect(x: left + width * Double(gaugeIndex), y: y(bar.millimeters), width: width, height: y(0) - y(bar.millimeters), fill: fill)
            }
            svg.text("■ \(gauge.id)", x: Self.marginLeftPixels + plotWidth + 10, y: top + 14 + 16 * Double(gaugeIndex), size: 12, fill: fill)
        }
        svg.close()
    }

    private func drawPanel(_ svg: inout SVGWriter, _ panel: Panel, top: Double, x: (Timestamp) -> Double, ticks: [(Timestamp, String)], plotWidth: Double) {
        let values = panel.points.compactMap(\.value)
        let covered = values + panel.thresholds.map(\.value) + panel.axisIncludes
        let minimum = min(0, covered.min() ?? 0)
        var maximum = max(covered.max() ?? 1, minimum)
        if maximum <= minimum { maximum = minimum + 1 }
        let axis = Self.niceAxis(minimum: minimum, maximum: maximum)
        func y(_ value: Double) -> Double { top + Self.panelHeightPixels * (1 - (value - axis.minimum) / (axis.maximum - axis.minimum)) }
        svg.open(group: [("class", "panel"), ("data-sensor", panel.sensorId), ("data-measure", panel.measure)])
        Self.drawFrame(&svg, title: panel.title, top: top, axis: axis, y: y, x: x, ticks: ticks, plotWidth: plotWidth, unit: panel.unit)
        // Thresholds: dashed, in the colour of the level they reach, each over the time it held.
        // Those in force at the chart's end are labelled at the right; an earlier value where it began.
        var labelYs: [Double] = []
        for threshold in panel.thresholds.sorted(by: { $0.value < $1.value }) {
            let lineY = y(threshold.value)
            svg.line(
                x1: x(threshold.from), y1: lineY, x2: x(threshold.to), y2: lineY, stroke: Self.colour(threshold.level), width: 1.5, dash: "7 4",
                attributes: [("class", "threshold"), ("data-rule", threshold.ruleId), ("data-level", threshold.level.name),
                             ("data-value", Self.formatNumber(threshold.value))])
            let label = "\(language.thresholdLabel(threshold.level)) \(Self.formatNumber(threshold.value)) \(panel.unit)"
            if threshold.to >= end {
                var labelY = lineY + 4
                if let last = labelYs.last, last - labelY < 12 { labelY = last - 12 }
                labelYs.append(labelY)
                svg.text(label, x: Self.marginLeftPixels + plotWidth + 10, y: labelY, size: 12, fill: Self.colour(threshold.level))
            } else {
                svg.text(label, x: x(threshold.from) + 2, y: lineY - 3, size: 10, fill: Self.colour(threshold.level))
            }
        }
        // The measure: a polyline, broken where the sensor was faulty or had no data.
        var segment: [(Double, Double)] = []
        let measureAttributes = [("class", "measure")]
        func flush() {
            if segment.count > 1 { svg.polyline(segment, stroke: "#222", width: 1.8, attributes: measureAttributes) }
            if segment.count == 1 { svg.circle(cx: segment[0].0, cy: segment[0].1, r: 1.5, fill: "#222", attributes: measureAttributes) }
            segment.removeAll()
        }
        for point in panel.points {
            if let value = point.value { segment.append((x(point.time), y(value))) } else { flush() }
        }
        flush()
        if let peak = values.max() {
            svg.text("\(language.peak) \(Self.formatNumber(peak)) \(panel.unit)", x: Self.marginLeftPixels + plotWidth - 4, y: top + 13, size: 11, fill: "#222", anchor: "end")
        } else if let note = panel.noValueNote {
            // Top left, clear of the threshold lines' labels at the right.
            svg.text(note, x: Self.marginLeftPixels + 8, y: top + 16, size: 12, fill: "#6b7682")
        }
        svg.close()
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

    package struct Axis {
        package var minimum: Double
        package var maximum: Double
        package var ticks: [Double]
    }

    /// A y axis on round numbers (1, 2 or 5 × 10ⁿ steps), four to six ticks.
    package static func niceAxis(minimum: Double, maximum: Double) -> Axis {
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
    package static func timeTicks(start: Timestamp, end: Timestamp, utcOffsetMinutes: Int) -> [(Timestamp, String)] {
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

    package static func formatNumber(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e9 { return String(Int64(value)) }
        let rounded = (value * 100).rounded() / 100
        return String(rounded)
    }
}
