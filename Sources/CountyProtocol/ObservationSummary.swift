// The routine report: what every sensor measured over one summary period. The summariser makes
// it (JSON payload of kind `observationSummary`); the SL 651 forms (timed 32, hourly 34) and the
// county's own tools read it. Its fields are the contract: docs/county-api.md points here.
import WarningLogic

/// One observation summary, stored as the payload of an `observationSummary` report.
package struct ObservationSummary: Codable, Sendable, Equatable {
    package static let kind = "observationSummary"

    // Both the box and the county make summaries, and a memberwise init is internal.
    package init(
        observedAtMilliseconds: Int64, periodMilliseconds: Int64, level: String, supplyVolts: Double? = nil, sensors: [ObservedSensor],
        rules: [ObservedRule]? = nil
    ) {
        (self.observedAtMilliseconds, self.periodMilliseconds, self.level) = (observedAtMilliseconds, periodMilliseconds, level)
        (self.supplyVolts, self.sensors, self.rules) = (supplyVolts, sensors, rules)
    }

    /// The end of the period (the observation time SL 651 sends), Unix milliseconds.
    package var observedAtMilliseconds: Int64
    /// How long the period was: `summary_every`.
    package var periodMilliseconds: Int64
    /// The station level at `observedAt`, by name ("none", "blue", …).
    package var level: String
    /// The box's supply voltage, when the board measures it (SL 651 VT).
    package var supplyVolts: Double?
    package var sensors: [ObservedSensor]
    /// The rules in force at `observedAt`, each with its measure then and its thresholds, so the
    /// county draws every rule against the thresholds that applied at each time, across a change
    /// of configuration, from the summaries alone. Nil in summaries stored before boxes sent it.
    package var rules: [ObservedRule]?
}

/// One rule at the end of a summary period: what its measure was and what it is held against.
package struct ObservedRule: Codable, Sendable, Equatable {
    /// The rule's id in gateway.toml (`rain-1h`).
    package var id: String
    package var sensorId: String
    /// The measure's configuration name (`rain_1h`, `water_rise_1h`, `tangent_angle`).
    package var measure: String
    /// The measure's unit (`mm`, `m`, `mm/d`, `°`).
    package var unit: String
    /// The measure as the engine computed it; nil when the sensor is faulty or the measure has no
    /// value yet (a 24 h rate in the first day).
    package var value: Double?
    /// The level the measure meets (by name), as the engine decided it.
    package var levelMet: String
    /// The thresholds by level name (`blue`…`red`); a level the rule does not use is absent.
    package var thresholds: [String: Double]

    package init(_ measure: MeasureStatus) {
        id = measure.ruleId
        sensorId = measure.sensorId
        self.measure = measure.measure.name
        unit = measure.measure.unit
        value = measure.value.flatMap { $0.isFinite ? $0 : nil }
        levelMet = measure.levelMet.name
        thresholds = Dictionary(uniqueKeysWithValues: measure.thresholds.defined.map { ($0.level.name, $0.value) })
    }
}

/// One sensor's part of a summary. Fields that do not apply to its kind, or had no valid reading
/// in the period, are nil (and left out of the SL 651 frame, never sent as zero).
package struct ObservedSensor: Codable, Sendable, Equatable {
    package init(
        id: String, kind: String, faulty: Bool, rainMillimetersPeriod: Double? = nil, rainMillimetersTotal: Double? = nil,
        rainMillimeters1h: Double? = nil, rainMillimeters6h: Double? = nil, rainMillimetersToday: Double? = nil, waterLevelMeters: Double? = nil,
        displacementMillimeters: Double? = nil, rainMillimeters5min: [Double?]? = nil, waterLevelMeters5min: [Double?]? = nil
    ) {
        (self.id, self.kind, self.faulty, self.waterLevelMeters, self.displacementMillimeters) = (id, kind, faulty, waterLevelMeters, displacementMillimeters)
        (self.rainMillimetersPeriod, self.rainMillimetersTotal, self.rainMillimetersToday) = (rainMillimetersPeriod, rainMillimetersTotal, rainMillimetersToday)
        (self.rainMillimeters1h, self.rainMillimeters6h, self.rainMillimeters5min) = (rainMillimeters1h, rainMillimeters6h, rainMillimeters5min)
        self.waterLevelMeters5min = waterLevelMeters5min
    }

    package var id: String
    /// "rain_gauge", "water_level" or "displacement" (`SensorKind`'s raw value).
    package var kind: String
    /// The sensor is faulty (no reading, out of range, chattering): its values are suspect.
    package var faulty: Bool
    /// Rain during this period (SL 651 PJ, current rainfall).
    package var rainMillimetersPeriod: Double?
    /// Rain counted since the box's counter began, wrapping as SL 651 PT does at 99999.9 mm.
    package var rainMillimetersTotal: Double?
    /// Rain in the hour and the 6 hours up to `observedAt` (P1, P6).
    package var rainMillimeters1h: Double?
    package var rainMillimeters6h: Double?
    /// Rain in the current rain day, since 08:00 local (PD).
    package var rainMillimetersToday: Double?
    /// The last water level in the period (Z).
    package var waterLevelMeters: Double?
    /// The last displacement in the period (SL 651: the `FFxx` identifier the county configures).
    package var displacementMillimeters: Double?
    /// Hourly summaries only: rain in each 5 minutes of the hour, oldest first, 12 slots (the
    /// first ends 55 minutes before `observedAt`); nil in a slot the box did not watch. SL 651 F4.
    package var rainMillimeters5min: [Double?]?
    /// Hourly summaries only: the last level read in each 5 minutes of the hour, oldest first,
    /// 12 slots; a slot with no reading holds the previous slot's (a 10-minute poll), else nil. SL 651 F5.
    package var waterLevelMeters5min: [Double?]?
}

