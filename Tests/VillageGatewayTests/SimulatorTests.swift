// The replay loop: it lowers at the exact instant the daemon would, it is deterministic, and it ends.
import Testing
import WarningLogic
@testable import VillageGateway

@Suite struct SimulatorTests {
    static let start = Timestamp(millisecondsSinceUnixEpoch: 1_596_483_000_000)  // 2020-08-04T03:30:00+08:00

    static func configuration(latched: Set<WarningLevel> = []) -> EngineConfiguration {
        EngineConfiguration(
            station: StationIdentity(id: "0011223344", name: "黄坑村"),
            sensors: [SensorConfiguration(id: "rain1", kind: .rainGauge, unit: "mm", micrometersPerTip: 500)],
            rules: [Rule(id: "rain-1h", sensorId: "rain1", measure: .rainAccumulation(windowMilliseconds: Milliseconds.hour), thresholds: Thresholds(blue: 10, red: 30))],
            logic: LogicConfiguration(clearAfterMilliseconds: 30 * Milliseconds.minute, latchedLevels: latched),
            acknowledgement: AcknowledgementPolicy(fromLevel: nil),
            outputs: [.blue: LevelOutputs(siren: .off, lamp: .blue, message: "注意"), .red: LevelOutputs(siren: .continuous, lamp: .red, message: "立即转移")])
    }

    /// 12 mm (24 tips of 0.5 mm) at the start: blue for an hour, then the tips leave the window.
    static let burst = [Event(time: start, kind: .tips(sensorId: "rain1", count: 24))]

    func levelChanges(_ result: SimulationResult) -> [(Timestamp, WarningLevel)] {
        result.actions.compactMap { timed in
            guard case .levelChanged(let change) = timed.action else { return nil }
            return (timed.time, change.to)
        }
    }

    @Test func theLevelFallsExactlyClearAfterTheTipsLeaveTheWindow() {
        let result = Simulator(configuration: Self.configuration()).run(events: Self.burst)
        let changes = levelChanges(result)
        #expect(changes.count == 2)
        #expect(changes.first?.0 == Self.start && changes.first?.1 == .blue)
        // The tips leave the 1-h window at start + 1 h exactly; 30 min later the level is lowered,
        // not at the next 5-minute sample after it.
        let expected = Self.start.adding(milliseconds: Milliseconds.hour + 30 * Milliseconds.minute)
        #expect(changes.last?.0 == expected && changes.last?.1 == WarningLevel.none)
        #expect(result.endReason == "the level is back to none with no timer pending")
        #expect(result.lastTime == expected)
    }

    @Test func theSameScenarioTwiceGivesTheSameTimeline() {
        let events = (0..<200).map { index in
            Event(time: Self.start.adding(milliseconds: Int64(index) * 97_000), kind: .tips(sensorId: "rain1", count: index % 3))
        }.filter { if case .tips(_, let count) = $0.kind { count > 0 } else { true } }
        let first = Simulator(configuration: Self.configuration()).run(events: events)
        let second = Simulator(configuration: Self.configuration()).run(events: events)
        #expect(first.actions == second.actions)
        #expect(first.samples == second.samples)
        #expect(!first.actions.isEmpty)
    }

    @Test func untilStopsTheClockWhereAsked() {
        let until = Self.start.adding(milliseconds: 20 * Milliseconds.minute)
        let result = Simulator(configuration: Self.configuration()).run(events: Self.burst, until: until)
        #expect(result.lastTime <= until)
        #expect(result.finalStatus.level == .blue)
        #expect(result.endReason == "reached --until")
    }

    @Test func aLatchedLevelEndsTheReplayWithTheReasonNotAHang() {
        let red = [Event(time: Self.start, kind: .tips(sensorId: "rain1", count: 70))]
        let result = Simulator(configuration: Self.configuration(latched: [.red])).run(events: red)
        #expect(result.finalStatus.level == .red)
        #expect(result.endReason.contains("latched"))
        #expect(result.endReason.contains("acknowledge and clear"))
    }

    @Test func samplesFollowTheIntervalForTheChart() {
        var simulator = Simulator(configuration: Self.configuration())
        simulator.sampleIntervalMilliseconds = 10 * Milliseconds.minute
        let result = simulator.run(events: Self.burst)
        let sampled = result.samples.dropLast().map(\.time)
        #expect(sampled.first == Self.start)
        #expect(zip(sampled, sampled.dropFirst()).allSatisfy { $1.milliseconds(since: $0) == 10 * Milliseconds.minute })
        // A sample at the same instant as a row is taken before the row (ticks come first).
        #expect(result.samples.first?.measures.first?.value == 0.0)
        #expect(result.samples.dropFirst().first?.measures.first?.value == 12.0)
    }
}
