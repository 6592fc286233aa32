// The configuration turned into indices once, so handling an event never searches by name.

/// Where a sensor's state lives.
enum SensorSlot: Hashable, Sendable {
    case rain(Int)
    case level(Int)
}

/// Checked once at start-up: a broken configuration is a programmer error (the loader validates).
struct EnginePlan: Sendable {
    struct RulePlan: Sendable {
        var rule: Rule
        var slot: SensorSlot
        /// Rain accumulation rules: which of the gauge's windows.
        var windowIndex: Int?
    }

    var sensorSlots: [String: SensorSlot] = [:]
    var rainSensors: [SensorConfiguration] = []
    var levelSensors: [SensorConfiguration] = []
    var rainWindowsMilliseconds: [[Int64]] = []
    /// Per level sensor: the spans its rules look back over (distinct, configuration order).
    var levelSpansMilliseconds: [[Int64]] = []
    var rules: [RulePlan] = []
    /// The same, flattened, for the per-event evaluation (no struct copies on the hot path).
    var ruleSlots: [SensorSlot] = []
    var ruleMeasures: [Measure] = []
    var ruleWindowIndices: [Int] = []
    var ruleThresholds: [Thresholds] = []
    /// What each rule warns of, from its sensor's kind.
    var ruleHazards: [Hazard] = []
    var combinedConditions: [[(ruleIndex: Int, atLeast: WarningLevel)]] = []
    var contactGroups: [[Contact]] = []

    init(_ configuration: EngineConfiguration) {
        for sensor in configuration.sensors {
            precondition(sensorSlots[sensor.id] == nil, "duplicate sensor id \(sensor.id): the loader must refuse it")
            switch sensor.kind {
            case .rainGauge:
                precondition(sensor.micrometersPerTip.map { $0 > 0 } ?? false, "rain gauge \(sensor.id) needs micrometersPerTip > 0")
                sensorSlots[sensor.id] = .rain(rainSensors.count)
                rainSensors.append(sensor)
                rainWindowsMilliseconds.append([])
            case .waterLevel, .displacement:
                sensorSlots[sensor.id] = .level(levelSensors.count)
                levelSensors.append(sensor)
                levelSpansMilliseconds.append([])
            }
        }
        var ruleIndexById: [String: Int] = [:]
        for rule in configuration.rules {
            guard let slot = sensorSlots[rule.sensorId] else { preconditionFailure("rule \(rule.id) names unknown sensor \(rule.sensorId)") }
            let sensorKind = configuration.sensors.first { $0.id == rule.sensorId }?.kind
            precondition(sensorKind == rule.measure.sensorKind, "rule \(rule.id) measures \(rule.measure) on a \(String(describing: sensorKind))")
            precondition(ruleIndexById[rule.id] == nil, "duplicate rule id \(rule.id)")
            var windowIndex: Int?
            switch (slot, rule.measure) {
            case (.rain(let gauge), .rainAccumulation(let window)):
                precondition(window > 0, "rule \(rule.id): window must be positive")
                if let existing = rainWindowsMilliseconds[gauge].firstIndex(of: window) {
                    windowIndex = existing
                } else {
                    windowIndex = rainWindowsMilliseconds[gauge].count
                    rainWindowsMilliseconds[gauge].append(window)
                }
            case (.level(let sensor), .waterRise(let span)), (.level(let sensor), .displacementRate(let span)):
                if !levelSpansMilliseconds[sensor].contains(span) { levelSpansMilliseconds[sensor].append(span) }
            case (.level(let sensor), .tangentAngle):
                let configured = levelSensors[sensor]
                precondition((configured.steadyRateMillimetersPerDay ?? 0) > 0, "rule \(rule.id): tangent angle needs a steady rate")
                if !levelSpansMilliseconds[sensor].contains(configured.tangentSpanMilliseconds) {
                    levelSpansMilliseconds[sensor].append(configured.tangentSpanMilliseconds)
                }
            default:
                break
            }
            ruleIndexById[rule.id] = rules.count
            rules.append(RulePlan(rule: rule, slot: slot, windowIndex: windowIndex))
            ruleSlots.append(slot)
            ruleMeasures.append(rule.measure)
            ruleWindowIndices.append(windowIndex ?? -1)
            ruleThresholds.append(rule.thresholds)
            ruleHazards.append(Hazard(sensorKind: rule.measure.sensorKind))
        }
        combinedConditions = configuration.combinedRules.map { combined in
            combined.conditions.map { condition in
                guard let index = ruleIndexById[condition.ruleId] else {
                    preconditionFailure("combined rule \(combined.id) names unknown rule \(condition.ruleId)")
                }
                return (index, condition.atLeast)
            }
        }
        contactGroups = Engine.contactGroups(configuration.contacts)
    }
}
