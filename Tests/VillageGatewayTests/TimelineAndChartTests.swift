// What a replay prints and draws: the documented JSON line form, and a well-formed, readable chart.
import ChartDrawing
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct TimelineAndChartTests {
    let landfall = Timestamp(millisecondsSinceUnixEpoch: 1_596_483_000_000)

    @Test func aLevelChangeIsOneJSONObjectInTheDocumentedForm() {
        let writer = TimelineWriter(format: .json, utcOffsetMinutes: 480)
        let change = LevelChange(time: landfall, from: .none, to: .blue, causes: ["rain-1h", "rain-3h"], exercise: false)
        let line = writer.line(for: .init(time: landfall, action: .levelChanged(change)))
        #expect(line == #"{"time":"2020-08-04T03:30:00+08:00","type":"level","from":"none","to":"blue","causes":["rain-1h","rain-3h"]}"#)
        let drill = LevelChange(time: landfall, from: .none, to: .red, causes: ["drill"], exercise: true)
        #expect(writer.line(for: .init(time: landfall, action: .levelChanged(drill)))?.hasSuffix(#""causes":["drill"],"exercise":true}"#) == true)
    }

    @Test func everyJSONLineParsesAndKeepsChineseText() throws {
        let writer = TimelineWriter(format: .json, utcOffsetMinutes: 480)
        let contact = Contact(name: "王建国", phone: "+8613800000001", order: 1)
        let actions: [Action] = [
            .setSiren(.intermittent(onMilliseconds: 2000, offMilliseconds: 3000), exercise: false),
            .setLamp(nil, exercise: true),
            .broadcast(message: "山洪预警：请立即转移！\n\"快\"", exercise: false),
            .sendSMS(SMS(contact: contact, text: "【黄坑村 红色预警】立即转移", exercise: false)),
            .enqueueReport(Report(time: landfall, kind: .sensorHealth(sensorId: "river1", faulty: true, reason: "no data for 30m"), exercise: false)),
        ]
        for action in actions {
            let line = try #require(writer.line(for: .init(time: landfall, action: action)))
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["time"] as? String == "2020-08-04T03:30:00+08:00")
            #expect(object?["type"] != nil)
        }
        let speak = try #require(writer.line(for: .init(time: landfall, action: actions[2])))
        let decoded = try JSONSerialization.jsonObject(with: Data(speak.utf8)) as? [String: Any]
        #expect(decoded?["message"] as? String == "山洪预警：请立即转移！\n\"快\"")
    }

    @Test func theTextTimelineMarksDrillsAndLeavesOutTheDuplicateLevelReport() {
        let writer = TimelineWriter(format: .text, utcOffsetMinutes: 480)
        let change = LevelChange(time: landfall, from: .yellow, to: .red, causes: ["rain-1h"], exercise: false)
        #expect(writer.line(for: .init(time: landfall, action: .levelChanged(change))) == "2020-08-04T03:30:00+08:00  LEVEL  ▲ yellow → red  (rain-1h)")
        let report = Report(time: landfall, kind: .levelChanged(from: .yellow, to: .red, causes: ["rain-1h"]), exercise: false)
        #expect(writer.line(for: .init(time: landfall, action: .enqueueReport(report))) == nil)
        #expect(writer.line(for: .init(time: landfall, action: .setSiren(.continuous, exercise: true))) == "2020-08-04T03:30:00+08:00  SIREN  [drill] continuous")
    }

    @Test func repeatedBroadcastsFoldIntoOneLineUntilSomethingElseHappens() {
        let writer = TimelineWriter(format: .text, utcOffsetMinutes: 480)
        var folder = RepeatedBroadcastFolder()
        func at(_ minutes: Int64) -> Timestamp { landfall.adding(milliseconds: minutes * Milliseconds.minute) }
        var printed: [String] = []
        for minutes in stride(from: Int64(0), through: 20, by: 5) {
            printed += folder.lines(for: .init(time: at(minutes), action: .broadcast(message: "立即转移", exercise: false)), writer: writer)
        }
        #expect(printed == ["2020-08-04T03:30:00+08:00  SPEAK  “立即转移”"])
        // A drill's broadcast of the same words is not the same message: it is marked.
        printed += folder.lines(for: .init(time: at(21), action: .broadcast(message: "立即转移", exercise: true)), writer: writer)
        printed += folder.lines(for: .init(time: at(22), action: .setSiren(.off, exercise: false)), writer: writer)
        printed += folder.finish(writer: writer)
        #expect(printed == [
            "2020-08-04T03:30:00+08:00  SPEAK  “立即转移”",
            "2020-08-04T03:50:00+08:00  SPEAK  ↻ the same message 4 more times since 2020-08-04T03:35:00+08:00",
            "2020-08-04T03:51:00+08:00  SPEAK  [drill] “立即转移”",
            "2020-08-04T03:52:00+08:00  SIREN  off",
        ])
    }

    @Test func axesUseRoundNumbersThatCoverTheData() {
        let axis = LevelChart.niceAxis(minimum: 0, maximum: 83)
        #expect(axis.minimum == 0)
        #expect(axis.maximum >= 83)
        #expect(axis.ticks.count >= 4 && axis.ticks.count <= 8)
        #expect(axis.ticks.allSatisfy { ($0 / 20).rounded() * 20 == $0 })
        let small = LevelChart.niceAxis(minimum: -0.3, maximum: 0.9)
        #expect(small.minimum <= -0.3 && small.maximum >= 0.9)
    }

    @Test func timeLabelsAreInTheStationsLocalTime() {
        let start = landfall
        let ticks = LevelChart.timeTicks(start: start, end: start.adding(milliseconds: 12 * Milliseconds.hour), utcOffsetMinutes: 480)
        #expect(ticks.first?.1 == "08-04 04:00")
        #expect(ticks.count >= 6 && ticks.count <= 14)
        #expect(ticks.contains { $0.1 == "08-04 12:00" })
    }

    @Test func theChartIsWellFormedSVGWithLevelBandsAndThresholds() throws {
        let configuration = ScenarioTests.configuration
        let status = { (minutes: Int64, value: Double?) in
            StationStatus(
                time: self.landfall.adding(milliseconds: minutes * Milliseconds.minute), level: .none, causes: [], drillLevel: nil,
                outputLevel: .none, degraded: false, lowerAt: nil, latchedLevel: nil, acknowledgementDeadline: nil, sensors: [],
                measures: [MeasureStatus(ruleId: "rain-1h", sensorId: "rain1", measure: .rainAccumulation(windowMilliseconds: Milliseconds.hour), value: value, levelMet: .none)])
        }
        let change = LevelChange(time: landfall.adding(milliseconds: 30 * Milliseconds.minute), from: .none, to: .orange, causes: ["rain-1h"], exercise: false)
        let result = SimulationResult(
            actions: [.init(time: change.time, action: .levelChanged(change))],
            samples: [status(0, 0), status(30, 61.2), status(60, nil), status(90, 20)],
            finalStatus: status(90, 20), firstTime: landfall, lastTime: landfall.adding(milliseconds: 90 * Milliseconds.minute),
            endReason: "test")
        let svg = Chart.render(ChartInput(
            title: "黄坑村 <test> & chart", subtitle: "sub", configuration: configuration, result: result,
            hourlyRain: [("rain1", [(landfall, 40.0)])], utcOffsetMinutes: 480))
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "the SVG must be well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        #expect(svg.contains("黄坑村 &lt;test&gt; &amp; chart"))
        #expect(svg.contains(LevelChart.colour(.orange)), "the orange level band")
        #expect(svg.contains("red 80 mm"), "threshold labels with units")
        #expect(svg.contains("rain-1h — rain_1h of rain1 (mm)"))
        #expect(svg.contains("Hourly rain"))
        #expect(svg.contains("peak 61.2 mm"))
    }
}
