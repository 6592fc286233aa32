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
