// What happens to the box, as the engine is told of it. Every event carries its own time.

public struct Event: Hashable, Codable, Sendable {
    public var time: Timestamp
    public var kind: Kind

    public init(time: Timestamp, kind: Kind) {
        self.time = time
        self.kind = kind
    }

    public enum Kind: Hashable, Codable, Sendable {
        /// Time passes: windows slide, clear timers, 叫应 deadlines and staleness are checked.
        case tick
        /// `count` debounced tips of a rain gauge at the event's time.
        case tips(sensorId: String, count: Int)
        /// A reading in the sensor's unit.
        case reading(sensorId: String, value: Double)
        /// A read that failed (timeout, bad CRC, slave exception); `reason` is for reports.
        case readFailure(sensorId: String, reason: String)
        /// A person raises the station to `level` by hand; `.none` withdraws the manual level.
        case manual(level: WarningLevel, by: String)
        /// The county orders a warning (identified by `id`, so it can be cancelled).
        case countyWarning(id: String, level: WarningLevel, text: String?)
        case countyCancel(id: String)
        /// Someone answered the 叫应 (button, shell, county, SMS reply).
        case acknowledge(by: String)
        /// A person clears a latched level after acknowledging it.
        case clearLatch(by: String)
        /// A drill: the outputs act as at `level`, every report and message marked exercise.
        /// Real warnings pre-empt drills: refused while a real level of yellow or above or a
        /// county warning is in force; at a real blue only with `force` (nil or false: not forced;
        /// optional so that journals written before the flag existed still read).
        case drillStart(level: WarningLevel, by: String, force: Bool? = nil)
        case drillStop(by: String)
    }
}
