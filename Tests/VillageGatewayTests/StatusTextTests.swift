// `status` as a technician reads it in 80 columns, and `status --json` as the documented
// `status/1` shape: names, plain milliseconds, values rounded to the sensor's resolution.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct StatusTextTests {
    static let start: Int64 = 1_596_470_400_000

    /// The example box after 62 mm of rain in the hour and a river reading with float noise.
    /// `later` are events after the river reading, as (milliseconds after the start, kind).
    static func status(
        inputs: [String] = ["scenario scenarios/typhoon-hagupit.csv at 60× speed"], later: [(Int64, Event.Kind)] = [], outputs: OutputSnapshot = .safe
    ) throws -> DaemonStatus {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
        let published = PublishedStatus(configuration: configuration, board: "sim", stateDirectory: "/var/lib/village-gateway", inputs: [])
        var engine = Engine(configuration: configuration)
        let events: [(Int64, Event.Kind)] = [
            (0, .tick), (60_000, .tips(sensorId: "rain1", count: 310)), (120_000, .reading(sensorId: "river1", value: 2.026000000000000023)),
        ] + later
        for (offset, kind) in events { _ = engine.handle(Event(time: Timestamp(millisecondsSinceUnixEpoch: start + offset), kind: kind)) }
        published.update(station: engine.status(), outputs: outputs, counters: RuntimeCounters())
        var status = published.report()
        status.inputs = inputs
        return status
    }

    @Test func eachRuleShowsItsMeasureAgainstTheThresholdsMetAndNext() throws {
        let status = try Self.status()
        let text = status.humanText()
        #expect(text.contains("  rain-1h       62.0 mm      orange ≥ 60   next red ≥ 80"), "\(text)")
        #expect(text.contains("  river-level   2.026 m      next blue ≥ 2.5"), "\(text)")
        #expect(!text.contains("0.026000000000000023"))
    }

    @Test func longCausesAndInputsWrapInsteadOfBeingCut() throws {
        var status = try Self.status(inputs: [
            "scenario /home/technician/scenarios/typhoon-hagupit-2020-08-04-lishui-hills.csv at 60× speed", "gpio rain_gauge on gpiochip0 line 17",
        ])
        status.station?.causes = ["rain-1h", "rain-3h", "rain-6h", "rain-24h", "river-level", "river-rise", "slope-rate", "rain-and-slope"]
        let text = status.humanText()
        for line in text.split(separator: "\n") { #expect(String(line).terminalColumns <= DaemonStatus.columnsMax, "\(line)") }
        #expect(!text.contains("…"), "nothing is cut:\n\(text)")
        let flat = text.replacingOccurrences(of: "\n          ", with: " ")
        #expect(flat.contains("(causes: rain-1h, rain-3h, rain-6h, rain-24h, river-level, river-rise, slope-rate, rain-and-slope)"))
        #expect(flat.contains("typhoon-hagupit-2020-08-04-lishui-hills.csv at 60× speed; gpio rain_gauge on gpiochip0 line 17"))
    }

    @Test func theJSONIsTheDocumentedVersionedShape() throws {
        let status = try Self.status()
        let text = status.document().text
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "status/1")
        #expect(object["level"] as? String == "orange")
        #expect(object["time_ms"] as? Int64 == 1_596_470_520_000, "plain milliseconds")
        let rules = try #require(object["rules"] as? [[String: Any]])
        let rain = try #require(rules.first { $0["rule"] as? String == "rain-1h" })
        #expect(rain["measure"] as? String == "rain_1h" && rain["unit"] as? String == "mm" && rain["level_met"] as? String == "orange")
        #expect((rain["thresholds"] as? [String: Any])?["red"] as? Double == 80)
        let sensors = try #require(object["sensors"] as? [[String: Any]])
        let river = try #require(sensors.first { $0["id"] as? String == "river1" })
        #expect(river["kind"] as? String == "water_level")
        #expect(text.contains("\"value\":2.026,"), "rounded to the sensor's millimetre, not 2.026000000000000023")
        #expect(text.contains("\"value\":62.0,"), "rain to the tip's 0.2 mm resolution")
        #expect(!text.contains("millisecondsSinceUnixEpoch") && !text.contains("\"waterLevel\""), "no Swift internals")
        #expect((object["outputs"] as? [String: Any])?["siren"] as? String == "off")
        // The document in docs/status.md names every top-level member.
        let documentation = try String(contentsOfFile: ConfigurationFixtures.repositoryRoot + "/docs/status.md", encoding: .utf8)
        for key in object.keys { #expect(documentation.contains("`\(key)`"), "docs/status.md documents \(key)") }
    }

    /// The 叫应 and the modem, as `status` prints them, are in the document too (who answered,
    /// how and after how long; who is waited for; whether the modem is registered).
    @Test func theJSONCarriesThe叫应AndTheModem() throws {
        // Orange at +60 s asks the 叫应; the village head answers by SMS 118 s later.
        var outputs = OutputSnapshot.safe
        outputs.modem = ModemSnapshot(port: "/dev/village-gateway/modem", model: "quectel-ec2x", open: true, registration: "registered (home)",
                                      data: "on LTE", signalDBm: -71, opens: 1)
        var status = try Self.status(later: [(178_000, .reply(phone: "+8613800000001", channel: .sms, text: "收到"))], outputs: outputs)
        let start = Self.start
        let text = status.document().text
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let answer = try #require(object["acknowledgement"] as? [String: Any], "\(text)")
        #expect(answer["level"] as? String == "orange" && answer["complete"] as? Bool == false, "\(answer)")
        #expect(answer["requested_ms"] as? Int64 == start + 60_000)
        let answered = try #require(answer["answered"] as? [[String: Any]])
        #expect(answered.count == 1)
        #expect(answered.first?["by"] as? String == "王建国" && answered.first?["channel"] as? String == "sms", "\(answered)")
        #expect(answered.first?["after_s"] as? Int64 == 118)
        let waiting = try #require(answer["waiting"] as? [String])
        #expect(!waiting.contains("王建国") && waiting.contains("李秀英"), "\(waiting)")
        let modem = try #require(object["modem"] as? [String: Any])
        #expect(modem["open"] as? Bool == true && modem["registration"] as? String == "registered (home)")
        #expect(modem["signal_dbm"] as? Int64 == -71 && modem["data"] as? String == "on LTE")
        // Without either: null, not missing.
        status.station?.acknowledgement = nil
        status.outputs.modem = nil
        let quiet = try #require(try JSONSerialization.jsonObject(with: Data(status.document().text.utf8)) as? [String: Any])
        #expect(quiet["acknowledgement"] is NSNull && quiet["modem"] is NSNull)
    }
}
