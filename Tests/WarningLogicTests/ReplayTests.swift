// Determinism and persistence: the same events give the same actions; a restart resumes.
import Foundation
import Testing
@testable import WarningLogic

/// A deterministic stormy day: bursts of tips on two gauges, pond readings, a drill, an answer.
func stormEvents() -> [Event] {
    var events: [Event] = []
    var seed: UInt64 = 20_200_804
    func random(_ bound: UInt64) -> UInt64 {
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (seed >> 33) % bound
    }
    for minuteIndex in Int64(0)..<Int64(36 * 60) {
        let time = storm + minuteIndex * minute
        let intensity: UInt64 = minuteIndex < 6 * 60 ? 4 : (minuteIndex < 12 * 60 ? 1 : 0)
        if intensity > 0 {
            events.append(Event(time: at(time + Int64(random(60_000))), kind: .tips(sensorId: "rg1", count: Int(random(intensity) + 1))))
            events.append(Event(time: at(time + Int64(random(60_000))), kind: .tips(sensorId: "rg2", count: Int(random(intensity) + 1))))
        }
        events.append(Event(time: at(time + 30_000), kind: .reading(sensorId: "wl1", value: 1 + Double(min(minuteIndex, 400)) / 200)))
        events.append(Event(time: at(time + 59_999), kind: .tick))
    }
    events.append(Event(time: at(storm + 5 * hour), kind: .acknowledge(by: "村长")))
    events.append(Event(time: at(storm + 20 * hour), kind: .drillStart(level: .yellow, by: "technician")))
    events.append(Event(time: at(storm + 21 * hour), kind: .drillStop(by: "technician")))
    return events.sorted { $0.time < $1.time }
}

func stormConfiguration() -> EngineConfiguration {
    var gauge2 = rainGauge
    gauge2.id = "rg2"
    let rules = jianghuaRules() + jianghuaRules(gauge: "rg2").map { rule in
        var renamed = rule
        renamed.id = "rg2_" + rule.id
        return renamed
    } + [
        Rule(id: "pond_level", sensorId: "wl1", measure: .waterLevel, thresholds: Thresholds(blue: 2, yellow: 2.5, orange: 2.8, red: 3)),
    ]
    return villageConfiguration(sensors: [rainGauge, gauge2, waterGauge], rules: rules, logic: LogicConfiguration(latchedLevels: [.red]))
}

@Suite struct ReplayTests {
    @Test func theSameEventsGiveTheSameActions() {
        var first = Engine(configuration: stormConfiguration())
        var second = Engine(configuration: stormConfiguration())
        let events = stormEvents()
        let firstActions = events.flatMap { first.handle($0) }
        let secondActions = events.flatMap { second.handle($0) }
        #expect(firstActions == secondActions)
        #expect(first.state == second.state)
        #expect(firstActions.realLevelChanges.count >= 3, "the storm exercises the engine: \(firstActions.realLevelChanges.map(\.to))")
        #expect(first.status().level == .red && first.status().causes == ["pond_level", "latch"])
    }

    @Test func aStateSavedMidStormResumesIdentically() throws {
        let events = stormEvents()
        var uninterrupted = Engine(configuration: stormConfiguration())
        let expected = events.flatMap { uninterrupted.handle($0) }

        var beforeRestart = Engine(configuration: stormConfiguration())
        let half = events.count / 3
        var actions = events[..<half].flatMap { beforeRestart.handle($0) }
        #expect(beforeRestart.status().level > .none, "saved mid-storm")
        let saved = try JSONEncoder().encode(beforeRestart.state)
        let restored = try JSONDecoder().decode(EngineState.self, from: saved)
        var afterRestart = Engine(configuration: stormConfiguration(), restoring: restored)
        #expect(afterRestart.status() == beforeRestart.status())
        actions += events[half...].flatMap { afterRestart.handle($0) }
        #expect(actions == expected)
        #expect(afterRestart.state == uninterrupted.state)
    }

    @Test func compactingTheHistoryBeforeEverySnapshotChangesNoDecisionAndShrinksTheState() throws {
        let events = stormEvents()
        var untouched = Engine(configuration: stormConfiguration())
        let expected = events.flatMap { untouched.handle($0) }
        // The daemon compacts before each snapshot and restarts from it: here at every 50th event.
        var compacted = Engine(configuration: stormConfiguration())
        var actions: [Action] = []
        var largestDeadBytes = 0
        for (index, event) in events.enumerated() {
            actions += compacted.handle(event)
            guard index % 50 == 49 else { continue }
            let before = try JSONEncoder().encode(compacted.state).count
            compacted.compactHistory()
            let saved = try JSONEncoder().encode(compacted.state)
            largestDeadBytes = max(largestDeadBytes, before - saved.count)
            compacted = Engine(configuration: stormConfiguration(), restoring: try JSONDecoder().decode(EngineState.self, from: saved))
        }
        #expect(actions == expected, "compaction changed a decision")
        #expect(compacted.status() == untouched.status())
        #expect(largestDeadBytes > 1_000, "the storm leaves dead history for compaction to drop (\(largestDeadBytes) bytes)")
    }

    @Test func aLatchedRedSurvivesARestartWithAChangedConfiguration() throws {
        var engine = Engine(configuration: stormConfiguration())
        _ = engine.tips(160, at: storm)
        _ = engine.tick(at: storm + 3 * hour)
        let saved = try JSONDecoder().decode(EngineState.self, from: JSONEncoder().encode(engine.state))
        // The county dropped the second gauge and the pond from the configuration meanwhile.
        let smaller = villageConfiguration(logic: LogicConfiguration(latchedLevels: [.red]))
        var restarted = Engine(configuration: smaller, restoring: saved)
        let resumed = restarted.tick(at: storm + 4 * hour)
        #expect(resumed.realLevelChanges.isEmpty)
        #expect(restarted.status().level == .red)
        #expect(restarted.status().sensors.map(\.id) == ["rg1"])
        #expect(restarted.status().sensors[0].tipsTotal == 160, "a tip counted before the restart is never lost")
        #expect(restarted.value("rain_6h") == 80)
        // The relays came up off with the box: the daemon asks what they should show.
        #expect(restarted.currentOutputs() == [.setSiren(.continuous, exercise: false), .setLamp(.red, exercise: false)])
    }

    @Test func aConfigurationChangeKeepsTheTipsAndAimsNewWindowsAtThem() throws {
        let before = villageConfiguration(rules: Array(jianghuaRules().prefix(2)))  // 1 h and 3 h
        var engine = Engine(configuration: before)
        _ = engine.tips(10, at: storm)
        _ = engine.tips(10, at: storm + 2 * hour)
        let saved = try JSONDecoder().decode(EngineState.self, from: JSONEncoder().encode(engine.state))
        let tenMinutes = Rule(id: "rain_10m", sensorId: "rg1", measure: .rainAccumulation(windowMilliseconds: 10 * minute), thresholds: Thresholds(red: 30))
        var changed = Engine(configuration: villageConfiguration(rules: jianghuaRules() + [tenMinutes]), restoring: saved)
        _ = changed.tick(at: storm + 2 * hour + 1)
        #expect(changed.value("rain_6h") == 10)
        #expect(changed.value("rain_10m") == 5)
        #expect(changed.nextWakeup() == at(storm + 2 * hour + 10 * minute))
    }

    @Test func aRestartKeepsTheUnansweredCallAndItsDeadline() throws {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(90, at: storm)
        let saved = try JSONDecoder().decode(EngineState.self, from: JSONEncoder().encode(engine.state))
        var restarted = Engine(configuration: villageConfiguration(), restoring: saved)
        #expect(restarted.nextWakeup() == at(storm + 10 * minute))
        let escalation = restarted.tick(at: storm + 10 * minute)
        #expect(escalation.reports.map(\.kind) == [.escalated(level: .yellow, step: 1, contacts: ["村长", "监测员", "镇干部"], called: [])])
    }
}

@Suite struct BadInputTests {
    @Test func unknownSensorsAndBackwardTimeAreReportedNeverFatal() {
        var engine = Engine(configuration: villageConfiguration(sensors: [rainGauge, waterGauge]))
        #expect(engine.handle(Event(time: at(storm), kind: .tips(sensorId: "ghost", count: 3))).rejections == ["tips from unknown sensor \"ghost\""])
        #expect(engine.handle(Event(time: at(storm), kind: .reading(sensorId: "rg1", value: 3))).rejections.count == 1)
        #expect(engine.handle(Event(time: at(storm), kind: .tips(sensorId: "rg1", count: 0))).rejections.count == 1)
        #expect(engine.handle(Event(time: at(storm), kind: .drillStop(by: "x"))).rejections.count == 1)
        _ = engine.tips(10, at: storm + hour)
        let backwards = engine.tips(10, at: storm + hour - 5_000)
        #expect(backwards.rejections.count == 1)
        #expect(backwards.rejections.first?.contains("time went back 5000 ms") == true)
        #expect(engine.status().time == at(storm + hour), "time never runs backwards")
        #expect(engine.value("rain_1h") == 10, "the tips still count, at the last known instant")
    }
}
