// Drills (演练): outputs act, everything is marked exercise, and a real alarm always wins.
import Testing
@testable import WarningLogic

@Suite struct DrillTests {
    @Test func aDrillDrivesTheOutputsAndEverythingItCausesIsExercise() {
        var engine = Engine(configuration: villageConfiguration())
        let start = engine.handle(Event(time: at(storm), kind: .drillStart(level: .red, by: "technician")))
        #expect(start.contains(.setSiren(.continuous, exercise: true)))
        #expect(start.contains(.setLamp(.red, exercise: true)))
        #expect(start.contains(.broadcast(message: "【演练】立即转移！", exercise: true)))
        #expect(start.levelChanges == [LevelChange(time: at(storm), from: .none, to: .red, causes: ["drill"], exercise: true)])
        #expect(start.messages.map(\.text) == ["【演练】【黄坑村 红色预警】立即转移！", "【演练】【黄坑村 红色预警】立即转移！"])
        #expect(start.messages.allSatisfy { $0.exercise })
        #expect(start.reports.allSatisfy { $0.exercise }, "the county never mistakes a drill for an event")
        #expect(engine.status().level == WarningLevel.none)
        #expect(engine.status().outputLevel == .red)

        let escalation = engine.tick(at: storm + 10 * minute)
        #expect(escalation.reports.map(\.kind) == [.escalated(level: .red, step: 1, contacts: ["村长", "监测员", "镇干部"], called: [])])
        #expect(escalation.reports.allSatisfy { $0.exercise } && escalation.messages.allSatisfy { $0.exercise })

        let stop = engine.handle(Event(time: at(storm + 12 * minute), kind: .drillStop(by: "technician")))
        #expect(stop.contains(.setSiren(.off, exercise: false)))
        #expect(stop.contains(.setLamp(nil, exercise: false)))
        #expect(stop.levelChanges.map(\.exercise) == [true])
        #expect(engine.nextWakeup() == nil, "the drill's 叫应 and repeats end with it")
    }

    @Test func aDrillDuringARealAlarmNeverLowersOrHidesIt() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(120, at: storm)  // 60 mm: real orange
        let lowerDrill = engine.handle(Event(time: at(storm + minute), kind: .drillStart(level: .yellow, by: "technician")))
        #expect(!lowerDrill.contains { if case .setSiren = $0 { true } else { false } }, "the real orange keeps the outputs")
        #expect(engine.status().outputLevel == .orange)

        let redDrill = engine.handle(Event(time: at(storm + 2 * minute), kind: .drillStart(level: .red, by: "technician")))
        #expect(redDrill.contains(.setSiren(.continuous, exercise: true)))
        #expect(engine.status().level == .orange)

        // The real alarm reaches red during the drill: the outputs turn real, the 叫应 is real.
        let realRed = engine.tips(40, at: storm + 3 * minute)
        #expect(realRed.realLevelChanges.map(\.to) == [.red])
        #expect(realRed.contains(.setSiren(.continuous, exercise: false)))
        #expect(realRed.contains(.broadcast(message: "立即转移！", exercise: false)))
        #expect(realRed.messages.allSatisfy { !$0.exercise } && realRed.messages.count == 2)
        #expect(realRed.reports.filter { if case .levelChanged = $0.kind { true } else { false } }.allSatisfy { !$0.exercise })
        #expect(engine.state.drillAcknowledgement == nil, "the drill's 叫应 gives way to the real one")
        #expect(engine.status().acknowledgementDeadline == at(storm + 3 * minute + 10 * minute))

        let stop = engine.handle(Event(time: at(storm + 4 * minute), kind: .drillStop(by: "technician")))
        #expect(stop.realLevelChanges.isEmpty)
        #expect(!stop.contains { if case .setSiren = $0 { true } else { false } })
        #expect(engine.status().level == .red && engine.status().outputLevel == .red)
    }

    @Test func broadcastsRepeatWhileTheLevelHolds() {
        var engine = Engine(configuration: villageConfiguration(acknowledgement: AcknowledgementPolicy(fromLevel: nil)))
        _ = engine.tips(120, at: storm)  // orange: every 10 min
        #expect(engine.nextWakeup() == at(storm + 10 * minute))
        let repeated = engine.runUntil(storm + 30 * minute)
        #expect(repeated.broadcasts == ["立即转移。", "立即转移。", "立即转移。"])
    }
}
