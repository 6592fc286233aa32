// Drills (演练): outputs act, everything is marked exercise, and real warnings pre-empt drills.
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

    @Test func stoppingADrillInCalmWeatherSpeaksTheDrillEndNeverTheAllClear() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.handle(Event(time: at(storm), kind: .drillStart(level: .orange, by: "technician")))
        let stop = engine.handle(Event(time: at(storm + 5 * minute), kind: .drillStop(by: "technician")))
        #expect(stop.contains(.broadcast(message: "【演练】演练结束。", exercise: true)))
        #expect(!stop.broadcasts.contains("预警解除。"), "a drill's end is not a real warning's end")
        #expect(stop.broadcasts == ["【演练】演练结束。"])
        #expect(stop.filter { !$0.isExercise }.allSatisfy { if case .broadcast = $0 { false } else { true } })
        #expect(stop.reports.filter { if case .drill = $0.kind { true } else { false } }.map(\.kind)
            == [.drill(started: false, level: .orange, by: "technician")])
        #expect(stop.reports.allSatisfy { $0.exercise })
        #expect(engine.status().outputLevel == WarningLevel.none)
    }

    @Test func theDrillEndMessageIsConfigurableAndAlwaysMarkedExercise() {
        var configuration = villageConfiguration()
        configuration.drillEndMessage = "演练到此结束，感谢配合。"
        var engine = Engine(configuration: configuration)
        _ = engine.handle(Event(time: at(storm), kind: .drillStart(level: .yellow, by: "technician")))
        let stop = engine.handle(Event(time: at(storm + minute), kind: .drillStop(by: "technician")))
        #expect(stop.broadcasts == ["【演练】演练到此结束，感谢配合。"], "the mark is added when the county's text lacks it")
    }

    @Test func aDrillIsRefusedWhileARealYellowOrAboveIsInForceEvenWithForce() {
        for (real, tips) in [(WarningLevel.yellow, 90), (.orange, 120), (.red, 160)] {
            for drill in WarningLevel.colours {
                for force in [nil, true] as [Bool?] {
                    var engine = Engine(configuration: villageConfiguration())
                    _ = engine.tips(tips, at: storm)
                    #expect(engine.status().level == real)
                    let refused = engine.handle(Event(time: at(storm + minute), kind: .drillStart(level: drill, by: "technician", force: force)))
                    #expect(refused.rejections.count == 1 && refused.rejections[0].contains("real \(real.name) warning is in force"))
                    #expect(refused.allSatisfy { if case .enqueueReport = $0 { true } else { false } }, "no output moves")
                    #expect(engine.status().drillLevel == nil && engine.status().outputLevel == real)
                }
            }
        }
    }

    @Test func aDrillOverARealBlueNeedsForce() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(70, at: storm)  // 35 mm: blue
        let refused = engine.handle(Event(time: at(storm + minute), kind: .drillStart(level: .red, by: "technician")))
        #expect(refused.rejections.first?.contains("needs force") == true)
        #expect(engine.status().drillLevel == nil)

        let forced = engine.handle(Event(time: at(storm + 2 * minute), kind: .drillStart(level: .red, by: "technician", force: true)))
        #expect(forced.contains(.setSiren(.continuous, exercise: true)))
        #expect(engine.status().drillLevel == .red && engine.status().level == .blue)

        // Stopped over the real blue: the drill's end, then the real blue's words again, so that
        // "drill over" is never taken for "all clear".
        let stop = engine.handle(Event(time: at(storm + 3 * minute), kind: .drillStop(by: "technician")))
        #expect(stop.broadcasts == ["【演练】演练结束。", "注意防范。"])
        #expect(stop.contains(.setLamp(.blue, exercise: false)))
    }

    @Test func aDrillIsRefusedWhileACountyWarningIsInForce() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.handle(Event(time: at(storm), kind: .countyWarning(id: "cw-7", level: .blue, text: nil)))
        let refused = engine.handle(Event(time: at(storm + minute), kind: .drillStart(level: .red, by: "technician", force: true)))
        #expect(refused.rejections.first?.contains("county warning cw-7 is in force") == true)
        #expect(engine.status().drillLevel == nil)
    }

    @Test func aCountyWarningEndsARunningDrillEvenWithoutALevelChange() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(70, at: storm)  // real blue
        _ = engine.handle(Event(time: at(storm + minute), kind: .drillStart(level: .orange, by: "technician", force: true)))
        let county = engine.handle(Event(time: at(storm + 2 * minute), kind: .countyWarning(id: "cw-8", level: .blue, text: "县防指：注意防范。")))
        #expect(county.realLevelChanges.isEmpty)
        #expect(county.reports.contains { $0.kind == .drill(started: false, level: .orange, by: "engine", preemptedBy: "county warning cw-8 at blue") })
        #expect(county.broadcasts == ["【演练】演练结束。", "注意防范。", "县防指：注意防范。"])
        #expect(county.contains(.setSiren(.off, exercise: false)) && county.contains(.setLamp(.blue, exercise: false)))
        #expect(engine.status().drillLevel == nil && engine.status().outputLevel == .blue)
    }

    /// The field finding: a red drill during a real yellow hid the real orange. Now the drill
    /// cannot start over the yellow; started in calm weather, the first real level ends it.
    @Test func aRealLevelChangeEndsTheDrillAndTheRealWarningSoundsAtOnce() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.handle(Event(time: at(storm), kind: .drillStart(level: .red, by: "technician")))
        let real = engine.tips(120, at: storm + 3 * minute)  // 60 mm: real orange
        #expect(real.realLevelChanges.map(\.to) == [.orange])
        #expect(real.broadcasts == ["【演练】演练结束。", "立即转移。"], "the drill's end first, then the real warning")
        #expect(real.contains(.setSiren(.intermittent(onMilliseconds: 3000, offMilliseconds: 2000), exercise: false)))
        #expect(real.contains(.setLamp(.orange, exercise: false)))
        #expect(real.messages.filter { !$0.exercise }.map(\.text) == ["【黄坑村 橙色预警】立即转移。", "【黄坑村 橙色预警】立即转移。"])
        #expect(real.reports.contains {
            $0.kind == .drill(started: false, level: .red, by: "engine", preemptedBy: "real level none → orange (rain_1h)") && $0.exercise
        })
        #expect(engine.state.drillAcknowledgement == nil && engine.status().drillLevel == nil)
        #expect(engine.status().acknowledgementDeadline == at(storm + 13 * minute))
        let stop = engine.handle(Event(time: at(storm + 4 * minute), kind: .drillStop(by: "technician")))
        #expect(stop.rejections.count == 1, "the drill is over already")
        #expect(!stop.contains { if case .setSiren = $0 { true } else { false } })
    }

    /// Every (drill level, real level) pair, from calm and from a real blue (forced): the real
    /// actions, at every instant, are exactly those of the same storm without the drill.
    @Test(arguments: WarningLevel.colours)
    func aDrillNeverSuppressesOrDelaysARealOutput(drill: WarningLevel) {
        // Every level repeats, so a silenced repeat would show.
        var outputs = villageOutputs
        outputs[.blue]?.repeatEveryMilliseconds = 7 * minute
        outputs[.yellow]?.repeatEveryMilliseconds = 6 * minute
        let configuration = villageConfiguration(outputs: outputs)
        let tipsFor: [WarningLevel: Int] = [.blue: 70, .yellow: 90, .orange: 120, .red: 160]
        for start in [WarningLevel.none, .blue] {
            for real in WarningLevel.allCases where real != start {
                var weather: [(Int64, Event.Kind)] = []
                if start == .blue { weather.append((0, .tips(sensorId: "rg1", count: 70))) }
                if real == .none {
                    // From blue to none: the rain leaves the hour window, clear_after passes.
                } else {
                    weather.append((20 * minute, .tips(sensorId: "rg1", count: tipsFor[real]! - (start == .blue ? 70 : 0))))
                }
                let drillEvent = (5 * minute, Event.Kind.drillStart(level: drill, by: "technician", force: start == .blue ? true : nil))
                let end = 4 * hour
                let withDrill = replay(configuration, weather + [drillEvent], until: end)
                let without = replay(configuration, weather, until: end)
                let pair = "drill \(drill.name) from real \(start.name) to real \(real.name)"
                #expect(withDrill.real == without.real, "\(pair): the real actions differ from a storm without the drill")
                #expect(withDrill.preempted, "\(pair): the drill was not ended by the real change")
                if drill > start {
                    #expect(withDrill.exerciseSirenOrLamp, "\(pair): the drill never drove the outputs")
                }
            }
        }
    }

    @Test func broadcastsRepeatWhileTheLevelHolds() {
        var engine = Engine(configuration: villageConfiguration(acknowledgement: AcknowledgementPolicy(fromLevel: nil)))
        _ = engine.tips(120, at: storm)  // orange: every 10 min
        #expect(engine.nextWakeup() == at(storm + 10 * minute))
        let repeated = engine.runUntil(storm + 30 * minute)
        #expect(repeated.broadcasts == ["立即转移。", "立即转移。", "立即转移。"])
    }

    @Test func aRealBluesRepeatsGoOnUnderAForcedDrill() {
        var outputs = villageOutputs
        outputs[.blue]?.repeatEveryMilliseconds = 10 * minute
        var engine = Engine(configuration: villageConfiguration(outputs: outputs))
        _ = engine.tips(70, at: storm)  // real blue, repeating every 10 min
        _ = engine.handle(Event(time: at(storm + minute), kind: .drillStart(level: .yellow, by: "technician", force: true)))
        let during = engine.runUntil(storm + 25 * minute)
        let real = during.compactMap { if case .broadcast(let text, false) = $0 { text } else { nil } }
        #expect(real == ["注意防范。", "注意防范。"], "the real blue's repeats at +10 and +20 min")
    }

    /// Replays `events` (milliseconds after `storm`) as `simulate` does: ticking at each wake-up.
    private func replay(_ configuration: EngineConfiguration, _ events: [(Int64, Event.Kind)], until end: Int64)
        -> (real: [String], preempted: Bool, exerciseSirenOrLamp: Bool)
    {
        var engine = Engine(configuration: configuration)
        var all: [(Int64, Action)] = []
        // Both replays tick at the same instants, whichever events they hold.
        let instants = [0, 5 * minute, 20 * minute]
        var wakeupsMax = 10_000
        func tickThrough(_ end: Int64) {
            while let wakeup = engine.nextWakeup(), wakeup.millisecondsSinceUnixEpoch <= end, wakeupsMax > 0 {
                for action in engine.handle(Event(time: wakeup, kind: .tick)) { all.append((wakeup.millisecondsSinceUnixEpoch, action)) }
                wakeupsMax -= 1
            }
        }
        for instant in instants {
            let time = storm + instant
            tickThrough(time)
            for action in engine.tick(at: time) { all.append((time, action)) }
            for (offset, kind) in events where offset == instant {
                for action in engine.handle(Event(time: at(time), kind: kind)) { all.append((time, action)) }
            }
        }
        tickThrough(storm + end)
        let real = all.filter { !$0.1.isExercise }.map { "\(($0.0 - storm) / 1000) s: \($0.1)" }
        let preempted = all.contains { if case .enqueueReport(let report) = $0.1, case .drill(false, _, "engine", .some) = report.kind { true } else { false } }
        let driven = all.contains { if case .setSiren(_, true) = $0.1 { true } else if case .setLamp(_, true) = $0.1 { true } else { false } }
        return (real, preempted, driven)
    }
}

@Suite struct DrillInvariantTests {
    @Test func theEngineFindsARealChangeWithoutItsRealOutputs() {
        let engine = Engine(configuration: villageConfiguration())
        let change = LevelChange(time: at(storm), from: .none, to: .orange, causes: ["rain_1h"], exercise: false)
        #expect(engine.invariantViolation(after: [.levelChanged(change)])?.contains("did not set its real siren and lamp") == true)
        let withoutBroadcast: [Action] = [
            .levelChanged(change), .setSiren(.intermittent(onMilliseconds: 3000, offMilliseconds: 2000), exercise: false),
            .setLamp(.orange, exercise: false), .broadcast(message: "【演练】立即转移。", exercise: true),
        ]
        #expect(engine.invariantViolation(after: withoutBroadcast)?.contains("was not broadcast as real") == true)
    }

    @Test func aDrillSavedBesideARealWarningByAnOlderVersionIsEndedOnTheNextEvent() {
        // An older version let a red drill run over a real orange; such a state may be on disk.
        var old = Engine(configuration: villageConfiguration())
        _ = old.handle(Event(time: at(storm), kind: .drillStart(level: .red, by: "technician")))
        var saved = old.state
        saved.levels.ruleLevel = .orange
        saved.levels.stationLevel = .orange
        var engine = Engine(configuration: villageConfiguration(), restoring: saved)
        let next = engine.tick(at: storm + minute)
        #expect(next.reports.contains { $0.kind == .drill(started: false, level: .red, by: "engine", preemptedBy: "real level orange in force") })
        #expect(next.contains(.setSiren(.intermittent(onMilliseconds: 3000, offMilliseconds: 2000), exercise: false)))
        #expect(next.contains(.broadcast(message: "立即转移。", exercise: false)))
        #expect(engine.status().drillLevel == nil && engine.status().outputLevel == .orange)
    }
}

extension Action {
    /// Drill actions; everything else is real.
    var isExercise: Bool {
        switch self {
        case .levelChanged(let change): change.exercise
        case .setSiren(_, let exercise), .setLamp(_, let exercise), .broadcast(_, let exercise): exercise
        case .sendSMS(let sms): sms.exercise
        case .call(let call): call.exercise
        case .enqueueReport(let report): report.exercise
        }
    }
}
