// Prints the warning engine's throughput: a million tips, and a 30-day replay. Run in release:
//   swift build -c release --product EngineBenchmark && .build/release/EngineBenchmark

import WarningLogic

let minute = Milliseconds.minute
let hour = Milliseconds.hour
let day = Milliseconds.day
/// 2020-08-04 08:00 +08:00.
let start: Int64 = 1_596_499_200_000

func at(_ milliseconds: Int64) -> Timestamp { Timestamp(millisecondsSinceUnixEpoch: milliseconds) }

func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}

func rainRules(gauge: String, windows: [Int64]) -> [Rule] {
    // Jianghua-like thresholds scaled with the window length; the values matter little here.
    windows.map { window in
        // 35 mm in the first hour, then growing less than linearly with the window.
        let base = 35 * Double(window) / Double(hour) / (1 + Double(window) / Double(6 * hour))
        return Rule(
            id: "\(gauge)_rain_\(window / minute)m", sensorId: gauge, measure: .rainAccumulation(windowMilliseconds: window),
            thresholds: Thresholds(blue: base, yellow: base * 1.3, orange: base * 1.7, red: base * 2.3))
    }
}

let outputs: [WarningLevel: LevelOutputs] = [
    .blue: LevelOutputs(siren: .off, lamp: .blue, message: "注意防范。"),
    .yellow: LevelOutputs(siren: .intermittent(onMilliseconds: 1000, offMilliseconds: 4000), lamp: .yellow, message: "准备转移。"),
    .orange: LevelOutputs(siren: .intermittent(onMilliseconds: 3000, offMilliseconds: 2000), lamp: .orange, message: "立即转移。", repeatEveryMilliseconds: 10 * minute),
    .red: LevelOutputs(siren: .continuous, lamp: .red, message: "立即转移！", repeatEveryMilliseconds: 5 * minute),
]
let contacts = [Contact(name: "村长", phone: "13800000001", order: 1), Contact(name: "镇干部", phone: "13800000003", order: 2)]

// MARK: One million tips over 8 gauges

/// Every gauge tips once a second (0.01 mm tips, so 36 mm/h: a heavy storm), gauges offset by
/// 125 ms; rules on 10 min, 1 h, 3 h, 6 h and 24 h windows for each gauge (40 rules).
func millionTips(withTicks: Bool) -> (events: Int, seconds: Double, level: WarningLevel) {
    let gauges = (1...8).map { "rg\($0)" }
    let windows = [10 * minute, hour, 3 * hour, 6 * hour, day]
    let configuration = EngineConfiguration(
        station: StationIdentity(id: "4312000001", name: "黄坑村"),
        sensors: gauges.map { SensorConfiguration(id: $0, kind: .rainGauge, unit: "mm", micrometersPerTip: 10) },
        rules: gauges.flatMap { rainRules(gauge: $0, windows: windows) },
        contacts: contacts, outputs: outputs)
    var engine = Engine(configuration: configuration)
    let tipsTotal = 1_000_000
    var events = 0
    var actions = 0
    let clock = ContinuousClock()
    let elapsed = clock.measure {
        var second: Int64 = 0
        var tips = 0
        while tips < tipsTotal {
            let secondStart = start + second * 1_000
            for (index, gauge) in gauges.enumerated() where tips < tipsTotal {
                actions += engine.handle(Event(time: at(secondStart + Int64(index) * 125), kind: .tips(sensorId: gauge, count: 1))).count
                tips += 1
                events += 1
            }
            if withTicks {
                actions += engine.handle(Event(time: at(secondStart + 999), kind: .tick)).count
                events += 1
            }
            second += 1
        }
    }
    precondition(actions > 0)
    return (events, seconds(elapsed), engine.status().level)
}

for withTicks in [false, true] {
    let result = millionTips(withTicks: withTicks)
    let label = withTicks ? "1,000,000 tips + a tick every second" : "1,000,000 tips, no ticks"
    print("\(label): \(result.events) events in \(formatted(result.seconds)) s = \(formatted(Double(result.events) / result.seconds / 1e6)) M events/s (level \(result.level))")
}

// MARK: A 30-day replay

/// 8 sensors, one row per minute each, for 30 days (345,600 rows): 4 rain gauges (tips in rainy
/// spells, Jianghua 1/3/6/24 h rules plus P_a), 2 pond gauges (level, 1-h rise), 2 crack meters
/// (displacement, 24-h rate, tangent angle). Between rows the engine is ticked exactly at each
/// nextWakeup(), as `simulate` does, and status() is sampled every 5 minutes for the chart.
func thirtyDayReplay() -> (rows: Int, ticks: Int, samples: Int, seconds: Double, levelChanges: Int, digest: UInt64) {
    let gauges = (1...4).map { "rg\($0)" }
    let ponds = ["wl1", "wl2"]
    let cracks = ["crack1", "crack2"]
    var sensors = gauges.map { SensorConfiguration(id: $0, kind: .rainGauge, unit: "mm", micrometersPerTip: 200) }
    sensors += ponds.map { SensorConfiguration(id: $0, kind: .waterLevel, unit: "m", rangeMinimum: 0, rangeMaximum: 20, staleAfterMilliseconds: 30 * minute) }
    sensors += cracks.map {
        SensorConfiguration(id: $0, kind: .displacement, unit: "mm", rangeMinimum: -1000, rangeMaximum: 1000, staleAfterMilliseconds: 30 * minute, steadyRateMillimetersPerDay: 2)
    }
    var rules: [Rule] = []
    for gauge in gauges {
        let table: [(Int64, Thresholds)] = [
            (hour, Thresholds(blue: 35, yellow: 45, orange: 60, red: 80)), (3 * hour, Thresholds(blue: 55, yellow: 75, orange: 100, red: 120)),
            (6 * hour, Thresholds(blue: 70, yellow: 95, orange: 120, red: 150)), (day, Thresholds(blue: 100, yellow: 130, orange: 160, red: 200)),
        ]
        rules += table.map { Rule(id: "\(gauge)_rain_\($0.0 / hour)h", sensorId: gauge, measure: .rainAccumulation(windowMilliseconds: $0.0), thresholds: $0.1) }
        rules.append(Rule(id: "\(gauge)_pa", sensorId: gauge, measure: .rainAntecedent, thresholds: Thresholds(yellow: 150, red: 250)))
    }
    for pond in ponds {
        rules.append(Rule(id: "\(pond)_level", sensorId: pond, measure: .waterLevel, thresholds: Thresholds(blue: 3, yellow: 4, orange: 5, red: 6)))
        rules.append(Rule(id: "\(pond)_rise", sensorId: pond, measure: .waterRise(spanMilliseconds: hour), thresholds: Thresholds(blue: 0.5, yellow: 1, orange: 1.5, red: 2)))
    }
    for crack in cracks {
        rules.append(Rule(id: "\(crack)_disp", sensorId: crack, measure: .displacement, thresholds: Thresholds(blue: 20, yellow: 50, orange: 100, red: 200)))
        rules.append(Rule(id: "\(crack)_rate", sensorId: crack, measure: .displacementRate(spanMilliseconds: day), thresholds: Thresholds(blue: 5, yellow: 10, orange: 20, red: 50)))
        rules.append(Rule(id: "\(crack)_angle", sensorId: crack, measure: .tangentAngle, thresholds: Thresholds(yellow: 80, orange: 85)))
    }
    let configuration = EngineConfiguration(
        station: StationIdentity(id: "4312000001", name: "黄坑村"), sensors: sensors, rules: rules, contacts: contacts, outputs: outputs)
    var engine = Engine(configuration: configuration)

    var seed: UInt64 = 42
    func random(_ bound: UInt64) -> UInt64 {
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (seed >> 33) % bound
    }
    var rows = 0
    var ticks = 0
    var samples = 0
    var levelChanges = 0
    var actionsSeen: [Action] = []
    var nextSample = start
    let clock = ContinuousClock()
    let elapsed = clock.measure {
        var minuteEvents: [Event] = []
        for minuteIndex in Int64(0)..<Int64(30 * 24 * 60) {
            let rowTime = start + minuteIndex * minute
            minuteEvents.removeAll(keepingCapacity: true)
            // Rain falls in spells: 6 hours of every 3 days, up to 2 tips a minute per gauge, at
            // any second of the minute (so windows expire between rows, and wakeups happen).
            let raining = (minuteIndex / 60) % 72 < 6
            for gauge in gauges {
                let count = raining ? Int(random(3)) : 0
                if count > 0 {
                    minuteEvents.append(Event(time: at(rowTime + Int64(random(60_000))), kind: .tips(sensorId: gauge, count: count)))
                }
            }
            for (index, pond) in ponds.enumerated() {
                let level = 2 + (raining ? Double(minuteIndex % (72 * 60)) / 200 : 0) + Double(random(100)) / 1000
                minuteEvents.append(Event(time: at(rowTime + 10_000 + Int64(index)), kind: .reading(sensorId: pond, value: level)))
            }
            for (index, crack) in cracks.enumerated() {
                let creep = Double(minuteIndex) * 2 / 1440 + Double(random(10)) / 100
                minuteEvents.append(Event(time: at(rowTime + 20_000 + Int64(index)), kind: .reading(sensorId: crack, value: 100 + creep)))
            }
            minuteEvents.sort { $0.time < $1.time }
            for event in minuteEvents {
                // Tick at every pending instant before this row, as simulate does, and sample the chart.
                while let wakeup = engine.nextWakeup(), wakeup < event.time {
                    let actions = engine.handle(Event(time: wakeup, kind: .tick))
                    levelChanges += actions.count { if case .levelChanged = $0 { true } else { false } }
                    actionsSeen += actions
                    ticks += 1
                }
                while nextSample <= event.time.millisecondsSinceUnixEpoch {
                    _ = engine.status()
                    samples += 1
                    nextSample += 5 * minute
                }
                let actions = engine.handle(event)
                levelChanges += actions.count { if case .levelChanged = $0 { true } else { false } }
                actionsSeen += actions
                rows += 1
            }
        }
    }
    return (rows, ticks, samples, seconds(elapsed), levelChanges, digest(actionsSeen))
}

let replay = thirtyDayReplay()
print("30-day replay, 8 sensors at one row a minute: \(replay.rows) rows + \(replay.ticks) wakeup ticks + \(replay.samples) status samples in \(formatted(replay.seconds)) s (\(replay.levelChanges) level changes)")
// Swift seeds its hashing per process: the same digest in every run shows no Dictionary or Set
// order leaked into the actions.
print("30-day replay actions digest (must be the same in every run): \(replay.digest)")

/// FNV-1a over the actions' text: stable across processes, unlike Hasher.
func digest(_ actions: [Action]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for action in actions {
        for byte in String(describing: action).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
    }
    return hash
}

func formatted(_ value: Double) -> String {
    // No rounded(): it is a libm call on x86, and this program links only WarningLogic.
    let hundredths = Int64(value * 100 + 0.5)
    let whole = hundredths / 100
    let fraction = hundredths % 100
    return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
}
