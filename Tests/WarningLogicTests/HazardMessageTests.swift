// Warnings speak their hazard: a moving slope is announced as a landslide, not as rain.
import Testing
@testable import WarningLogic

@Suite struct HazardMessageTests {
    static let crackRule = Rule(
        id: "crack", sensorId: "crack1", measure: .displacement, thresholds: Thresholds(blue: 5, yellow: 10, orange: 20, red: 40))

    static func configuration(combinedRules: [CombinedRule] = []) -> EngineConfiguration {
        var outputs = villageOutputs
        outputs[.orange]?.hazardMessages = [.slope: "山体滑坡危险，立即撤离。", .rain: "山洪危险，立即转移。"]
        outputs[.red]?.hazardMessages = [.slope: "山体即将滑坡，立即撤离！"]
        return villageConfiguration(
            sensors: [rainGauge, crackMeter], rules: jianghuaRules() + [crackRule], combinedRules: combinedRules, outputs: outputs)
    }

    @Test func aSlopeWarningSpeaksAndTextsTheSlopeWords() {
        var engine = Engine(configuration: Self.configuration())
        _ = engine.reading(0, at: storm, sensor: "crack1")  // the baseline
        let orange = engine.reading(25, at: storm + 10 * minute, sensor: "crack1")
        #expect(orange.realLevelChanges.map(\.causes) == [["crack"]])
        #expect(orange.broadcasts == ["山体滑坡危险，立即撤离。"])
        #expect(orange.messages.map(\.text) == ["【黄坑村 橙色预警】山体滑坡危险，立即撤离。", "【黄坑村 橙色预警】山体滑坡危险，立即撤离。"])
        let repeats = engine.runUntil(storm + 30 * minute)
        #expect(Set(repeats.broadcasts) == ["山体滑坡危险，立即撤离。"], "repeats and escalations say the same")
        #expect(repeats.messages.allSatisfy { $0.text.hasSuffix("山体滑坡危险，立即撤离。") })
    }

    @Test func aRainWarningSpeaksTheRainWordsAndALevelWithoutHazardWordsSpeaksItsMessage() {
        var engine = Engine(configuration: Self.configuration())
        #expect(engine.tips(120, at: storm).broadcasts == ["山洪危险，立即转移。"])
        var plain = Engine(configuration: villageConfiguration())
        #expect(plain.tips(120, at: storm).broadcasts == ["立即转移。"], "today's per-level text is the default")
    }

    @Test func causesOfDifferentHazardsSpeakTheLevelsGeneralMessage() {
        var engine = Engine(configuration: Self.configuration())
        _ = engine.reading(0, at: storm, sensor: "crack1")
        _ = engine.reading(25, at: storm + minute, sensor: "crack1")  // slope orange
        let red = engine.tips(200, at: storm + 2 * minute)  // 100 mm: rain_1h red, rain_3h orange
        #expect(red.realLevelChanges.map(\.causes) == [["rain_1h"]])
        #expect(red.broadcasts == ["立即转移！"], "red has no rain words configured: its message")
        // Red is lowered clear_after after the hour's rain left the window: orange is then met by
        // the rain (rain_3h) and by the slope at once, so it speaks the general words.
        let lowered = engine.runUntil(storm + 2 * minute + 2 * hour)
        #expect(lowered.realLevelChanges.map(\.causes) == [["rain_3h", "crack"]])
        #expect(lowered.broadcasts.last == "立即转移。", "the lowering is the replay's last decision")
    }

    @Test func aCombinedRuleSpeaksTheHazardItNames() {
        let condition = [CombinedRule.Condition(ruleId: "rain_1h", atLeast: .blue), CombinedRule.Condition(ruleId: "crack", atLeast: .blue)]
        var engine = Engine(configuration: Self.configuration(combinedRules: [
            CombinedRule(id: "rain-and-slope", conditions: condition, level: .red, hazard: .slope)
        ]))
        _ = engine.reading(0, at: storm, sensor: "crack1")
        _ = engine.reading(6, at: storm + minute, sensor: "crack1")  // slope blue
        let red = engine.tips(70, at: storm + 2 * minute)  // rain blue: together red
        #expect(red.realLevelChanges.map(\.causes) == [["rain-and-slope"]])
        #expect(red.broadcasts == ["山体即将滑坡，立即撤离！"])

        var unnamed = Engine(configuration: Self.configuration(combinedRules: [
            CombinedRule(id: "rain-and-slope", conditions: condition, level: .red)
        ]))
        _ = unnamed.reading(0, at: storm, sensor: "crack1")
        _ = unnamed.reading(6, at: storm + minute, sensor: "crack1")
        #expect(unnamed.tips(70, at: storm + 2 * minute).broadcasts == ["立即转移！"], "a combined rule naming no hazard speaks the level's message")
    }
}
