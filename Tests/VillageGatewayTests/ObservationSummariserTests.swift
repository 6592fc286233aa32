// Observation summaries from box time alone: aligned to local hours, exact rain splits, P1/P6/PD.
import Foundation
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct ObservationSummariserTests {
    /// 2026-07-15 00:00 +08:00.
    static let localMidnight: Int64 = 1_784_044_800_000

    static func configuration() throws -> EngineConfiguration {
        try ConfigurationLoader.load(path: ConfigurationFixtures.examplePath).engine
    }

    /// The status the owner would publish at `minutes` after local midnight.
    static func status(minutes: Int64, tips: Int64, river: Double? = nil, riverMinutes: Int64? = nil, level: WarningLevel = .none) -> StationStatus {
        let time = Timestamp(millisecondsSinceUnixEpoch: localMidnight + minutes * Milliseconds.minute)
        var sensors = [
            SensorStatus(id: "rain1", faulty: false, faultReason: nil, lastValue: nil, lastTime: nil, readFailuresConsecutive: 0, tipsTotal: tips),
        ]
        let riverTime = Timestamp(millisecondsSinceUnixEpoch: localMidnight + (riverMinutes ?? minutes) * Milliseconds.minute)
        sensors.append(SensorStatus(
            id: "river1", faulty: false, faultReason: nil, lastValue: river, lastTime: river == nil ? nil : riverTime, readFailuresConsecutive: 0,
            tipsTotal: nil))
        return StationStatus(
            time: time, level: level, causes: [], drillLevel: nil, outputLevel: level, degraded: false, lowerAt: nil, latchedLevel: nil,
            acknowledgementDeadline: nil, sensors: sensors, measures: [])
    }

    @Test func boundariesFallOnLocalHoursWhateverTheOffset() throws {
        let summariser = ObservationSummariser(configuration: try Self.configuration(), summaryEveryMilliseconds: Milliseconds.hour)
        let inside = Self.localMidnight + 90 * Milliseconds.minute
        #expect(summariser.boundary(atOrBefore: inside) == Self.localMidnight + Milliseconds.hour)
        #expect(summariser.boundary(atOrBefore: Self.localMidnight) == Self.localMidnight)
        let daily = ObservationSummariser(configuration: try Self.configuration(), summaryEveryMilliseconds: Milliseconds.day)
        // A day is local midnight (16:00 UTC at +08:00), not UTC midnight.
        #expect(daily.boundary(atOrBefore: inside) == Self.localMidnight)
        // The rain day closing at 08:00 started at 08:00 the day before; at 09:00 it started at 08:00.
        #expect(summariser.rainDayStart(before: Self.localMidnight + 8 * Milliseconds.hour) == Self.localMidnight - 16 * Milliseconds.hour)
        #expect(summariser.rainDayStart(before: Self.localMidnight + 9 * Milliseconds.hour) == Self.localMidnight + 8 * Milliseconds.hour)
    }

    @Test func aSummaryAtEachHourSplitsTheTipsExactly() throws {
        // rain1 tips 0.2 mm in the example.
        var summariser = ObservationSummariser(configuration: try Self.configuration(), summaryEveryMilliseconds: Milliseconds.hour)
        var summaries: [ObservationSummary] = []
        // One status a minute from 00:30 to 03:10, a tip every minute, the river rising 1 cm a minute.
        for minute in Int64(30)...190 {
            if let summary = summariser.observe(Self.status(minutes: minute, tips: minute - 30, river: 2.0 + Double(minute) / 100)) {
                summaries.append(summary)
            }
        }
        #expect(summaries.map(\.observedAtMilliseconds) == [1, 2, 3].map { Self.localMidnight + $0 * Milliseconds.hour })
        let rain = summaries.map { $0.sensors.first { $0.id == "rain1" }! }
        // 00:30-01:00 was watched only from 00:30: the first full period is unknown before it.
        #expect(rain[0].rainMillimetersPeriod == nil)
        #expect(rain[0].rainMillimetersTotal == 6.0)  // the counter at 01:00: 30 tips
        #expect(rain[1].rainMillimetersPeriod == 12.0)  // 60 tips × 0.2 mm
        #expect(rain[2].rainMillimetersPeriod == 12.0)
        #expect(rain[2].rainMillimeters1h == 12.0)
        #expect(rain[2].rainMillimeters6h == nil)  // not watched for 6 hours
        #expect(rain[2].rainMillimetersToday == nil)  // the rain day began at 08:00 yesterday
        let river = summaries.map { $0.sensors.first { $0.id == "river1" }! }
        #expect(river[1].waterLevelMeters == 2.0 + 120.0 / 100)
        #expect(summaries.allSatisfy { $0.periodMilliseconds == Milliseconds.hour && $0.level == "none" })
    }

    @Test func aJumpOverSeveralBoundariesGivesOneSummaryAndAStaleReadingIsLeftOut() throws {
        var summariser = ObservationSummariser(configuration: try Self.configuration(), summaryEveryMilliseconds: Milliseconds.hour)
        #expect(summariser.observe(Self.status(minutes: 10, tips: 0, river: 3.0)) == nil)
        // The box was off from 00:10 to 05:20.
        let observed = summariser.observe(Self.status(minutes: 320, tips: 5, river: 3.5, riverMinutes: 200, level: .yellow))
        let summary = try #require(observed)
        #expect(summary.observedAtMilliseconds == Self.localMidnight + 5 * Milliseconds.hour)
        #expect(summary.level == "yellow")
        // The river's last reading (03:20) is not from the 04:00-05:00 period.
        #expect(summary.sensors.first { $0.id == "river1" }?.waterLevelMeters == nil)
        #expect(summariser.observe(Self.status(minutes: 330, tips: 5)) == nil)
    }

    @Test func theReportIsRoutineAndKeyedByItsPeriod() throws {
        let summary = ObservationSummary(
            observedAtMilliseconds: Self.localMidnight, periodMilliseconds: Milliseconds.hour, level: "none", supplyVolts: nil, sensors: [])
        let report = ObservationSummariser.report(summary)
        #expect(report.priority == .routine)
        #expect(report.kind == "observationSummary")
        #expect(report.originKey == "observationSummary:\(Self.localMidnight)")
        #expect(try JSONDecoder().decode(ObservationSummary.self, from: Data(report.payload.utf8)) == summary)
    }
}

@Suite struct ObservationSummariserFiveMinuteSeriesTests {
    @Test func anHourlySummaryKeepsTheTwelveFiveMinuteRainfallsAndWaterLevelsOfItsHour() throws {
        var summariser = ObservationSummariser(configuration: try ObservationSummariserTests.configuration(), summaryEveryMilliseconds: Milliseconds.hour)
        var summaries: [ObservationSummary] = []
        // A tip (0.2 mm) a minute from 00:30; the river rises 1 cm a minute but is read only every
        // other minute and not at all from 01:11 to 01:29 (a gap the series must show).
        for minute in Int64(30)...125 {
            let river: Double? = minute % 2 == 0 && !(71..<90).contains(minute) ? 2.0 + Double(minute) / 100 : nil
            let status = ObservationSummariserTests.status(minutes: minute, tips: minute - 30, river: river, riverMinutes: minute)
            if let summary = summariser.observe(status) { summaries.append(summary) }
        }
        #expect(summaries.count == 2)
        // 00:00-01:00 was watched from 00:30 only: the first six slots are unknown, not zero.
        let firstRain = try #require(summaries[0].sensors.first { $0.id == "rain1" }?.rainMillimeters5min)
        #expect(firstRain.map { $0 == nil } == Array(repeating: true, count: 6) + Array(repeating: false, count: 6))
        #expect(firstRain.compactMap { $0 } == Array(repeating: 1.0, count: 6))
        // 01:00-02:00: 5 tips a slot; the slots split the hour's 12 mm exactly.
        let rain = try #require(summaries[1].sensors.first { $0.id == "rain1" })
        #expect(rain.rainMillimeters5min == Array(repeating: 1.0, count: 12))
        #expect(rain.rainMillimeters5min?.compactMap { $0 }.reduce(0, +) == rain.rainMillimetersPeriod)
        // Water level: the last reading in each slot (01:05 → the 01:04 reading); 01:15 holds the
        // 01:10 reading (one slot back), 01:20 and 01:25 have none within 10 minutes.
        let level = try #require(summaries[1].sensors.first { $0.id == "river1" }?.waterLevelMeters5min)
        var expected: [Double?] = []
        for slot in 1...12 {
            let minute: Int = 60 + 5 * slot - (slot % 2 == 1 ? 1 : 0)
            expected.append(2.0 + Double(minute) / 100)
        }
        expected[2] = 2.0 + Double(70) / 100
        expected[3] = nil
        expected[4] = nil
        #expect(level == expected)
        // A summary period other than an hour keeps no series (the hourly report needs an hour).
        var daily = ObservationSummariser(configuration: try ObservationSummariserTests.configuration(), summaryEveryMilliseconds: Milliseconds.day)
        _ = daily.observe(ObservationSummariserTests.status(minutes: 10, tips: 0))
        let dayStatus = ObservationSummariserTests.status(minutes: 24 * 60 + 1, tips: 5)
        let dayOrNil = daily.observe(dayStatus)
        let day = try #require(dayOrNil)
        #expect(day.sensors.allSatisfy { $0.rainMillimeters5min == nil && $0.waterLevelMeters5min == nil })
    }

    @Test func theCurrentValuesAreTheRunningPeriodAndChangeNothing() throws {
        var summariser = ObservationSummariser(configuration: try ObservationSummariserTests.configuration(), summaryEveryMilliseconds: Milliseconds.hour)
        for minute in Int64(50)...75 { _ = summariser.observe(ObservationSummariserTests.status(minutes: minute, tips: minute - 50, river: 3.5)) }
        let status = ObservationSummariserTests.status(minutes: 75, tips: 25, river: 3.5)
        let current = summariser.current(status)
        #expect(current.observedAtMilliseconds == ObservationSummariserTests.localMidnight + 75 * Milliseconds.minute)
        // 01:00-01:15 so far: 15 tips.
        #expect(current.sensors.first { $0.id == "rain1" }?.rainMillimetersPeriod == 3.0)
        #expect(current.sensors.first { $0.id == "river1" }?.waterLevelMeters == 3.5)
        // The next summary still falls at 02:00 with the whole hour.
        var next: ObservationSummary?
        for minute in Int64(76)...121 { next = summariser.observe(ObservationSummariserTests.status(minutes: minute, tips: minute - 50, river: 3.5)) ?? next }
        #expect(next?.observedAtMilliseconds == ObservationSummariserTests.localMidnight + 2 * Milliseconds.hour)
        #expect(next?.sensors.first { $0.id == "rain1" }?.rainMillimetersPeriod == 12.0)
    }
}
