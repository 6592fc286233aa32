// Scenario files: rain in mm becomes whole tips with the remainder carried; every mistake names its line.
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct ScenarioTests {
    static let configuration = EngineConfiguration(
        station: StationIdentity(id: "0011223344", name: "黄坑村"),
        sensors: [
            SensorConfiguration(id: "rain1", kind: .rainGauge, unit: "mm", micrometersPerTip: 200),
            SensorConfiguration(id: "river1", kind: .waterLevel, unit: "m", rangeMinimum: 0, rangeMaximum: 10),
        ],
        rules: [Rule(id: "rain-1h", sensorId: "rain1", measure: .rainAccumulation(windowMilliseconds: Milliseconds.hour), thresholds: Thresholds(blue: 35, yellow: 45, orange: 60, red: 80))])

    func parse(_ text: String) throws(ScenarioError) -> Scenario {
        try Scenario.parse(text: text, file: "storm.csv", configuration: Self.configuration)
    }

    func problems(_ text: String) -> [String] {
        do {
            _ = try parse(text)
            return []
        } catch {
            return error.problems
        }
    }

    @Test func rainBecomesWholeTipsAndThePartOfATipIsCarried() throws {
        // 0.25 mm rows on a 0.2 mm bucket: 250, 300 (1 tip, 100 left), 350 → 1 tip (150 left) …
        let scenario = try parse("""
            time,sensor,value
            2020-08-04T03:00:00+08:00,rain1,0.25
            2020-08-04T03:10:00+08:00,rain1,0.25
            2020-08-04T03:20:00+08:00,rain1,0.25
            2020-08-04T03:30:00+08:00,rain1,0.25
            2020-08-04T03:40:00+08:00,rain1,0.1
            2020-08-04T03:50:00+08:00,rain1,0
            """)
        let tips = scenario.rows.map { row -> Int in
            guard case .tips(_, let count) = row.event.kind else { return -1 }
            return count
        }
        // 0.25 → 1 (0.05 left); 0.30 → 1 (0.10); 0.35 → 1 (0.15); 0.40 → 2 (0); 0.1 → 0; 0 → 0.
        #expect(tips == [1, 1, 1, 2])
        #expect(scenario.rows.map(\.line) == [2, 3, 4, 5])
        let totalMicrometers = tips.reduce(0, +) * 200
        #expect(totalMicrometers == 1_000, "1.1 mm fell; 1.0 mm is whole tips, 0.1 mm waits in the bucket")
    }

    @Test func readingsControlRowsCommentsAndQuotes() throws {
        let scenario = try parse("""
            \u{FEFF}time,sensor,value\r
            # the stream rises
            2020-08-04T03:00:00+08:00, river1 , 2.5\r

            2020-08-04T03:05:00+08:00,river1,fail: timeout on slave 3
            2020-08-04T03:10:00+08:00,manual,red
            2020-08-04T03:11:00+08:00,ack,"王建国, 村长"
            2020-08-04T03:12:00+08:00,drill,yellow
            2020-08-04T03:13:00+08:00,drill,stop
            2020-08-04T03:13:30+08:00,drill,blue --force
            2020-08-04T03:14:00+08:00,county,orange
            2020-08-04T03:15:00+08:00,county,cancel
            2020-08-04T03:16:00+08:00,clear,镇干部
            """)
        let kinds = scenario.rows.map(\.event.kind)
        #expect(kinds == [
            .reading(sensorId: "river1", value: 2.5),
            .readFailure(sensorId: "river1", reason: "timeout on slave 3"),
            .manual(level: .red, by: "scenario"),
            .acknowledge(by: "王建国, 村长", channel: .scenario),
            .drillStart(level: .yellow, by: "scenario"),
            .drillStop(by: "scenario"),
            .drillStart(level: .blue, by: "scenario", force: true),
            .countyWarning(id: "scenario", level: .orange, text: nil),
            .countyCancel(id: "scenario"),
            .clearLatch(by: "镇干部"),
        ])
        #expect(scenario.rows.first?.line == 3)
        #expect(scenario.utcOffsetMinutes == 480)
    }

    @Test func repliesFromPhonesBecomeAnswersForTheEngineToMatch() throws {
        let scenario = try parse("""
            time,sensor,value
            2020-08-04T03:06:00+08:00,sms_reply,+8613900000003 收到
            2020-08-04T03:07:00+08:00,sms_reply,8613800000002
            2020-08-04T03:14:00+08:00,call_in,13800000001
            """)
        #expect(scenario.rows.map(\.event.kind) == [
            .reply(phone: "+8613900000003", channel: .sms, text: "收到"),
            .reply(phone: "8613800000002", channel: .sms, text: ""),
            .reply(phone: "13800000001", channel: .call, text: ""),
        ])
        let found = problems("""
            time,sensor,value
            2020-08-04T03:06:00+08:00,sms_reply,王建国 收到
            2020-08-04T03:14:00+08:00,call_in,13800000001 hello
            """)
        #expect(found.count == 2)
        #expect(found[0].hasPrefix("storm.csv:2: ") && found[0].contains("does not start with a phone number"))
        #expect(found[1].hasPrefix("storm.csv:3: ") && found[1].contains("a phone number and nothing else"))
    }

    @Test func aDrillRowNamesItsLevelAndAtMostForce() {
        let found = problems("""
            time,sensor,value
            2020-08-04T03:00:00+08:00,drill,
            2020-08-04T03:01:00+08:00,drill,red now
            """)
        #expect(found.count == 2)
        #expect(found.allSatisfy { $0.contains("is neither a level to drill (blue, yellow, orange, red, optionally followed by --force) nor 'stop'") })
    }

    @Test func everyMistakeIsReportedWithItsLineInOneRun() {
        let found = problems("""
            time,sensor,value
            2020-08-04T03:00:00+08:00,rain1,1.0
            2020-08-04T02:00:00+08:00,rain1,1.0
            2020-08-04T03:10:00+08:00,rain2,1.0
            2020-08-04T03:20:00+08:00,river1,high
            2020-08-04T03:30:00,river1,2.0
            2020-08-04T03:40:00+08:00,rain1,-1
            2020-08-04T03:50:00+08:00,manual,purple
            2020-08-04T03:55:00+08:00,river1
            2020-08-04T03:56:00+08:00,ack,"unclosed
            """)
        #expect(found.count == 8)
        #expect(found[0].hasPrefix("storm.csv:3: ") && found[0].contains("before the previous row's (line 2)"))
        #expect(found[1].hasPrefix("storm.csv:4: ") && found[1].contains("unknown sensor 'rain2'") && found[1].contains("rain1, river1"))
        #expect(found[2].hasPrefix("storm.csv:5: ") && found[2].contains("'high' is not a number"))
        #expect(found[3].hasPrefix("storm.csv:6: ") && found[3].contains("offset is missing"))
        #expect(found[4].hasPrefix("storm.csv:7: ") && found[4].contains("negative"))
        #expect(found[5].hasPrefix("storm.csv:8: ") && found[5].contains("'purple' is not a level"))
        #expect(found[6].hasPrefix("storm.csv:9: ") && found[6].contains("expected 3 fields"))
        #expect(found[7].hasPrefix("storm.csv:10: ") && found[7].contains("not closed"))
    }

    @Test func aMissingHeaderOrAnEmptyFileIsNamed() {
        #expect(problems("").first?.contains("empty") == true)
        #expect(problems("# only a comment\n").first?.contains("empty") == true)
        let noHeader = problems("2020-08-04T03:00:00+08:00,rain1,1.0\n")
        #expect(noHeader.first?.hasPrefix("storm.csv:1: the first line must be the header") == true)
    }

    @Test func aMissingFileSaysSo() {
        do {
            _ = try Scenario.load(path: "/nonexistent/storm.csv", configuration: Self.configuration)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/storm.csv: cannot read the scenario: no such file")
        }
    }
}
