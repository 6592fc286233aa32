// Shared test fixtures: a Jianghua-style station configuration and helpers to drive an engine.
@testable import WarningLogic

/// 2020-08-04 08:00 +08:00 (00:00Z), the morning typhoon Hagupit made landfall: a rain-day boundary.
let storm: Int64 = 1_596_499_200_000
let minute = Milliseconds.minute
let hour = Milliseconds.hour
let day = Milliseconds.day

func at(_ milliseconds: Int64) -> Timestamp { Timestamp(millisecondsSinceUnixEpoch: milliseconds) }

/// Jianghua county's published table (DOMAIN.md), on one gauge of 0.5 mm per tip.
func jianghuaRules(gauge: String = "rg1") -> [Rule] {
    [
        Rule(id: "rain_1h", sensorId: gauge, measure: .rainAccumulation(windowMilliseconds: hour), thresholds: Thresholds(blue: 35, yellow: 45, orange: 60, red: 80)),
        Rule(id: "rain_3h", sensorId: gauge, measure: .rainAccumulation(windowMilliseconds: 3 * hour), thresholds: Thresholds(blue: 55, yellow: 75, orange: 100, red: 120)),
        Rule(id: "rain_6h", sensorId: gauge, measure: .rainAccumulation(windowMilliseconds: 6 * hour), thresholds: Thresholds(blue: 70, yellow: 95, orange: 120, red: 150)),
        Rule(id: "rain_24h", sensorId: gauge, measure: .rainAccumulation(windowMilliseconds: day), thresholds: Thresholds(blue: 100, yellow: 130, orange: 160, red: 200)),
    ]
}

let rainGauge = SensorConfiguration(id: "rg1", kind: .rainGauge, unit: "mm", micrometersPerTip: 500)
let waterGauge = SensorConfiguration(
    id: "wl1", kind: .waterLevel, unit: "m", rangeMinimum: 0, rangeMaximum: 10, staleAfterMilliseconds: 45 * minute, readFailuresMax: 3)
let crackMeter = SensorConfiguration(
    id: "crack1", kind: .displacement, unit: "mm", rangeMinimum: -500, rangeMaximum: 500, steadyRateMillimetersPerDay: 1,
    tangentSpanMilliseconds: day)

let villageContacts = [
    Contact(name: "村长", phone: "13800000001", order: 1),
    Contact(name: "监测员", phone: "13800000002", order: 1),
    Contact(name: "镇干部", phone: "13800000003", order: 2),
]

let villageOutputs: [WarningLevel: LevelOutputs] = [
    .none: LevelOutputs(siren: .off, lamp: nil, message: "预警解除。"),
    .blue: LevelOutputs(siren: .off, lamp: .blue, message: "注意防范。"),
    .yellow: LevelOutputs(siren: .intermittent(onMilliseconds: 1000, offMilliseconds: 4000), lamp: .yellow, message: "准备转移。"),
    .orange: LevelOutputs(siren: .intermittent(onMilliseconds: 3000, offMilliseconds: 2000), lamp: .orange, message: "立即转移。", repeatEveryMilliseconds: 10 * minute),
    .red: LevelOutputs(siren: .continuous, lamp: .red, message: "立即转移！", repeatEveryMilliseconds: 5 * minute),
]

func villageConfiguration(
    sensors: [SensorConfiguration] = [rainGauge],
    rules: [Rule] = jianghuaRules(),
    combinedRules: [CombinedRule] = [],
    logic: LogicConfiguration = LogicConfiguration(),
    acknowledgement: AcknowledgementPolicy = AcknowledgementPolicy(fromLevel: .yellow, deadlineMilliseconds: 10 * minute, escalationsMax: 2),
    outputs: [WarningLevel: LevelOutputs] = villageOutputs
) -> EngineConfiguration {
    EngineConfiguration(
        station: StationIdentity(id: "4312000001", name: "黄坑村", utcOffsetMinutes: 480),
        sensors: sensors, rules: rules, combinedRules: combinedRules, logic: logic, contacts: villageContacts,
        acknowledgement: acknowledgement, outputs: outputs)
}

extension Engine {
    mutating func tips(_ count: Int, at time: Int64, gauge: String = "rg1") -> [Action] {
        handle(Event(time: at(time), kind: .tips(sensorId: gauge, count: count)))
    }

    mutating func tick(at time: Int64) -> [Action] {
        handle(Event(time: at(time), kind: .tick))
    }

    mutating func reading(_ value: Double, at time: Int64, sensor: String) -> [Action] {
        handle(Event(time: at(time), kind: .reading(sensorId: sensor, value: value)))
    }

    /// What `simulate` does between rows: tick exactly at each wakeup up to `end`, then at `end`.
    mutating func runUntil(_ end: Int64) -> [Action] {
        var actions: [Action] = []
        var wakeupsMax = 1_000_000
        while let wakeup = nextWakeup(), wakeup.millisecondsSinceUnixEpoch <= end, wakeupsMax > 0 {
            actions += handle(Event(time: wakeup, kind: .tick))
            wakeupsMax -= 1
        }
        actions += tick(at: end)
        return actions
    }

    func value(_ ruleId: String) -> Double? {
        status().measures.first { $0.ruleId == ruleId }?.value
    }
}

extension Array where Element == Action {
    var levelChanges: [LevelChange] {
        compactMap { if case .levelChanged(let change) = $0 { change } else { nil } }
    }

    var realLevelChanges: [LevelChange] { levelChanges.filter { !$0.exercise } }

    var reports: [Report] {
        compactMap { if case .enqueueReport(let report) = $0 { report } else { nil } }
    }

    var messages: [SMS] {
        compactMap { if case .sendSMS(let sms) = $0 { sms } else { nil } }
    }

    var broadcasts: [String] {
        compactMap { if case .broadcast(let message, _) = $0 { message } else { nil } }
    }

    var healthReports: [(sensorId: String, faulty: Bool, reason: String)] {
        reports.compactMap { if case .sensorHealth(let id, let faulty, let reason) = $0.kind { (id, faulty, reason) } else { nil } }
    }

    var rejections: [String] {
        reports.compactMap { if case .inputRejected(let reason) = $0.kind { reason } else { nil } }
    }
}
