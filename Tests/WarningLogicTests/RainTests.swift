// Rain gauges: exact accumulations over sliding windows, the antecedent index, chattering switches.
import Testing
@testable import WarningLogic

@Suite struct RainWindowTests {
    @Test func aThresholdReachedExactlyRaisesTheLevelAtThatTip() {
        var engine = Engine(configuration: villageConfiguration())
        let first = engine.tips(89, at: storm)  // 44.5 mm in the hour: blue
        #expect(first.realLevelChanges.map(\.to) == [.blue])
        let second = engine.tips(1, at: storm + 5 * minute)  // exactly 45.0 mm: yellow
        #expect(engine.value("rain_1h") == 45.0)
        #expect(second.realLevelChanges == [LevelChange(time: at(storm + 5 * minute), from: .blue, to: .yellow, causes: ["rain_1h"], exercise: false)])
        #expect(engine.status().level == .yellow)
    }

    @Test func aTipLeavesTheWindowExactlyAtTauPlusW() {
        var engine = Engine(configuration: villageConfiguration())
        let tau = storm + 17 * minute + 123
        _ = engine.tips(70, at: tau)  // 35 mm
        #expect(engine.nextWakeup() == at(tau + hour))
        _ = engine.tick(at: tau + hour - 1)
        #expect(engine.value("rain_1h") == 35.0, "still inside (t − W, t] at τ + W − 1 ms")
        _ = engine.tick(at: tau + hour)
        #expect(engine.value("rain_1h") == 0.0, "gone at τ + W")
        #expect(engine.value("rain_3h") == 35.0)
    }

    @Test func aTipAtTheSameInstantAsATickCountsWhicheverComesFirst() {
        var tickFirst = Engine(configuration: villageConfiguration())
        _ = tickFirst.tick(at: storm)
        _ = tickFirst.tips(90, at: storm)
        var tipsFirst = Engine(configuration: villageConfiguration())
        _ = tipsFirst.tips(90, at: storm)
        _ = tipsFirst.tick(at: storm)
        #expect(tickFirst.value("rain_1h") == 45.0)
        #expect(tipsFirst.value("rain_1h") == 45.0)
        #expect(tickFirst.status().level == .yellow && tipsFirst.status().level == .yellow)
        // A new tip at the instant an old one leaves: the old one is out, the new one in.
        _ = tipsFirst.tips(2, at: storm + hour)
        #expect(tipsFirst.value("rain_1h") == 1.0)
    }

    @Test func accumulationsAreExactDecimalMillimetres() {
        // 0.2 mm tips: 225 of them are 45.0 mm exactly, not 44.99999….
        var gauge = rainGauge
        gauge.micrometersPerTip = 200
        var engine = Engine(configuration: villageConfiguration(sensors: [gauge]))
        for second in 0..<225 { _ = engine.tips(1, at: storm + Int64(second) * 1_000) }
        #expect(engine.value("rain_1h") == 45.0)
        #expect(engine.status().level == .yellow)
    }

    @Test func nextWakeupNamesEachWindowExpiryInTurn() {
        var engine = Engine(configuration: villageConfiguration(logic: LogicConfiguration(clearAfterMilliseconds: 5 * hour)))
        #expect(engine.nextWakeup() == nil, "a fresh engine has nothing pending")
        _ = engine.tips(10, at: storm)
        _ = engine.tips(10, at: storm + 10 * minute)
        var expiries: [Int64] = []
        while let wakeup = engine.nextWakeup() {
            expiries.append(wakeup.millisecondsSinceUnixEpoch - storm)
            _ = engine.handle(Event(time: wakeup, kind: .tick))
        }
        let windows: [Int64] = [hour, 3 * hour, 6 * hour, day]
        #expect(expiries == windows.flatMap { [$0, $0 + 10 * minute] })
        #expect(engine.value("rain_24h") == 0)
    }

    @Test func aLongRunKeepsTheTipRecordWithinItsBound() {
        var engine = Engine(configuration: villageConfiguration())
        var largestRecord = 0
        // Three days of a tip every 10 s: 8 640 tips live in the 24-h window at any time.
        for step in 0..<Int64(3 * 8_640) {
            _ = engine.tips(1, at: storm + step * 10_000)
            largestRecord = max(largestRecord, engine.state.rainGauges[0].entries.count)
        }
        let gauge = engine.state.rainGauges[0]
        #expect(gauge.liveEntries == 8_640)
        #expect(largestRecord <= 2 * 8_640 + RainGaugeState.compactionEntriesMin)
        #expect(gauge.tipEntriesMax == 24 * 60 * 600)
        #expect(gauge.tipsTotal == 3 * 8_640)
        #expect(engine.value("rain_24h") == 4_320.0)
    }
}

@Suite struct ChatteringGaugeTests {
    @Test func aChatteringReedSwitchIsFaultyNotAStorm() {
        var engine = Engine(configuration: villageConfiguration())
        _ = engine.tips(10, at: storm)
        let burst = engine.tips(600, at: storm + 1_000)  // 610 tips inside a minute: more than 600
        #expect(burst.healthReports.map(\.faulty) == [true])
        #expect(burst.healthReports.first?.reason.contains("chattering") == true)
        #expect(burst.realLevelChanges.isEmpty, "no alarm from a stuck switch")
        #expect(engine.status().degraded)
        #expect(engine.status().level == WarningLevel.none)
        #expect(engine.value("rain_1h") == nil)
        #expect(engine.status().sensors[0].tipsTotal == 610, "every tip stays in the record")
        // It recovers once the first 10 tips leave the minute (600 are allowed): a wakeup.
        #expect(engine.nextWakeup() == at(storm + minute))
        #expect(engine.tick(at: storm + minute - 1).healthReports.isEmpty)
        let recovered = engine.tick(at: storm + minute)
        #expect(recovered.healthReports.map(\.faulty) == [false])
        #expect(!engine.status().degraded)
        #expect(engine.value("rain_1h") == 5.0, "only the tips before the chatter fed the rules")
    }

    @Test func endlessChatterDoesNotGrowTheState() {
        var engine = Engine(configuration: villageConfiguration())
        for millisecond in stride(from: Int64(0), to: 2 * hour, by: 50) {
            _ = engine.tips(1, at: storm + millisecond)
        }
        let gauge = engine.state.rainGauges[0]
        #expect(gauge.chattering)
        #expect(gauge.recentBursts.count <= 2 * 601 + RainGaugeState.compactionEntriesMin)
        #expect(gauge.entries.count <= 601)
        #expect(gauge.tipsTotal == 2 * hour / 50)
    }
}

@Suite struct AntecedentRainfallTests {
    let configuration = villageConfiguration(
        rules: [Rule(id: "pa", sensorId: "rg1", measure: .rainAntecedent, thresholds: Thresholds(blue: 60, yellow: 80))],
        logic: LogicConfiguration(antecedentDecayPerDay: 0.8, rainDayStartHour: 8))

    @Test func updatesOnceADayAtTheLocalRainDayStart() {
        var engine = Engine(configuration: configuration)
        _ = engine.tick(at: storm + hour)  // 09:00 local
        _ = engine.tips(100, at: storm + 2 * hour)  // 50 mm
        #expect(engine.value("pa") == 50)
        _ = engine.tips(20, at: storm + day)  // 10 mm exactly at 08:00 next day: still the old day
        #expect(engine.value("pa") == 60)
        _ = engine.tick(at: storm + day + 1)
        #expect(engine.value("pa") == 0.8 * (0 + 60.0))
        _ = engine.tips(10, at: storm + day + hour)
        #expect(engine.value("pa") == 0.8 * 60.0 + 5)
    }

    @Test func daysMissedWhileTheBoxWasOffEachApplyOnce() {
        var engine = Engine(configuration: configuration)
        _ = engine.tips(100, at: storm + hour)  // 50 mm on day 0
        _ = engine.tick(at: storm + 3 * day + 4 * hour)  // off for three day boundaries
        #expect(engine.value("pa") == 0.8 * 50.0 * 0.8 * 0.8)
    }

    @Test func theRainDayFollowsTheStationOffset() {
        // Local 08:00 at +08:00 is 00:00Z; at UTC it is 08:00Z.
        #expect(rainDayNumber(at: storm, utcOffsetMinutes: 480, startHour: 8) + 1 == rainDayNumber(at: storm + 1, utcOffsetMinutes: 480, startHour: 8))
        #expect(rainDayNumber(at: storm + 8 * hour, utcOffsetMinutes: 0, startHour: 8) + 1 == rainDayNumber(at: storm + 8 * hour + 1, utcOffsetMinutes: 0, startHour: 8))
        #expect(rainDayNumber(at: storm + 1, utcOffsetMinutes: 0, startHour: 8) == rainDayNumber(at: storm + 8 * hour, utcOffsetMinutes: 0, startHour: 8))
    }
}
