// Scenario and report times: exact parsing and printing with the station's offset.
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct ISO8601Tests {
    @Test func hagupitLandfallIsTheSameInstantInAnyOffset() throws {
        let landfall = try #require(ISO8601.parse("2020-08-04T03:30:00+08:00"))
        #expect(landfall.millisecondsSinceUnixEpoch == 1_596_483_000_000)
        #expect(ISO8601.parse("2020-08-03T19:30:00Z") == landfall)
        #expect(ISO8601.parse("2020-08-04T03:30+08:00") == landfall)
        #expect(ISO8601.format(landfall, utcOffsetMinutes: 480) == "2020-08-04T03:30:00+08:00")
        #expect(ISO8601.format(landfall, utcOffsetMinutes: 0) == "2020-08-03T19:30:00+00:00")
    }

    @Test func leapDaysNegativeOffsetsAndMilliseconds() throws {
        let time = try #require(ISO8601.parse("2000-02-29T23:59:59.250-03:30"))
        #expect(time.millisecondsSinceUnixEpoch == 951_881_399_250)
        #expect(ISO8601.format(time, utcOffsetMinutes: -210) == "2000-02-29T23:59:59.250-03:30")
        // More than three fraction digits: milliseconds are kept, the rest dropped.
        #expect(ISO8601.parse("2000-02-29T23:59:59.2509-03:30") == time)
        #expect(ISO8601.parse("1969-12-31T23:00:00+00:00")?.millisecondsSinceUnixEpoch == -3_600_000)
        #expect(ISO8601.format(Timestamp(millisecondsSinceUnixEpoch: -3_600_000), utcOffsetMinutes: 0) == "1969-12-31T23:00:00+00:00")
    }

    @Test func formattingThenParsingGivesTheSameInstantAcrossYears() throws {
        var time = Timestamp(millisecondsSinceUnixEpoch: -2_000_000_000_000)
        while time.millisecondsSinceUnixEpoch < 4_000_000_000_000 {
            for offset in [-720, -210, 0, 345, 480, 840] {
                let text = ISO8601.format(time, utcOffsetMinutes: offset)
                #expect(ISO8601.parse(text) == time, "\(text)")
            }
            time = time.adding(milliseconds: 86_400_000 * 97 + 3_723_456)
        }
    }

    @Test func mistakesAreExplained() {
        func problem(_ text: String) -> String? {
            do {
                _ = try ISO8601.parseOrExplain(text)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(problem("2020-08-04T03:30:00")?.contains("offset is missing") == true)
        #expect(problem("2021-02-29T00:00:00+08:00")?.contains("day 29 does not exist") == true)
        #expect(problem("2020-13-01T00:00:00+08:00")?.contains("month 13") == true)
        #expect(problem("2020-08-04 03:30:00+08:00") == nil)
        #expect(problem("2020-08-04T24:00:00+08:00")?.contains("out of range") == true)
        #expect(problem("yesterday") != nil)
        #expect(problem("2020-08-04T03:30:00+08:00 ")?.contains("unexpected text") == true)
        #expect(problem("") != nil)
    }
}
