// The replay chart (`simulate --chart`): a replay's level changes, hourly rain and each rule's
// measure against its thresholds, handed to the chart both programs draw (ChartDrawing).
import ChartDrawing
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
    /// One panel per distinct (sensor, measure) that has data, with the thresholds of every rule
    /// on it; the configuration does not change during a replay, so each holds throughout.
    static func panels(_ input: ChartInput, start: Timestamp, end: Timestamp) -> [LevelChart.Panel] {
        var panels: [LevelChart.Panel] = []
        var ruleIds: [[String]] = []
        for rule in input.configuration.rules {
            let thresholds = rule.thresholds.defined.map { LevelChart.Threshold(ruleId: rule.id, level: $0.level, value: $0.value, from: start, to: end) }
            if let index = panels.firstIndex(where: { $0.sensorId == rule.sensorId && $0.measure == rule.measure.name }) {
                ruleIds[index].append(rule.id)
                panels[index].thresholds += thresholds.filter { threshold in !panels[index].thresholds.contains { $0.value == threshold.value } }
                continue
            }
            let points = input.result.samples.map { sample in
                (time: sample.time, value: sample.measures.first(where: { $0.ruleId == rule.id })?.value)
            }
            guard points.contains(where: { $0.value != nil }) else { continue }
            ruleIds.append([rule.id])
            panels.append(LevelChart.Panel(
                title: "", sensorId: rule.sensorId, measure: rule.measure.name, unit: rule.measure.unit, points: points, thresholds: thresholds,
                axisIncludes: rule.measure == .tangentAngle ? [0, 90] : []))
        }
        for index in panels.indices {
            panels[index].title = "\(ruleIds[index].joined(separator: ", ")) — \(panels[index].measure) of \(panels[index].sensorId) (\(panels[index].unit))"
        }
        return panels
    }

    /// Level stretches from the exact level-change actions (not from samples, so a band starts
    /// at the instant the level changed).
    static func levelBands(_ result: SimulationResult, start: Timestamp, end: Timestamp, exercise: Bool) -> [LevelChart.Band] {
        let changes = result.actions.compactMap { timed -> (time: Timestamp, to: WarningLevel)? in
            guard case .levelChanged(let change) = timed.action, change.exercise == exercise else { return nil }
            return (timed.time, change.to)
        }
        return LevelChart.bands(changes: changes, initial: .none, start: start, end: end)
    }

    static func chart(_ input: ChartInput) -> LevelChart {
        let start = input.result.firstTime
        let end = max(input.result.lastTime, start.adding(milliseconds: Milliseconds.hour))
        let rain = input.hourlyRain.isEmpty ? nil : LevelChart.RainBars(
            title: "Hourly rain (mm per hour)",
            gauges: input.hourlyRain.map { gauge in
                (gauge.gaugeId, gauge.hours.map { LevelChart.RainBars.Bar(start: $0.start, end: $0.start.adding(milliseconds: Milliseconds.hour), millimeters: $0.millimeters) })
            })
        return LevelChart(
            title: input.title, subtitle: input.subtitle, start: start, end: end, utcOffsetMinutes: input.utcOffsetMinutes, language: .english,
            levelBands: levelBands(input.result, start: start, end: end, exercise: false),
            drillBands: levelBands(input.result, start: start, end: end, exercise: true),
            rain: rain, panels: panels(input, start: start, end: end))
    }

    static func render(_ input: ChartInput) -> String {
        chart(input).render()
    }
}
