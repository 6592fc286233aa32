// The routine report: what every sensor measured over one summary period. The summariser makes
// it (JSON payload of kind `observationSummary`); the SL 651 forms (timed 32, hourly 34) and the
// county's own tools read it. Its fields are the contract: docs/county-api.md points here.
import WarningLogic

/// One observation summary, stored as the payload of an `observationSummary` report.
struct ObservationSummary: Codable, Sendable, Equatable {
    static let kind = "observationSummary"

    /// The end of the period (the observation time SL 651 sends), Unix milliseconds.
    var observedAtMilliseconds: Int64
    /// How long the period was: `summary_every`.
    var periodMilliseconds: Int64
    /// The station level at `observedAt`, by name ("none", "blue", …).
    var level: String
    /// The box's supply voltage, when the board measures it (SL 651 VT).
    var supplyVolts: Double?
    var sensors: [ObservedSensor]
    /// The rules in force at `observedAt`, each with its measure then and its thresholds, so the
    /// county draws every rule against the thresholds that applied at each time, across a change
    /// of configuration, from the summaries alone. Nil in summaries stored before boxes sent it.
    var rules: [ObservedRule]? = nil
}

/// One rule at the end of a summary period: what its measure was and what it is held against.
struct ObservedRule: Codable, Sendable, Equatable {
    /// The rule's id in gateway.toml (`rain-1h`).
    var id: String
    var sensorId: String
    /// The measure's configuration name (`rain_1h`, `water_rise_1h`, `tangent_angle`).
    var measure: String
    /// The measure's unit (`mm`, `m`, `mm/d`, `°`).
    var unit: String
    /// The measure as the engine computed it; nil when the sensor is faulty or the measure has no
    /// value yet (a 24 h rate in the first day).
    var value: Double?
    /// The level the measure meets (by name), as the engine decided it.
    var levelMet: String
    /// The thresholds by level name (`blue`…`red`); a level the rule does not use is absent.
    var thresholds: [String: Double]

    init(_ measure: MeasureStatus) {
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
struct ObservedSensor: Codable, Sendable, Equatable {
    var id: String
    /// "rain_gauge", "water_level" or "displacement" (`SensorKind`'s raw value).
    var kind: String
    /// The sensor is faulty (no reading, out of range, chattering): its values are suspect.
    var faulty: Bool
    /// Rain during this period (SL 651 PJ, current rainfall).
    var rainMillimetersPeriod: Double?
    /// Rain counted since the box's counter began, wrapping as SL 651 PT does at 99999.9 mm.
    var rainMillimetersTotal: Double?
    /// Rain in the hour and the 6 hours up to `observedAt` (P1, P6).
    var rainMillimeters1h: Double?
    var rainMillimeters6h: Double?
    /// Rain in the current rain day, since 08:00 local (PD).
    var rainMillimetersToday: Double?
    /// The last water level in the period (Z).
    var waterLevelMeters: Double?
    /// The last displacement in the period (SL 651: the `FFxx` identifier the county configures).
    var displacementMillimeters: Double?
    /// Hourly summaries only: rain in each 5 minutes of the hour, oldest first, 12 slots (the
    /// first ends 55 minutes before `observedAt`); nil in a slot the box did not watch. SL 651 F4.
    var rainMillimeters5min: [Double?]?
    /// Hourly summaries only: the last level read in each 5 minutes of the hour, oldest first,
    /// 12 slots; a slot with no reading holds the previous slot's (a 10-minute poll), else nil. SL 651 F5.
    var waterLevelMeters5min: [Double?]?
}
