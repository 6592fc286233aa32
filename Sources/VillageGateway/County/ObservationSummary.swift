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
