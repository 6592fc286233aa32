// The station page's chart (issue 17 item 2): the rules a box's summaries carry are drawn against
// the thresholds that applied at each time, across a change; the tangent angle the engine computes
// travels in the summary to the county and is drawn; the county and `simulate` draw with one code.
import ChartDrawing
import CountyDashboard
import CountyProtocol
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct DashboardChartTests {
    static let station = "0011223344"

    /// A county-side report as the pull stores it.
    static func stored(_ sequence: Int64, _ time: Int64, _ kind: String, _ payload: String, exercise: Bool = false) -> StoredReport {
        StoredReport(
            station: station, sequence: sequence, timeMilliseconds: time,
            time: ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: time), utcOffsetMinutes: 480), kind: kind, priority: "routine",
            exercise: exercise, payload: payload)
    }

    /// A v2 summary whose rain-1h rule reads `value` against `thresholds`.
    static func summary(_ time: Int64, value: Double?, thresholds: String) -> String {
        let valueField = value.map { #","value":\#($0)"# } ?? ""
        return #"{"level":"none","observed_at_milliseconds":\#(time),"period_milliseconds":3600000,"#
            + #""rules":[{"id":"rain-1h","level_met":"none","measure":"rain_1h","sensor_id":"rain1","thresholds":\#(thresholds),"unit":"mm"\#(valueField)}],"#
            + #""sensors":[{"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters_period":\#(value ?? 0)}]}"#
    }

    /// The SVG elements (`<line …/>`, `<polyline …/>`) whose text holds every one of `markers`.
    static func elements(_ tag: String, in svg: String, with markers: [String] = []) -> [String] {
        svg.components(separatedBy: "\n").flatMap { line in
            line.components(separatedBy: "<\(tag) ").dropFirst().map { "<\(tag) " + $0.prefix { $0 != ">" } }
        }.filter { element in markers.allSatisfy(element.contains) }
    }

    static func attribute(_ name: String, _ element: String) -> Double? {
        guard let range = element.range(of: " \(name)=\"") else { return nil }
        return Double(element[range.upperBound...].prefix { $0 != "\"" })
    }

    /// The panel group of one measure: its text from `<g … data-measure="…">` to its `</g>`.
    static func panel(_ measure: String, in svg: String) -> String? {
        guard let start = svg.range(of: "data-measure=\"\(measure)\">") else { return nil }
        return String(svg[start.upperBound...]).components(separatedBy: "</g>")[0]
    }

    @Test func aRuleIsDrawnAgainstTheThresholdsThatAppliedAtEachTimeAcrossAChange() throws {
        let hour: Int64 = 3_600_000
        let t0 = DashboardTests.stormStart
        let before = #"{"blue":35,"orange":60,"red":80,"yellow":45}"#
        // The box's gateway.toml was changed between 02:00 and 03:00: red 80 → 70 mm.
        let after = #"{"blue":35,"orange":60,"red":70,"yellow":45}"#
        let reports = [
            Self.stored(1, t0, "observation_summary", Self.summary(t0, value: 10, thresholds: before)),
            Self.stored(2, t0 + hour, "observation_summary", Self.summary(t0 + hour, value: 80, thresholds: before)),
            Self.stored(3, t0 + hour + 60_000, "level_changed", #"{"causes":["rain-1h"],"from":"none","to":"red"}"#),
            Self.stored(4, t0 + 3 * hour, "observation_summary", Self.summary(t0 + 3 * hour, value: 40, thresholds: after)),
            // The summaries of 04:00 and 05:00 never reached the county: the line breaks.
            Self.stored(5, t0 + 6 * hour, "observation_summary", Self.summary(t0 + 6 * hour, value: 30, thresholds: after)),
            Self.stored(6, t0 + 7 * hour, "observation_summary", Self.summary(t0 + 7 * hour, value: 20, thresholds: after)),
        ]
        let chart = StationChart.chart(reports: reports, name: "黄坑村", levelBefore: .none, windowMilliseconds: 72 * hour)
        let panel = try #require(chart.panels.first { $0.measure == "rain_1h" })
        let red = panel.thresholds.filter { $0.level == .red }
        #expect(red.map(\.value) == [80, 70])
        #expect(red.map(\.from.millisecondsSinceUnixEpoch) == [t0, t0 + 3 * hour], "the new value begins at the first summary that carries it")
        #expect(red.map(\.to.millisecondsSinceUnixEpoch) == [t0 + 3 * hour, t0 + 7 * hour])
        #expect(panel.thresholds.filter { $0.level == .blue }.map(\.value) == [35], "an unchanged threshold is one line")
        #expect(panel.title.contains("rain1 1 小时雨量（mm）· 规则 rain-1h"))

        let svg = StationChart.render(reports: reports, name: "黄坑村", levelBefore: .none, windowMilliseconds: 72 * hour)
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "the chart is well-formed SVG: \(parser.parserError.map { "\($0)" } ?? "")")
        let drawn = try #require(Self.panel("rain_1h", in: svg))
        let lines = Self.elements("polyline", in: drawn, with: [#"class="measure""#])
        #expect(lines.count == 2, "the missing summaries break the line: \(lines)")
        // The measure's point at 01:00 is 80 mm, exactly the red threshold then: same height.
        let points = try #require(lines.first.flatMap { line in line.range(of: "points=\"").map { line[$0.upperBound...].prefix { $0 != "\"" } } })
            .split(separator: " ").map { $0.split(separator: ",").compactMap { Double($0) } }
        #expect(points.count == 3)
        let red80 = try #require(Self.elements("line", in: drawn, with: [#"data-level="red""#, #"data-value="80""#]).first)
        let red70 = try #require(Self.elements("line", in: drawn, with: [#"data-level="red""#, #"data-value="70""#]).first)
        #expect(red80.contains(#"stroke="\#(LevelChart.colour(.red))""#), "coloured by the level it reaches")
        #expect(Self.attribute("y1", red80) == points[1][1], "80 mm drawn at the height of an 80 mm reading")
        #expect(Self.attribute("x1", red80) == points[0][0])
        #expect(Self.attribute("x2", red80) == points[2][0], "80 mm held until the 03:00 summary")
        #expect(Self.attribute("x1", red70) == points[2][0])
        #expect((Self.attribute("y1", red70) ?? 0) > (Self.attribute("y1", red80) ?? 0), "70 mm drawn lower than 80 mm")
        // The level band and the chart's own words.
        #expect(svg.contains(#"class="level-band" data-level="red""#))
        #expect(svg.contains("红 70 mm"), "the threshold in force at the end is labelled with its level and unit")
        #expect(Self.panel("rain_per_hour", in: svg) != nil, "the rain per hour from the summaries' periods")
    }

    /// The engine's own tangent angle: a replay of the slope creep on the example configuration,
    /// shown to the real summariser; each summary's v2 payload, as the pull stores it, drawn.
    @Test func theTangentAngleTheEngineComputesTravelsInTheSummaryAndIsDrawn() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
        let scenario = try Scenario.load(path: GatewayBinary.repositoryRoot.path + "/scenarios/slope-creep.csv", configuration: configuration)
        let result = Simulator(configuration: configuration).run(events: scenario.rows.map(\.event))
        var summariser = ObservationSummariser(configuration: configuration, summaryEveryMilliseconds: Milliseconds.hour)
        var summaries: [(summary: ObservationSummary, angle: Double?)] = []
        for sample in result.samples {
            guard let summary = summariser.observe(sample) else { continue }
            let angle = sample.measures.first { $0.measure == .tangentAngle }?.value
            summaries.append((summary, angle))
        }
        let angles = summaries.compactMap { $0.summary.rules?.first { $0.measure == "tangent_angle" } }
        #expect(angles.count == summaries.count, "every summary carries the tangent-angle rule")
        #expect(angles.contains { ($0.value ?? 0) >= 89 }, "the creep reaches red by tangent angle")
        for (entry, rule) in zip(summaries, angles) {
            #expect(rule.value == entry.angle, "the summary's angle is the engine's")
            #expect(rule.id == "slope-angle" && rule.sensorId == "slope1" && rule.unit == "°")
            #expect(rule.thresholds == ["blue": 50, "yellow": 80, "orange": 85, "red": 89])
        }

        let reports = try summaries.enumerated().map { index, entry in
            let box = ObservationSummariser.report(entry.summary)
            return Self.stored(Int64(index + 1), entry.summary.observedAtMilliseconds, "observation_summary",
                               try WirePayload.make(boxKind: box.kind, boxPayload: box.payload))
        }
        #expect(reports.first?.payload.contains(#""measure":"tangent_angle""#) == true)
        #expect(reports.first?.payload.contains(#""level_met":"#) == true)
        let chart = StationChart.chart(reports: reports, name: "黄坑村", levelBefore: .none, windowMilliseconds: 72 * Milliseconds.hour)
        let panel = try #require(chart.panels.first { $0.measure == "tangent_angle" })
        let drawnValues = panel.points.compactMap(\.value)
        #expect(!drawnValues.isEmpty)
        let inWindow = reports.filter { $0.timeMilliseconds >= chart.start.millisecondsSinceUnixEpoch }.count
        let engineValues = summaries.suffix(inWindow).compactMap(\.angle)
        // JSON text keeps 15 significant digits: the same angle, to far below a pixel.
        #expect(drawnValues.count == engineValues.count)
        #expect(zip(drawnValues, engineValues).allSatisfy { abs($0 - $1) < 1e-9 }, "\(drawnValues) against \(engineValues)")
        #expect(panel.axisIncludes == [0, 90], "an angle's axis runs 0–90°")
        let svg = chart.render(inlineId: "chart")
        let drawn = try #require(Self.panel("tangent_angle", in: svg))
        #expect(!Self.elements("polyline", in: drawn, with: [#"class="measure""#]).isEmpty)
        #expect(Self.elements("line", in: drawn, with: [#"class="threshold""#, #"data-level="red""#, #"data-value="89""#]).count == 1)
        #expect(drawn.contains("slope1 改进切线角（°）· 规则 slope-angle"))
    }

    @Test func aBoxThatSentNoRulesStillShowsItsSensorsWithoutThresholds() throws {
        let t0 = DashboardTests.stormStart
        let old = #"{"level":"none","observed_at_milliseconds":\#(t0),"period_milliseconds":3600000,"sensors":[{"faulty":false,"id":"river1","kind":"water_level","water_level_meters":2.5}]}"#
        let chart = StationChart.chart(reports: [Self.stored(1, t0, "observation_summary", old)], name: "黄坑村", levelBefore: .none,
                                       windowMilliseconds: 72 * Milliseconds.hour)
        #expect(chart.panels.map(\.title) == ["river1 水位（m）· 盒子未报规则与阈值"])
        #expect(chart.panels.allSatisfy { $0.thresholds.isEmpty })
    }

    @Test func theReplayChartIsDrawnByTheSharedChartWithItsThresholds() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
        let scenario = try Scenario.load(path: GatewayBinary.repositoryRoot.path + "/scenarios/slope-creep.csv", configuration: configuration)
        let result = Simulator(configuration: configuration).run(events: scenario.rows.map(\.event))
        let svg = Chart.render(ChartInput(title: "t", subtitle: "s", configuration: configuration, result: result, hourlyRain: [], utcOffsetMinutes: 480))
        #expect(svg.hasPrefix("<?xml"), "simulate --chart writes a file of its own")
        let drawn = try #require(Self.panel("tangent_angle", in: svg))
        #expect(Self.elements("line", in: drawn, with: [#"class="threshold""#, #"data-rule="slope-angle""#]).count == 4)
        #expect(drawn.contains("slope-angle — tangent_angle of slope1 (°)"))
    }
}
