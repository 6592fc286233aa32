// Durations as technicians write them: what parses, what does not, and the way back.
import Testing
@testable import VillageGateway

@Suite struct DurationTests {
    @Test func readsEachUnit() {
        #expect(parseDuration("90s") == 90_000)
        #expect(parseDuration("30m") == 1_800_000)
        #expect(parseDuration("6h") == 21_600_000)
        #expect(parseDuration("7d") == 604_800_000)
        #expect(parseDuration("500ms") == 500)
        #expect(parseDuration("0s") == 0)
    }

    @Test func readsCombinationsLargestFirst() {
        #expect(parseDuration("1h30m") == 5_400_000)
        let expected: Int64 = 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5
        #expect(parseDuration("1d2h3m4s5ms") == expected)
        #expect(parseDuration("2s500ms") == 2_500)
    }

    @Test func refusesWhatIsNotADuration() {
        for text in ["", "5", "5x", "-5m", "+5m", "m", "5 m", " 5m", "5m ", "1.5h", "30m1h", "1h1h", "5M", "5mss", "h5", "1h30"] {
            #expect(parseDuration(text) == nil, "\"\(text)\" should not parse")
        }
    }

    @Test func refusesOverflow() {
        #expect(parseDuration("9223372036854775807ms") == Int64.max)
        #expect(parseDuration("9223372036854775808ms") == nil)
        let mostDays: Int64 = 106_751_991_167 * 86_400_000  // the largest whole number of days
        #expect(parseDuration("106751991167d") == mostDays)
        #expect(parseDuration("106751991168d") == nil)  // days × 86 400 000 overflows
        #expect(parseDuration("9223372036854775s807ms") == Int64.max)
        #expect(parseDuration("9223372036854775s808ms") == nil)  // the sum overflows
        #expect(parseDuration(String(repeating: "9", count: 40) + "s") == nil)
    }

    @Test func formatsCanonically() {
        #expect(formatDuration(0) == "0s")
        #expect(formatDuration(5_400_000) == "1h30m")
        #expect(formatDuration(3_600_000) == "1h")
        #expect(formatDuration(86_400_000) == "24h")
        #expect(formatDuration(2 * 86_400_000) == "2d")
        #expect(formatDuration(2 * 86_400_000 + 3_600_000) == "2d1h")
        #expect(formatDuration(1_500) == "1s500ms")
        #expect(formatDuration(-60_000) == "-1m")
        #expect(formatDuration(Int64.min).hasPrefix("-"))
    }

    @Test func formatThenParseIsTheIdentity() {
        var value: Int64 = 1
        while value < Int64.max / 7 {
            #expect(parseDuration(formatDuration(value)) == value)
            value = value * 7 + 3
        }
        #expect(parseDuration(formatDuration(Int64.max)) == Int64.max)
    }
}
