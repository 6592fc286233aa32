// Each kind of mistake a technician can make, and the words and line check-config answers with.
import Testing
import WarningLogic
@testable import VillageGateway

/// The one problem of a text that should have exactly one.
private func onlyProblem(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationProblem? {
    let problems = ConfigurationFixtures.problems(text)
    #expect(problems.count == 1, "expected one problem, got: \(problems.map(\.description))", sourceLocation: sourceLocation)
    return problems.first
}

private func minimal(_ old: String, _ new: String) -> String {
    ConfigurationFixtures.minimal(replacing: old, with: new)
}

@Suite struct StationValidationTests {
    @Test func stationIdMustBeTenDigits() {
        let short = onlyProblem(minimal("id = \"0011223344\"", "id = \"001122334\""))
        #expect(short?.line == 2)
        #expect(short?.key == "[station] id")
        #expect(short?.given == "\"001122334\"")
        #expect(short?.allowed.contains("this has 9 digits") == true)
        let letters = onlyProblem(minimal("id = \"0011223344\"", "id = \"00112233AB\""))
        #expect(letters?.allowed.contains("other than digits") == true)
        let number = onlyProblem(minimal("id = \"0011223344\"", "id = 11223344"))
        #expect(number?.allowed == "must be text in quotes, not a whole number")
    }

    @Test func fullWidthDigitsAreNamedAsSuch() {
        let problem = onlyProblem(minimal("yellow = 45", "yellow = \"４５\""))
        #expect(problem?.allowed == "must be a number; ４５ is written in full-width digits: write 45 without quotes")
    }

    @Test func aMissingStationIsNamed() {
        let text = ConfigurationFixtures.minimal.replacingOccurrences(of: "[station]\nid = \"0011223344\"\nname = \"黄坑村\"\n", with: "")
        let problem = onlyProblem(text)
        #expect(problem?.line == nil)
        #expect(problem?.key == "[station]")
        #expect(problem?.allowed.hasPrefix("missing") == true)
    }

    @Test func aMissingRequiredKeyPointsAtItsTableHeader() {
        let problem = onlyProblem(minimal("name = \"黄坑村\"\n", ""))
        #expect(problem?.line == 1)
        #expect(problem?.key == "[station] name")
        #expect(problem?.given == nil)
    }

    @Test func utcOffsetMustBeSignedHoursAndMinutes() {
        for bad in ["8:00", "+8:00", "+08", "+08:10", "+15:00", "-13:00", "UTC+8", "Z", "+０8:00"] {
            let problem = onlyProblem(minimal("name = \"黄坑村\"", "name = \"黄坑村\"\nutc_offset = \"\(bad)\""))
            #expect(problem?.line == 4, "\(bad)")
            #expect(problem?.key == "[station] utc_offset")
        }
        for good in ["+08:00", "-03:30", "+05:45", "+14:00", "-12:00", "+00:00"] {
            #expect(ConfigurationFixtures.problems(minimal("name = \"黄坑村\"", "name = \"黄坑村\"\nutc_offset = \"\(good)\"")).isEmpty, "\(good)")
        }
        #expect(parseUTCOffset("+05:45") == 345)
        #expect(formatUTCOffset(-210) == "-03:30")
    }
}

@Suite struct StructureValidationTests {
    @Test func unknownKeysSuggestTheNearestKnownKey() {
        let problem = onlyProblem(minimal("kind = \"rain_gauge\"", "kind = \"rain_gauge\"\nknid = \"x\""))
        #expect(problem?.line == 8)
        #expect(problem?.description == "site.toml:8: [[sensor]] \"rain1\": unknown key \"knid\"; did you mean \"kind\"?")
        let far = onlyProblem(minimal("kind = \"rain_gauge\"", "kind = \"rain_gauge\"\ncolour = \"x\""))
        #expect(far?.allowed.hasPrefix("unknown key \"colour\"; allowed here: id, kind, unit, mm_per_tip") == true)
    }

    @Test func unknownTablesSuggestTheNearestKnownTable() {
        let problem = onlyProblem(ConfigurationFixtures.minimal + "\n[[sensors]]\nid = \"x\"\n")
        #expect(problem?.line == 27)
        #expect(problem?.allowed == "unknown table [[sensors]]; did you mean [[sensor]]?")
        let output = onlyProblem(ConfigurationFixtures.minimal + "\n[output.red]\nsiren = \"off\"\n")
        #expect(output?.allowed == "unknown table [output]; did you mean [outputs.<level>]?")
        let level = onlyProblem(ConfigurationFixtures.minimal + "\n[outputs.purple]\nsiren = \"off\"\nmessage = \"x\"\n")
        #expect(level?.line == 27)
        #expect(level?.allowed.hasPrefix("unknown key \"purple\"; allowed here: none, blue, yellow, orange, red") == true)
    }

    @Test func aSingleBracketTableWhereBlocksAreExpectedIsExplained() {
        let text = minimal("[[contact]]", "[contact]")
        let problem = onlyProblem(text)
        #expect(problem?.line == 23)
        #expect(problem?.allowed.contains("write [[contact]], with two brackets") == true)
    }

    @Test func wrongTypesSayWhatWasExpected() {
        let count = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\ntips_per_minute_max = \"600\"\n")
        #expect(count?.line == 28)
        #expect(count?.given == "\"600\"")
        #expect(count?.allowed.hasPrefix("must be a whole number") == true)
        let threshold = onlyProblem(minimal("blue = 35", "blue = \"35\""))
        #expect(threshold?.line == 20)
        #expect(threshold?.allowed == "must be a number, not text in quotes")
        let duration = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\nclear_after = 60\n")
        #expect(duration?.allowed.hasPrefix("must be a duration in quotes") == true)
        let table = onlyProblem("logic = 5\n" + ConfigurationFixtures.minimal)
        #expect(table?.line == 1)
        #expect(table?.key == "[logic]")
    }

    @Test func badDurationsAreNamedWithAHint() {
        let bare = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\nclear_after = \"60\"\n")
        #expect(bare?.line == 28)
        #expect(bare?.allowed == "a duration needs a unit: \"60s\", \"60m\" or \"60h\"?")
        let unit = onlyProblem(ConfigurationFixtures.minimal + "\n[acknowledgement]\ndeadline = \"10 minutes\"\n")
        #expect(unit?.allowed.hasPrefix("not a duration") == true)
        let tooShort = onlyProblem(ConfigurationFixtures.minimal + "\n[acknowledgement]\ndeadline = \"10s\"\n")
        #expect(tooShort?.allowed.hasPrefix("must be from 1m to 24h") == true)
    }

    @Test func enumValuesListWhatIsAllowed() {
        let problem = onlyProblem(minimal("kind = \"rain_gauge\"", "kind = \"rain\""))
        #expect(problem?.line == 7)
        #expect(problem?.allowed.hasPrefix("must be \"rain_gauge\", \"water_level\" or \"displacement\"") == true)
        let level = onlyProblem(ConfigurationFixtures.minimal + "\n[acknowledgement]\nfrom_level = \"bleu\"\n")
        #expect(level?.allowed == "must be \"blue\", \"yellow\", \"orange\", \"red\" or \"none\"; did you mean \"blue\"?")
    }

    @Test func anEmptyListOfSensorsIsMissingSensors() {
        let text = "sensor = []\n" + ConfigurationFixtures.minimal.replacingOccurrences(of: "[[sensor]]", with: "[[unused]]")
        let problems = ConfigurationFixtures.problems(text)
        #expect(problems.first?.line == 1)
        #expect(problems.first?.key == "[[sensor]]")
        #expect(problems.first?.allowed.hasPrefix("missing") == true)
    }

    @Test func countsAreBounded() {
        var text = ConfigurationFixtures.minimal
        for index in 0..<ConfigurationLimits.sensorsMax { text += "[[sensor]]\nid = \"extra\(index)\"\nkind = \"rain_gauge\"\nmm_per_tip = 0.2\n" }
        let problem = onlyProblem(text)
        #expect(problem?.allowed == "at most \(ConfigurationLimits.sensorsMax) [[sensor]] blocks; this file has \(ConfigurationLimits.sensorsMax + 2)")
    }
}

@Suite struct SensorValidationTests {
    @Test func duplicateIdsNameTheFirst() {
        let problem = onlyProblem(minimal("id = \"slope1\"", "id = \"rain1\""))
        #expect(problem?.line == 11)
        #expect(problem?.allowed == "already the id of the [[sensor]] on line 5; sensor ids must be unique")
    }

    @Test func idsAreLettersDigitsUnderscoreAndDash() {
        let problem = onlyProblem(minimal("id = \"slope1\"", "id = \"slope 1\""))
        #expect(problem?.key == "[[sensor]] #2 id")
    }

    @Test func mmPerTipMustBeWholeMicrometresAboveZero() {
        let fine = onlyProblem(minimal("mm_per_tip = 0.2", "mm_per_tip = 0.2545"))
        #expect(fine?.line == 8)
        #expect(fine?.allowed.contains("whole number of micrometres") == true)
        let zero = onlyProblem(minimal("mm_per_tip = 0.2", "mm_per_tip = 0"))
        #expect(zero?.allowed.hasPrefix("must be above 0") == true)
        let missing = onlyProblem(minimal("mm_per_tip = 0.2\n", ""))
        #expect(missing?.line == 5)
        #expect(missing?.key == "[[sensor]] \"rain1\" mm_per_tip")
        #expect(missing?.allowed.hasPrefix("missing") == true)
    }

    @Test func aMisspeltRequiredKeyIsOneProblemNotTwo() {
        let problem = onlyProblem(minimal("mm_per_tip = 0.2", "mm_per_tipp = 0.2"))
        #expect(problem?.allowed == "unknown key \"mm_per_tipp\"; did you mean \"mm_per_tip\"?")
    }

    @Test func rangeMinimumMustBeBelowMaximum() {
        let problem = onlyProblem(minimal("range = [0.0, 500.0]", "range = [500.0, 500.0]"))
        #expect(problem?.line == 13)
        #expect(problem?.allowed.hasPrefix("the minimum must be below the maximum") == true)
        let shape = onlyProblem(minimal("range = [0.0, 500.0]", "range = [0.0, 250.0, 500.0]"))
        #expect(shape?.allowed.hasPrefix("must be two numbers") == true)
    }

    @Test func keysOfOtherKindsAreNamedAsSuch() {
        let stale = onlyProblem(minimal("mm_per_tip = 0.2", "mm_per_tip = 0.2\nstale_after = \"30m\""))
        #expect(stale?.line == 9)
        #expect(stale?.allowed.contains("silent by nature") == true)
        let range = onlyProblem(minimal("mm_per_tip = 0.2", "mm_per_tip = 0.2\nrange = [0, 1]"))
        #expect(range?.allowed == "only for water_level and displacement sensors; this is a rain_gauge sensor")
        let tip = onlyProblem(minimal("steady_rate = 0.5", "steady_rate = 0.5\nmm_per_tip = 0.2"))
        #expect(tip?.line == 15)
        #expect(tip?.allowed == "only for rain_gauge sensors; this is a displacement sensor")
        let water = onlyProblem(ConfigurationFixtures.minimal + "[[sensor]]\nid = \"river1\"\nkind = \"water_level\"\nsteady_rate = 1\n")
        #expect(water?.line == 29)
        #expect(water?.allowed == "only for displacement sensors; this is a water_level sensor")
    }

    @Test func unitMustBeTheKindsUnit() {
        let problem = onlyProblem(ConfigurationFixtures.minimal + "[[sensor]]\nid = \"river1\"\nkind = \"water_level\"\nunit = \"cm\"\n")
        #expect(problem?.line == 29)
        #expect(problem?.allowed.hasPrefix("a water_level sensor reports in \"m\"") == true)
    }
}

@Suite struct RuleValidationTests {
    @Test func aRuleNamingAnUnknownSensorSuggestsOne() {
        let problem = onlyProblem(minimal("sensor = \"rain1\"", "sensor = \"rian1\""))
        #expect(problem?.line == 18)
        #expect(problem?.allowed == "no [[sensor]] has this id; did you mean \"rain1\"?")
        let far = onlyProblem(minimal("sensor = \"rain1\"", "sensor = \"gauge\""))
        #expect(far?.allowed == "no [[sensor]] has this id; the sensors are \"rain1\" and \"slope1\"")
    }

    @Test func aMeasureMustSuitTheSensorsKind() {
        let problem = onlyProblem(minimal("measure = \"rain_1h\"", "measure = \"displacement_rate_24h\""))
        #expect(problem?.line == 19)
        #expect(problem?.allowed.hasPrefix("needs a displacement sensor, but \"rain1\" is a rain_gauge sensor; for it use rain_10m, rain_1h") == true)
    }

    @Test func anUnknownMeasureSuggestsOne() {
        let problem = onlyProblem(minimal("measure = \"rain_1h\"", "measure = \"rain_1hr\""))
        #expect(problem?.allowed.hasPrefix("not a measure; did you mean \"rain_1h\"?") == true)
        let span = onlyProblem(minimal("measure = \"rain_1h\"", "measure = \"rain_30d\""))
        #expect(span?.allowed == "the window must be from 1m to 7d")
    }

    @Test func thresholdsMustIncreaseWithTheLevel() {
        let problem = onlyProblem(minimal("yellow = 45", "yellow = 35"))
        #expect(problem?.line == 21)
        #expect(problem?.description == "site.toml:21: [[rule]] \"rain-1h\" yellow = 35: must be above blue (35): thresholds increase with the level")
    }

    @Test func aRuleNeedsAtLeastOneThreshold() {
        let problem = onlyProblem(minimal("blue = 35\nyellow = 45\n", ""))
        #expect(problem?.line == 16)
        #expect(problem?.key == "[[rule]] \"rain-1h\"")
        #expect(problem?.allowed.hasPrefix("no thresholds") == true)
    }

    @Test func thresholdsThatCanNeverMeanAnythingAreRefused() {
        let zeroRain = onlyProblem(minimal("blue = 35", "blue = 0"))
        #expect(zeroRain?.allowed.hasPrefix("must be above 0 (mm)") == true)
        let angle = onlyProblem(ConfigurationFixtures.minimal + "[[rule]]\nid = \"a\"\nsensor = \"slope1\"\nmeasure = \"tangent_angle\"\nred = 90\n")
        #expect(angle?.line == 30)
        #expect(angle?.allowed.hasPrefix("must be between 0 and 90 degrees") == true)
        let river = ConfigurationFixtures.minimal
            + "[[sensor]]\nid = \"river1\"\nkind = \"water_level\"\nrange = [0, 10]\n"
            + "[[rule]]\nid = \"r\"\nsensor = \"river1\"\nmeasure = \"water_level\"\nred = 12\n"
        #expect(onlyProblem(river)?.allowed == "is outside the gauge's range [0, 10] m: it could never be reached")
    }

    @Test func aTangentAngleRuleNeedsTheSensorsSteadyRate() {
        let text = minimal("steady_rate = 0.5\n", "")
            + "[[rule]]\nid = \"angle\"\nsensor = \"slope1\"\nmeasure = \"tangent_angle\"\nyellow = 80\n"
        let problem = onlyProblem(text)
        #expect(problem?.line == 28)
        #expect(problem?.allowed.hasPrefix("sensor \"slope1\" has no steady_rate") == true)
    }

    @Test func ruleIdsAreUniqueAcrossRulesAndCombinedRules() {
        let rule = onlyProblem(ConfigurationFixtures.minimal + "[[rule]]\nid = \"rain-1h\"\nsensor = \"rain1\"\nmeasure = \"rain_3h\"\nblue = 50\n")
        #expect(rule?.line == 27)
        #expect(rule?.allowed == "already the id of the [[rule]] on line 16; rule ids must be unique")
        let combined = onlyProblem(ConfigurationFixtures.minimal + Self.slopeRule
            + "[[combined_rule]]\nid = \"rain-1h\"\nlevel = \"red\"\nwhen = [{ rule = \"rain-1h\", at_least = \"blue\" }, { rule = \"slope-rate\", at_least = \"blue\" }]\n")
        #expect(combined?.line == 32)
        #expect(combined?.allowed.hasPrefix("already the id of the rule on line 16") == true)
    }

    static let slopeRule = "[[rule]]\nid = \"slope-rate\"\nsensor = \"slope1\"\nmeasure = \"displacement_rate_24h\"\nblue = 2\n"
}

@Suite struct CombinedRuleValidationTests {
    private static func combined(_ when: String, level: String = "\"orange\"") -> String {
        ConfigurationFixtures.minimal + RuleValidationTests.slopeRule
            + "[[combined_rule]]\nid = \"both\"\nlevel = \(level)\nwhen = [\n  \(when)\n]\n"
    }

    @Test func aValidCombinedRuleIsAccepted() throws {
        let text = Self.combined("{ rule = \"rain-1h\", at_least = \"yellow\" },\n  { rule = \"slope-rate\", at_least = \"blue\" },")
        let configuration = try ConfigurationLoader.parse(text: text, file: "site.toml")
        #expect(configuration.engine.combinedRules.first?.conditions.map(\.ruleId) == ["rain-1h", "slope-rate"])
    }

    @Test func aConditionNamingAnUnknownRuleIsPlacedOnItsLine() {
        let problem = onlyProblem(Self.combined("{ rule = \"rain-1h\", at_least = \"yellow\" },\n  { rule = \"slope-rte\", at_least = \"blue\" },"))
        #expect(problem?.line == 36)
        #expect(problem?.key == "[[combined_rule]] \"both\" when #2 rule")
        #expect(problem?.allowed.hasSuffix("did you mean \"slope-rate\"?") == true)
    }

    @Test func aConditionThatCanNeverHoldIsRefused() {
        let problem = onlyProblem(Self.combined("{ rule = \"rain-1h\", at_least = \"red\" },\n  { rule = \"slope-rate\", at_least = \"blue\" },"))
        #expect(problem?.line == 35)
        #expect(problem?.allowed == "rule \"rain-1h\" has no threshold at red or above, so this condition could never hold")
    }

    @Test func levelsAndConditionCountsAreChecked() {
        let none = onlyProblem(Self.combined("{ rule = \"rain-1h\", at_least = \"blue\" },\n  { rule = \"slope-rate\", at_least = \"blue\" },", level: "\"none\""))
        #expect(none?.line == 33)
        #expect(none?.key == "[[combined_rule]] \"both\" level")
        let single = onlyProblem(Self.combined("{ rule = \"rain-1h\", at_least = \"blue\" },"))
        #expect(single?.line == 34)
        #expect(single?.allowed.hasPrefix("must be a list of 2 to 8 conditions") == true)
        let twice = onlyProblem(Self.combined("{ rule = \"rain-1h\", at_least = \"blue\" },\n  { rule = \"rain-1h\", at_least = \"yellow\" },"))
        #expect(twice?.allowed == "this rule is already a condition of this combined rule")
    }
}

@Suite struct LogicContactAndOutputValidationTests {
    @Test func latchNamesLevels() {
        let problem = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\nlatch = [\"red\", \"none\"]\n")
        #expect(problem?.line == 28)
        #expect(problem?.allowed.hasPrefix("\"none\" is no warning and cannot be latched") == true)
        let typo = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\nlatch = [\"rde\"]\n")
        #expect(typo?.allowed.hasPrefix("\"rde\" is not a level") == true)
    }

    @Test func numericBoundsAreExplained() {
        let k = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\nantecedent_k = 1.0\n")
        #expect(k?.allowed.hasPrefix("must be between 0 and 1") == true)
        let hour = onlyProblem(ConfigurationFixtures.minimal + "\n[logic]\nrain_day_start_hour = 24\n")
        #expect(hour?.allowed.hasPrefix("must be 0 to 23") == true)
    }

    @Test func phonesArePlusAndDigits() {
        let local = onlyProblem(minimal("phone = \"+8613800000001\"", "phone = \"13800000001\""))
        #expect(local?.line == 25)
        #expect(local?.allowed.hasSuffix("did you mean \"+8613800000001\"?") == true)
        let spaced = onlyProblem(minimal("phone = \"+8613800000001\"", "phone = \"+86 138 0000 0001\""))
        #expect(spaced?.allowed.hasPrefix("must be + and the country code") == true)
    }

    @Test func contactOrderStartsAtOne() {
        let problem = onlyProblem(minimal("phone = \"+8613800000001\"", "phone = \"+8613800000001\"\norder = 0"))
        #expect(problem?.line == 26)
        #expect(problem?.allowed.hasPrefix("must be 1 to 99") == true)
    }

    @Test func acknowledgementNeedsSomeoneToAnswer() {
        let text = minimal("[[contact]]\nname = \"王建国\"\nphone = \"+8613800000001\"\n", "")
        let problem = onlyProblem(text)
        #expect(problem?.line == nil)
        #expect(problem?.allowed.contains("no [[contact]] to answer") == true)
        #expect(ConfigurationFixtures.problems(text + "[acknowledgement]\nfrom_level = \"none\"\n").isEmpty)
    }

    @Test func outputsNeedASirenAndAMessage() {
        let problem = onlyProblem(ConfigurationFixtures.minimal + "\n[outputs.red]\nsiren = \"continuous\"\n")
        #expect(problem?.line == 27)
        #expect(problem?.key == "[outputs.red] message")
        let onOff = onlyProblem(ConfigurationFixtures.minimal + "\n[outputs.red]\nsiren = \"continuous\"\nsiren_on = \"2s\"\nmessage = \"立即转移\"\n")
        #expect(onOff?.line == 29)
        #expect(onOff?.allowed == "only for siren = \"intermittent\"; here siren = \"continuous\"")
        let lamp = onlyProblem(ConfigurationFixtures.minimal + "\n[outputs.red]\nsiren = \"off\"\nlamp = \"green\"\nmessage = \"x\"\n")
        #expect(lamp?.allowed.hasPrefix("must be \"blue\", \"yellow\", \"orange\" or \"red\"") == true)
        let long = onlyProblem(ConfigurationFixtures.minimal + "\n[outputs.red]\nsiren = \"off\"\nmessage = \"\(String(repeating: "转", count: 501))\"\n")
        #expect(long?.allowed.hasSuffix("this has 501") == true)
    }
}
