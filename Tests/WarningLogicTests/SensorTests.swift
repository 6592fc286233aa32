// Water level and displacement measures, and sensor health: stale, out of range, read failures.
import Testing
@testable import WarningLogic

@Suite struct WaterLevelTests {
    let rules = [
        Rule(id: "pond_level", sensorId: "wl1", measure: .waterLevel, thresholds: Thresholds(blue: 2, yellow: 3, orange: 4, red: 5)),
        Rule(id: "pond_rise", sensorId: "wl1", measure: .waterRise(spanMilliseconds: hour), thresholds: Thresholds(blue: 0.5, yellow: 1, orange: 1.5, red: 2)),
    ]

    @Test func riseIsMeasuredFromTheReadingAtOrJustBeforeTheSpan() {
        var engine = Engine(configuration: villageConfiguration(sensors: [waterGauge], rules: rules))
        _ = engine.reading(1.0, at: storm, sensor: "wl1")
        #expect(engine.value("pond_rise") == 0, "one reading: the oldest kept is itself")
        _ = engine.reading(1.25, at: storm + 30 * minute, sensor: "wl1")
        _ = engine.reading(1.75, at: storm + hour, sensor: "wl1")
        #expect(engine.value("pond_rise") == 0.75)
        #expect(engine.status().level == .blue)
        #expect(engine.status().causes == ["pond_rise"])
        // The reference moves to the 1.25 m reading when (t − 1 h) reaches it: a wakeup.
        #expect(engine.nextWakeup() == at(storm + 90 * minute))
        _ = engine.tick(at: storm + 90 * minute - 1)
        #expect(engine.value("pond_rise") == 0.75)
        _ = engine.tick(at: storm + 90 * minute)
        #expect(engine.value("pond_rise") == 0.5)
        #expect(engine.value("pond_level") == 1.75)
    }

    @Test func theHistoryIsPrunedBeyondTheLongestSpan() {
        var engine = Engine(configuration: villageConfiguration(sensors: [waterGauge], rules: rules))
        for step in Int64(0)..<Int64(3 * 24 * 60) {
            _ = engine.reading(1 + Double(step % 60) / 100, at: storm + step * minute, sensor: "wl1")
        }
        let sensor = engine.state.levelSensors[0]
        #expect(sensor.live.count == 61)
        #expect(sensor.readings.count <= 2 * 61 + LevelSensorState.compactionEntriesMin)
    }

    @Test func aReadingOutsideTheRangeMakesTheSensorFaultyUntilAGoodOne() {
        var engine = Engine(configuration: villageConfiguration(sensors: [waterGauge], rules: rules))
        _ = engine.reading(2.5, at: storm, sensor: "wl1")
        let bad = engine.reading(12.5, at: storm + minute, sensor: "wl1")
        #expect(bad.healthReports.map(\.reason) == ["reading 12.5 outside [0, 10] m"])
        #expect(bad.healthReports.map(\.faulty) == [true])
        #expect(engine.status().degraded)
        #expect(engine.status().level == .blue, "degraded is not an alarm; the level holds for clear_after")
        #expect(engine.value("pond_level") == nil)
        #expect(engine.status().sensors[0].lastValue == 12.5)
        let good = engine.reading(2.6, at: storm + 2 * minute, sensor: "wl1")
        #expect(good.healthReports.map(\.faulty) == [false])
        #expect(engine.value("pond_level") == 2.6)
        #expect(engine.value("pond_rise").map { abs($0 - 0.1) < 1e-12 } == true, "the bad reading never entered the history")
    }

    @Test func aSilentGaugeTurnsStaleAndRecoversOnTheNextReading() {
        var engine = Engine(configuration: villageConfiguration(sensors: [waterGauge], rules: rules))
        _ = engine.reading(1.0, at: storm, sensor: "wl1")
        #expect(engine.nextWakeup() == at(storm + 45 * minute))
        #expect(engine.tick(at: storm + 45 * minute - 1).healthReports.isEmpty)
        let stale = engine.tick(at: storm + 45 * minute)
        #expect(stale.healthReports.map(\.reason) == ["no data for 45m"])
        #expect(engine.status().sensors[0].faultReason == "no data for 45m")
        let back = engine.reading(1.0, at: storm + hour, sensor: "wl1")
        #expect(back.healthReports.map(\.faulty) == [false])
    }

    @Test func aGaugeThatNeverReportsIsStaleToo() {
        var engine = Engine(configuration: villageConfiguration(sensors: [rainGauge, waterGauge], rules: rules))
        _ = engine.tick(at: storm)
        let stale = engine.runUntil(storm + hour)
        #expect(stale.healthReports.map(\.sensorId) == ["wl1"], "a dry rain gauge is never stale")
    }

    @Test func consecutiveReadFailuresMakeItFaulty() {
        var engine = Engine(configuration: villageConfiguration(sensors: [waterGauge], rules: rules))
        _ = engine.reading(1.0, at: storm, sensor: "wl1")
        var reports: [(sensorId: String, faulty: Bool, reason: String)] = []
        for step in Int64(1)...3 {
            reports += engine.handle(Event(time: at(storm + step * 1_000), kind: .readFailure(sensorId: "wl1", reason: "timeout"))).healthReports
        }
        #expect(reports.map(\.reason) == ["3 read failures in a row: timeout"])
        #expect(engine.status().sensors[0].readFailuresConsecutive == 3)
    }

    @Test func aSensorTurningFaultyDuringAnAlarmHoldsTheLevelForClearAfterThenLowers() {
        var engine = Engine(configuration: villageConfiguration(sensors: [waterGauge], rules: rules))
        _ = engine.reading(4.2, at: storm, sensor: "wl1")
        #expect(engine.status().level == .orange)
        let fault = engine.runUntil(storm + 45 * minute)
        #expect(fault.healthReports.map(\.faulty) == [true])
        #expect(fault.realLevelChanges.isEmpty)
        #expect(engine.status().level == .orange && engine.status().degraded)
        #expect(engine.status().causes.isEmpty, "no rule meets orange now; it is held by clear_after")
        #expect(engine.status().lowerAt == at(storm + 45 * minute + hour))
        let lowered = engine.runUntil(storm + 3 * hour)
        #expect(lowered.realLevelChanges.map(\.time) == [at(storm + 45 * minute + hour)])
    }
}

@Suite struct DisplacementTests {
    let rules = [
        Rule(id: "crack", sensorId: "crack1", measure: .displacement, thresholds: Thresholds(blue: 10, yellow: 20, orange: 50, red: 100)),
        Rule(id: "crack_rate", sensorId: "crack1", measure: .displacementRate(spanMilliseconds: day), thresholds: Thresholds(blue: 5, yellow: 10, orange: 20, red: 50)),
        Rule(id: "crack_angle", sensorId: "crack1", measure: .tangentAngle, thresholds: Thresholds(blue: 60, yellow: 80, orange: 85)),
    ]

    @Test func steadyCreepPlotsAt45DegreesAndAccelerationRaisesTheAngle() {
        var engine = Engine(configuration: villageConfiguration(sensors: [crackMeter], rules: rules))
        for hourIndex in Int64(0)...48 {
            _ = engine.reading(200 + Double(hourIndex) / 24, at: storm + hourIndex * hour, sensor: "crack1")
        }
        #expect(engine.value("crack").map { abs($0 - 2) < 1e-9 } == true, "baseline is the first reading")
        #expect(engine.value("crack_rate").map { abs($0 - 1) < 1e-9 } == true)
        #expect(engine.value("crack_angle").map { abs($0 - 45) < 1e-9 } == true)
        #expect(engine.status().level == WarningLevel.none)
        // 12 mm in the last 24 h: atan(12) = 85.2°: orange.
        _ = engine.reading(202 + 11, at: storm + 49 * hour, sensor: "crack1")
        let rate = (213 - (200 + 25.0 / 24)) / (24.0 / 24)
        #expect(engine.value("crack_rate") == rate)
        #expect(engine.value("crack_angle").map { $0 > 85 } == true)
        #expect(engine.status().causes == ["crack_angle"])
        #expect(engine.status().level == .orange)
    }

    @Test func aConfiguredBaselineWinsAndTheRateUsesTheActualTimeBetweenReadings() {
        var crack = crackMeter
        crack.displacementBaseline = 190
        var engine = Engine(configuration: villageConfiguration(sensors: [crack], rules: rules))
        _ = engine.reading(200, at: storm, sensor: "crack1")
        #expect(engine.value("crack") == 10)
        #expect(engine.value("crack_rate") == nil, "a rate needs two readings apart in time")
        _ = engine.reading(201, at: storm + 6 * hour, sensor: "crack1")
        #expect(engine.value("crack_rate") == nil, "no reading a whole span old yet")
        #expect(engine.value("crack_angle") == nil)
        // Once the first reading is a day old the rate exists: 1 mm over the 6 h actually between
        // the two readings = 4 mm/day; the engine wakes at exactly that instant.
        #expect(engine.nextWakeup() == at(storm + day))
        _ = engine.tick(at: storm + day)
        #expect(engine.value("crack_rate") == 4)
        // A gap: the reference is the reading at or just before t − 24 h, over the real 30 h.
        _ = engine.reading(203, at: storm + 36 * hour, sensor: "crack1")
        #expect(engine.value("crack_rate") == 2 / (30.0 / 24))
    }

    @Test func aNewlyInstalledCrackMeterRaisesNothingFromItsFirstHoursOfRoundedReadings() {
        // Readings rounded to 0.01 mm on a slope creeping 0.5 mm/day: over one hour the rounding
        // alone reads as 0.48 or 0.72 mm/day; over 24 h it is noise. No level before a full day.
        var crack = crackMeter
        crack.steadyRateMillimetersPerDay = 0.5
        var engine = Engine(configuration: villageConfiguration(sensors: [crack], rules: rules))
        var levels: [WarningLevel] = []
        for step in Int64(0)..<72 {
            let reading = ((30 + 0.5 * Double(step) / 24) * 100).rounded() / 100
            _ = engine.reading(reading, at: storm + step * hour, sensor: "crack1")
            levels.append(engine.status().level)
        }
        #expect(levels.allSatisfy { $0 == WarningLevel.none }, "\(levels)")
        #expect(engine.value("crack_angle").map { abs($0 - 45) < 1 } == true)
    }
}
