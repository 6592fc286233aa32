// The configuration vocabulary: thresholds reached by ≥, and measure names both ways.
import Testing
import WarningLogic

@Suite struct ThresholdsAndMeasuresTests {
    let jianghua1h = Thresholds(blue: 35, yellow: 45, orange: 60, red: 80)

    @Test func aThresholdReachedExactlyCountsAsReached() {
        #expect(jianghua1h.level(reachedBy: 45) == .yellow)
        #expect(jianghua1h.level(reachedBy: 44.9) == .blue)
        #expect(jianghua1h.level(reachedBy: 34.9) == WarningLevel.none)
        #expect(jianghua1h.level(reachedBy: 1_000) == .red)
    }

    @Test func aSubsetOfLevelsIsAllowedButMustIncrease() {
        let onlyOrangeAndRed = Thresholds(orange: 100, red: 120)
        #expect(onlyOrangeAndRed.isStrictlyIncreasing)
        #expect(onlyOrangeAndRed.level(reachedBy: 99) == WarningLevel.none)
        #expect(onlyOrangeAndRed.level(reachedBy: 100) == .orange)
        #expect(!Thresholds(blue: 50, yellow: 50).isStrictlyIncreasing)
        #expect(!Thresholds().isStrictlyIncreasing)
    }

    @Test func measureNamesRoundTrip() {
        for name in Measure.standardNames {
            #expect(Measure(name: name)?.name == name, "\(name)")
        }
        #expect(Measure(name: "rain_1h") == .rainAccumulation(windowMilliseconds: Milliseconds.hour))
        #expect(Measure(name: "rain_24h") == .rainAccumulation(windowMilliseconds: Milliseconds.day))
        #expect(Measure(name: "displacement_rate_24h") == .displacementRate(spanMilliseconds: Milliseconds.day))
        #expect(Measure(name: "rain_2d") == .rainAccumulation(windowMilliseconds: 2 * Milliseconds.day))
        #expect(Measure(name: "rain_") == nil)
        #expect(Measure(name: "rain_0h") == nil)
        #expect(Measure(name: "snow_1h") == nil)
    }
}
