// What a technician sees from check-config: the example is accepted, every mistake is named.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct ExampleConfigurationTests {
    @Test func theShippedExampleIsAccepted() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        let engine = configuration.engine
        #expect(engine.station.id == "0011223344")
        #expect(engine.station.utcOffsetMinutes == 480)
        #expect(engine.sensors.map(\.id) == ["rain1", "river1", "slope1"])
        #expect(engine.sensors[0].micrometersPerTip == 200)
        #expect(engine.sensors[1].rangeMaximum == 10)
        #expect(engine.sensors[2].steadyRateMillimetersPerDay == 0.5)
        let rain1h = try #require(engine.rules.first { $0.id == "rain-1h" })
        #expect(rain1h.measure == .rainAccumulation(windowMilliseconds: Milliseconds.hour))
        #expect(rain1h.thresholds == Thresholds(blue: 35, yellow: 45, orange: 60, red: 80))
        let rain24h = try #require(engine.rules.first { $0.id == "rain-24h" })
        #expect(rain24h.thresholds == Thresholds(blue: 100, yellow: 130, orange: 160, red: 200))
        #expect(engine.rules.contains { $0.measure == .tangentAngle && $0.sensorId == "slope1" })
        #expect(engine.combinedRules == [CombinedRule(
            id: "rain-and-slope",
            conditions: [.init(ruleId: "rain-24h", atLeast: .yellow), .init(ruleId: "slope-rate", atLeast: .blue)],
            level: .orange, hazard: .slope)])
        #expect(engine.outputs[.red]?.hazardMessages[.slope]?.contains("滑坡") == true)
        #expect(engine.outputs[.red]?.hazardMessages[.rain] == nil, "rain speaks the level's message")
        #expect(engine.drillEndMessage == "【演练】演练结束。")
        #expect(Set(engine.contacts.map(\.order)) == [1, 2])
        #expect(Set(engine.outputs.keys) == Set(WarningLevel.allCases))
        #expect(engine.outputs[.orange]?.message.contains("准备转移") == true)
        #expect(engine.outputs[.red]?.message.contains("立即转移") == true)
        #expect(engine.outputs[.red]?.siren == .continuous)
        #expect(engine.logic.latchedLevels == [.red])
    }

    @Test func theEffectiveConfigurationReadsBackEqual() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath)
        let rendered = EffectiveConfiguration.render(configuration)
        let reparsed = try ConfigurationLoader.parse(text: rendered, file: "effective.toml")
        #expect(reparsed == configuration)
        #expect(EffectiveConfiguration.render(reparsed) == rendered)
    }

    @Test func theEffectiveConfigurationWritesOutAndMarksEveryDefault() throws {
        let configuration = try ConfigurationLoader.parse(text: ConfigurationFixtures.minimal, file: "minimal.toml")
        let rendered = EffectiveConfiguration.render(configuration)
        for line in [
            "utc_offset = \"+08:00\"  # default", "clear_after = \"1h\"  # default", "latch = []  # default",
            "antecedent_k = 0.85  # default", "rain_day_start_hour = 8  # default", "tips_per_minute_max = 600  # default",
            "from_level = \"yellow\"  # default", "deadline = \"10m\"  # default", "escalations_max = 5  # default",
            "unit = \"mm\"  # default", "read_failures_max = 3  # default", "tangent_span = \"24h\"  # default",
            "order = 1  # default", "# stale_after not set: never stale",
            "# [outputs.red] not set: this level drives no output, it is only reported",
        ] {
            #expect(rendered.contains(line + "\n"), "missing: \(line)")
        }
        #expect(rendered.contains("mm_per_tip = 0.2\n"))
        #expect(!rendered.contains("mm_per_tip = 0.2  # default"))
        #expect(try ConfigurationLoader.parse(text: rendered, file: "effective.toml") == configuration)
    }

    @Test func unusualValuesSurviveTheRoundTrip() throws {
        let text = ConfigurationFixtures.minimal
            .replacingOccurrences(of: "name = \"黄坑村\"", with: "name = \"黄坑村 \\\"上\\\" \\\\ 组\"\nutc_offset = \"-03:30\"")
            .replacingOccurrences(of: "mm_per_tip = 0.2", with: "mm_per_tip = 0.254")
            + """
            [logic]
            clear_after = "1h30m"
            latch = ["red", "orange"]
            antecedent_k = 0.8125

            [acknowledgement]
            from_level = "none"

            [outputs.yellow]
            siren = "intermittent"
            siren_on = "1s500ms"
            message = "注意\\n防范"
            repeat_every = "2h"

            """
        let configuration = try ConfigurationLoader.parse(text: text, file: "unusual.toml")
        #expect(configuration.engine.station.utcOffsetMinutes == -210)
        #expect(configuration.engine.drillEndMessage == EngineConfiguration.drillEndMessageDefault, "no [drill]: the default")
        #expect(configuration.engine.sensors[0].micrometersPerTip == 254)
        #expect(configuration.engine.acknowledgement.fromLevel == nil)
        #expect(configuration.engine.outputs[.yellow]?.siren == .intermittent(onMilliseconds: 1_500, offMilliseconds: 3_000))
        let rendered = EffectiveConfiguration.render(configuration)
        #expect(try ConfigurationLoader.parse(text: rendered, file: "effective.toml") == configuration)
    }
}

@Suite struct HazardWordsAndDrillConfigurationTests {
    @Test func hazardWordsTheCombinedRulesHazardAndTheDrillEndMessageAreReadAndRoundTrip() throws {
        let text = ConfigurationFixtures.minimal + """

            [[rule]]
            id = "slope-rate"
            sensor = "slope1"
            measure = "displacement_rate_24h"
            blue = 1

            [[combined_rule]]
            id = "rain-and-slope"
            level = "red"
            hazard = "slope"
            when = [ { rule = "rain-1h", at_least = "blue" }, { rule = "slope-rate", at_least = "blue" } ]

            [outputs.red]
            siren = "continuous"
            message = "立即转移！"
            message_slope = "后山即将滑坡，立即转移！"
            message_water_level = "山洪来了，立即转移！"

            [drill]
            end_message = "演练结束，谢谢配合。"

            """
        let configuration = try ConfigurationLoader.parse(text: text, file: "hazard.toml")
        let engine = configuration.engine
        #expect(engine.combinedRules.first?.hazard == .slope)
        #expect(engine.outputs[.red]?.hazardMessages == [.slope: "后山即将滑坡，立即转移！", .waterLevel: "山洪来了，立即转移！"])
        #expect(engine.drillEndMessage == "演练结束，谢谢配合。")
        let rendered = EffectiveConfiguration.render(configuration)
        #expect(rendered.contains("# message_rain not set: a rain warning speaks message\n"))
        #expect(rendered.contains("[drill]\nend_message = \"演练结束，谢谢配合。\"\n"))
        #expect(try ConfigurationLoader.parse(text: rendered, file: "effective.toml") == configuration)
    }

    @Test func badHazardWordsAndDrillKeysAreNamedWithTheirLines() {
        let long = String(repeating: "滑", count: 501)
        let text = ConfigurationFixtures.minimal + """

            [outputs.red]
            siren = "continuous"
            message = "立即转移！"
            message_landslide = "后山滑坡"
            message_slope = "\(long)"

            [drill]
            end_message = " "
            message = "x"

            """
        let problems = ConfigurationFixtures.problems(text).map(\.description)
        #expect(problems.contains { $0.contains("[outputs.red]: unknown key \"message_landslide\"; allowed here: siren, siren_on, siren_off, siren_max_on, siren_rest, lamp, message, repeat_every, message_rain, message_water_level, message_slope") }, "\(problems)")
        #expect(problems.contains { $0.contains("[outputs.red] message_slope = ") && $0.contains("must be the text for a slope warning at this level, 1 to 500 characters; this has 501") }, "\(problems)")
        #expect(problems.contains { $0.contains("[drill] end_message = \" \": must be the words that end a drill") }, "\(problems)")
        #expect(problems.contains { $0.contains("[drill]: unknown key \"message\"") }, "\(problems)")
        #expect(problems.count == 4, "\(problems)")
    }

    @Test func aCombinedRulesHazardMustBeOneOfTheThree() {
        let text = ConfigurationFixtures.minimal + """

            [[rule]]
            id = "slope-rate"
            sensor = "slope1"
            measure = "displacement_rate_24h"
            blue = 1

            [[combined_rule]]
            id = "rain-and-slope"
            level = "red"
            hazard = "landslide"
            when = [ { rule = "rain-1h", at_least = "blue" }, { rule = "slope-rate", at_least = "blue" } ]

            """
        let problems = ConfigurationFixtures.problems(text).map(\.description)
        #expect(problems == ["site.toml:36: [[combined_rule]] \"rain-and-slope\" hazard = \"landslide\": must be \"rain\", \"water_level\" or \"slope\""], "\(problems)")
    }
}

@Suite struct ConfigurationProblemReportTests {
    /// One file, many mistakes: each is reported once, on its own line, in file order.
    @Test func aFileWithSeveralMistakesNamesEachOnItsLine() {
        let text = ConfigurationFixtures.severalMistakes
        let problems = ConfigurationFixtures.problems(text, file: "config/site.toml")
        #expect(problems.map(\.line) == [2, 8, 15, 22])
        #expect(problems.map(\.description) == [
            "config/site.toml:2: [station] id = \"12345\": must be the 10-digit SL 651 station address, digits only, e.g. \"0011223344\"; this has 5 digits",
            "config/site.toml:8: [[sensor]] \"rain1\": unknown key \"mm_per_tipp\"; did you mean \"mm_per_tip\"?",
            "config/site.toml:15: [[rule]] \"rain-1h\" red = 70: must be above orange (80): thresholds increase with the level",
            "config/site.toml:22: [outputs.red] siren = \"loud\": must be \"off\", \"continuous\" or \"intermittent\"",
        ])
        let error = ConfigurationError(problems: problems)
        #expect(error.description.split(separator: "\n").count == 4)
    }

    @Test func aMissingFileIsAProblemNotACrash() {
        let path = "/nonexistent/gateway.toml"
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(path: path) }
        do {
            _ = try ConfigurationLoader.load(path: path)
        } catch {
            #expect(error.description == "/nonexistent/gateway.toml: no such file")
        }
    }

    @Test func aFileNotInUTF8IsNamedWithItsLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vg-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("gbk.toml")
        // "黄坑村" in GBK on line 3.
        var bytes = Array("[station]\nid = \"0011223344\"\nname = \"".utf8)
        bytes += [0xBB, 0xC6, 0xBF, 0xD3, 0xB4, 0xE5]
        bytes += Array("\"\n".utf8)
        try Data(bytes).write(to: file)
        let problems = ConfigurationFixtures.loadProblems(file.path)
        #expect(problems.count == 1)
        #expect(problems.first?.line == 3)
        #expect(problems.first?.allowed.contains("not UTF-8") == true)

        #expect(ConfigurationFixtures.loadProblems(directory.path).first?.allowed.contains("directory") == true)

        let big = directory.appendingPathComponent("big.toml")
        try Data(repeating: UInt8(ascii: "#"), count: ConfigurationLimits.fileBytesMax + 1).write(to: big)
        #expect(ConfigurationFixtures.loadProblems(big.path).first?.allowed.contains("bytes") == true)
    }

    @Test func aTOMLSyntaxErrorGivesItsLineAndColumn() {
        let problems = ConfigurationFixtures.problems("[station]\nid = \"0011223344\"\nname = 黄坑村\n")
        #expect(problems.count == 1)
        #expect(problems.first?.line == 3)
        #expect(problems.first?.column != nil)
        #expect(problems.first?.description.hasPrefix("site.toml:3:") == true)
        #expect(problems.first?.allowed.hasPrefix("TOML syntax error:") == true)
    }

    @Test func aNULByteIsRefusedNotSilentlyCut() {
        let problems = ConfigurationFixtures.problems(ConfigurationFixtures.minimal + "\n\u{0}[[rule]]\n")
        #expect(problems.count == 1)
        #expect(problems.first?.line == 27)
    }

    @Test func aByteOrderMarkIsAccepted() {
        #expect(ConfigurationFixtures.problems("\u{FEFF}" + ConfigurationFixtures.minimal).isEmpty)
    }

    @Test func theMinimalFixtureIsValid() {
        #expect(ConfigurationFixtures.problems(ConfigurationFixtures.minimal) == [])
    }

    @Test func tooManyProblemsAreCappedWithACount() {
        var text = ConfigurationFixtures.minimal
        for index in 0..<(ConfigurationLimits.problemsMax + 5) { text += "[[rule]]\nid = \"r\(index)\"\nsensor = \"x\"\nmeasure = \"rain_1h\"\nblue = 1\n" }
        let problems = ConfigurationFixtures.problems(text)
        #expect(problems.count == ConfigurationLimits.problemsMax + 1)
        #expect(problems.last?.allowed == "5 more problems not shown; fix the ones above and check again")
    }
}

extension ConfigurationFixtures {
    static func loadProblems(_ path: String) -> [ConfigurationProblem] {
        do {
            _ = try ConfigurationLoader.load(path: path)
            return []
        } catch {
            return error.problems
        }
    }
}

@Suite struct SyntaxHintTests {
    @Test func unquotedTextGetsAHint() {
        let problems = ConfigurationFixtures.problems(ConfigurationFixtures.minimal(replacing: "kind = \"rain_gauge\"", with: "kind = rain_gauge"))
        #expect(problems.map(\.line) == [7])
        #expect(problems.first?.allowed.hasSuffix("(text must be in quotes, e.g. kind = \"rain_gauge\")") == true)
    }

    @Test func chineseKeyboardPunctuationIsNamed() {
        let problems = ConfigurationFixtures.problems(ConfigurationFixtures.minimal(replacing: "kind = \"rain_gauge\"", with: "kind = “rain_gauge”"))
        #expect(problems.map(\.line) == [7])
        #expect(problems.first?.allowed.contains("full-width punctuation") == true)
    }
}
