// The station level: raised at once, lowered after clear_after, latched, manual, county, causes.
import Testing
@testable import WarningLogic

@Suite struct HysteresisTests {
    @Test func lowersExactlyClearAfterTheLastInstantTheLevelWasMet() {
        // clear_after 60 min; no 叫应, so its deadlines do not come first in nextWakeup.
        var engine = Engine(configuration: villageConfiguration(acknowledgement: AcknowledgementPolicy(fromLevel: nil)))
        _ = engine.tips(90, at: storm)  // 45 mm: yellow
        _ = engine.tick(at: storm + hour)  // the hour's rain has left the window
        #expect(engine.status().level == .yellow, "held, not dropped")
        #expect(engine.status().lowerAt == at(storm + 2 * hour))
        #expect(engine.nextWakeup() == at(storm + 2 * hour))
        #expect(engine.tick(at: storm + 2 * hour - 1).realLevelChanges.isEmpty)
        let lowered = engine.tick(at: storm + 2 * hour)
        #expect(lowered.realLevelChanges == [LevelChange(time: at(storm + 2 * hour), from: .yellow, to: .none, causes: [], exercise: false)])
        #expect(lowered.contains(.setSiren(.off, exercise: false)))
        #expect(lowered.contains(.setLamp(nil, exercise: false)))
        #expect(lowered.broadcasts == ["预警解除。"])
    }

    @Test func dropsStraightToTheHighestLevelStillMet() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(160, at: storm)  // 80 mm in an hour: red (and 3 h yellow)
        #expect(engine.status().level == .red)
        let actions = engine.runUntil(storm + 2 * hour)
        // Red unmet from storm + 1 h; at storm + 2 h the 3-h rain (80 mm ≥ 75) still holds yellow.
        #expect(actions.realLevelChanges.map(\.to) == [.yellow])
        #expect(actions.realLevelChanges.first?.from == .red)
        #expect(actions.realLevelChanges.first?.time == at(storm + 2 * hour))
        #expect(actions.realLevelChanges.first?.causes == ["rain_3h"])
    }

    @Test func aNewRiseCancelsAPendingLowering() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(90, at: storm)
        _ = engine.tick(at: storm + hour)
        #expect(engine.status().lowerAt == at(storm + 2 * hour))
        _ = engine.tips(90, at: storm + 90 * minute)  // yellow again before clear_after ran out
        #expect(engine.status().lowerAt == nil)
        let actions = engine.runUntil(storm + 5 * hour)
        // 3-h rain stays ≥ 75 mm until the first batch leaves it at storm + 3 h; an hour later
        // the level drops to what the 6-h rain (90 mm ≥ 70) still meets.
        #expect(actions.realLevelChanges.map(\.to) == [.blue])
        #expect(actions.realLevelChanges.first?.time == at(storm + 4 * hour))
    }

    @Test func aRiseAboveTheCurrentLevelIsImmediate() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(70, at: storm)
        #expect(engine.status().level == .blue)
        let actions = engine.tips(90, at: storm + 1)  // 80 mm: straight to red
        #expect(actions.realLevelChanges.map(\.to) == [.red])
        #expect(actions.contains(.setSiren(.continuous, exercise: false)))
        #expect(actions.contains(.setLamp(.red, exercise: false)))
        #expect(actions.broadcasts == ["立即转移！"])
    }
}

@Suite struct LatchManualCountyTests {
    @Test func aLatchedRedStaysUntilAPersonClearsIt() {
        var engine = Engine(configuration: villageConfiguration(logic: LogicConfiguration(latchedLevels: [.red])))
        _ = engine.tips(160, at: storm)
        _ = engine.tick(at: storm + hour)
        #expect(engine.status().lowerAt == nil, "the latch holds red: nothing will lower it by itself")
        let quiet = engine.runUntil(storm + day + hour)
        #expect(quiet.realLevelChanges.isEmpty)
        #expect(engine.status().level == .red)
        #expect(engine.status().causes == ["latch"])
        #expect(engine.status().latchedLevel == .red)
        let cleared = engine.handle(Event(time: at(storm + day + 2 * hour), kind: .clearLatch(by: "村长")))
        #expect(cleared.realLevelChanges.map(\.to) == [.none])
        #expect(cleared.reports.contains { $0.kind == .latchCleared(level: .red, by: "村长") })
        #expect(cleared.reports.contains { $0.kind == .acknowledged(level: .red, by: "村长", requestedAt: at(storm), channel: .scenario, secondsToAnswer: (day + 2 * hour) / 1000) }, "clearing answers the 叫应")
    }

    /// The field finding: clearing the latch while the rules still met red answered "cleared" but the
    /// latch was back at once. Now the clear holds, the status says what holds red, and the status
    /// said beforehand exactly what the clear would leave.
    @Test func clearingALatchWhileTheRulesStillMeetItClearsItAndSaysWhatHoldsTheLevel() {
        var engine = Engine(configuration: villageConfiguration(logic: LogicConfiguration(latchedLevels: [.red])))
        _ = engine.tips(160, at: storm)  // 80 mm in an hour: red by rain_1h, latched
        _ = engine.tips(90, at: storm + 90 * minute)  // 3-h rain 125 mm: red by rain_3h too
        #expect(engine.status().latchClear == LatchClearOutcome(latchedLevel: .red, level: .red, causes: ["rain_3h"], lowerAt: nil))
        let cleared = engine.handle(Event(time: at(storm + 100 * minute), kind: .clearLatch(by: "shell")))
        #expect(cleared.realLevelChanges.isEmpty, "rain_3h still meets red")
        #expect(cleared.reports.contains { $0.kind == .latchCleared(level: .red, by: "shell") })
        #expect(engine.status().latchedLevel == nil, "the status agrees: no latch")
        #expect(engine.status().causes == ["rain_3h"])
        #expect(engine.status().latchClear == nil)
        // The rain leaves the window: red is lowered after clear_after like any unlatched level.
        let after = engine.runUntil(storm + 6 * hour)
        #expect(after.realLevelChanges.first?.from == .red)
        #expect(engine.status().latchedLevel == nil, "falling from red does not latch it again")
        // A new rise to red latches again.
        _ = engine.tips(160, at: storm + 7 * hour)
        #expect(engine.status().latchedLevel == .red)
    }

    @Test func theLatchClearOutcomeNamesTheLowerLevelAndTheWaitOfClearAfter() {
        var engine = Engine(configuration: villageConfiguration(logic: LogicConfiguration(latchedLevels: [.red])))
        _ = engine.tips(160, at: storm)
        _ = engine.tick(at: storm + hour)  // the hour's rain has left the window: nothing meets red, clear_after runs
        #expect(engine.status().latchClear == LatchClearOutcome(
            latchedLevel: .red, level: .red, causes: [], lowerAt: at(storm + 2 * hour)))
        _ = engine.tick(at: storm + 150 * minute)
        // 3-h rain 80 mm meets yellow; red's clear_after is over.
        #expect(engine.status().latchClear == LatchClearOutcome(latchedLevel: .red, level: .yellow, causes: ["rain_3h"], lowerAt: nil))
        let cleared = engine.handle(Event(time: at(storm + 150 * minute), kind: .clearLatch(by: "shell")))
        #expect(cleared.realLevelChanges.map(\.to) == [.yellow])
    }

    @Test func manualAndCountyLevelsCountDirectly() {
        var engine = Engine(configuration: villageConfiguration())
        let manual = engine.handle(Event(time: at(storm), kind: .manual(level: .orange, by: "shell")))
        #expect(manual.realLevelChanges == [LevelChange(time: at(storm), from: .none, to: .orange, causes: ["manual"], exercise: false)])
        let county = engine.handle(Event(time: at(storm + 1), kind: .countyWarning(id: "JH-7", level: .red, text: "县防指：立即转移")))
        #expect(county.realLevelChanges.map(\.causes) == [["county:JH-7"]])
        #expect(county.broadcasts == ["立即转移！", "县防指：立即转移"])
        let cancel = engine.handle(Event(time: at(storm + 2), kind: .countyCancel(id: "JH-7")))
        #expect(cancel.realLevelChanges.map(\.to) == [.orange], "no hysteresis on a county level")
        let withdrawn = engine.handle(Event(time: at(storm + 3), kind: .manual(level: .none, by: "shell")))
        #expect(withdrawn.realLevelChanges.map(\.to) == [.none])
        let unknown = engine.handle(Event(time: at(storm + 4), kind: .countyCancel(id: "nope")))
        #expect(unknown.rejections.count == 1)
    }

    @Test func causesListEverythingHoldingTheLevelInConfigurationOrder() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.handle(Event(time: at(storm), kind: .countyWarning(id: "b", level: .red, text: nil)))
        _ = engine.handle(Event(time: at(storm), kind: .countyWarning(id: "a", level: .red, text: nil)))
        _ = engine.handle(Event(time: at(storm), kind: .manual(level: .red, by: "shell")))
        _ = engine.tips(240, at: storm + 1)  // 120 mm: 1 h and 3 h both red
        #expect(engine.status().causes == ["rain_1h", "rain_3h", "manual", "county:b", "county:a"])
    }

    @Test func aCombinedRuleNeedsEveryConditionAtOnce() {
        let rules = [
            Rule(id: "rain_24h", sensorId: "rg1", measure: .rainAccumulation(windowMilliseconds: day), thresholds: Thresholds(blue: 100, yellow: 130, orange: 160, red: 200)),
            Rule(id: "crack_rate", sensorId: "crack1", measure: .displacementRate(spanMilliseconds: day), thresholds: Thresholds(blue: 5, yellow: 10, orange: 20, red: 50)),
        ]
        let combined = CombinedRule(
            id: "slope_in_rain", conditions: [.init(ruleId: "rain_24h", atLeast: .blue), .init(ruleId: "crack_rate", atLeast: .blue)], level: .orange)
        var engine = Engine(configuration: villageConfiguration(sensors: [rainGauge, crackMeter], rules: rules, combinedRules: [combined]))
        _ = engine.reading(100, at: storm - day, sensor: "crack1")
        _ = engine.reading(100.1, at: storm, sensor: "crack1")  // 0.1 mm/day: steady
        _ = engine.tips(200, at: storm + hour)  // 100 mm in 24 h: blue alone
        #expect(engine.status().level == .blue)
        // 6 mm over the 26 h since the reading at or before t − 24 h: 5.5 mm/day, blue alone.
        let moving = engine.reading(106, at: storm + 2 * hour, sensor: "crack1")
        #expect(moving.realLevelChanges == [LevelChange(time: at(storm + 2 * hour), from: .blue, to: .orange, causes: ["slope_in_rain"], exercise: false)])
    }
}
