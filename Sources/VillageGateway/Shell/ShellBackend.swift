// What the technician shell can see and do in the box, as one synchronous seam: sessions run on
// their own threads; the daemon's backend bridges to the actors, the tests use a fake.
import WarningLogic

protocol ShellBackend: Sendable {
    /// The configuration file `commit` writes.
    var configurationPath: String { get }
    func status() -> DaemonStatus
    /// The configuration the box runs now (changes after a commit that was applied).
    func runningConfiguration() -> GatewayConfiguration
    /// The `[shell]` settings as the file holds them now (the running ones when it cannot be read).
    func shellSettings() -> ShellConfiguration
    /// Applies a committed configuration without a restart. Returns what could not be applied
    /// live (and therefore waits for a restart); empty when everything was applied.
    func apply(_ configuration: GatewayConfiguration) -> [String]
    /// Puts a person's event (ack, clear, drill) on the engine's queue, stamped with the box's clock.
    func submit(_ kind: Event.Kind)
    /// Starts testing one output; nil when started, else why it cannot be (no voice module).
    func beginTest(_ test: OutputTest) -> String?
    /// Ends a siren or lamp test: the outputs go back to what the engine wants.
    func endTest()
    /// Stores an audit record with the outbox (logged when no outbox is connected).
    func audit(_ report: OutboxReport)
    /// nil when no outbox is connected or it cannot be read; `outboxDescription` says which.
    func outboxBacklog() -> OutboxBacklog?
    var outboxDescription: String { get }
    func logLines(_ count: Int) -> [String]
    /// The box's clock (the scenario's clock on the simulated board).
    func now() -> Timestamp
    /// Sets the box's clock; nil when set, else why not (the board has an RTC, it is the sim).
    func setTime(_ time: Timestamp) -> String?
    /// Restarts the box; nil when the restart is under way, else why not.
    func reboot() -> String?
}

/// Which changes between two configurations the running box cannot take without a restart:
/// the inputs (scenario, GPIO lines, bus owners) and the outputs' hardware were built from the
/// old one, and the status page names the station from it.
enum ConfigurationChange {
    static func restartReasons(from old: GatewayConfiguration, to new: GatewayConfiguration) -> [String] {
        var reasons: [String] = []
        if old.engine.station != new.engine.station { reasons.append("[station] (identity and time zone)") }
        let sensorsOld = old.engine.sensors.map { "\($0.id)/\($0.kind.rawValue)" }
        let sensorsNew = new.engine.sensors.map { "\($0.id)/\($0.kind.rawValue)" }
        if sensorsOld != sensorsNew { reasons.append("the list of sensors (their inputs are opened at start)") }
        if old.hardware.rainGaugeInputs != new.hardware.rainGaugeInputs { reasons.append("rain gauge inputs") }
        if old.hardware.modbusSensors != new.hardware.modbusSensors { reasons.append("sensor modbus wiring") }
        if old.hardware.buses != new.hardware.buses { reasons.append("[buses] (bus wiring)") }
        if old.hardware.sirenProtection != new.hardware.sirenProtection { reasons.append("siren_max_on/siren_rest") }
        if old.shell.console != new.shell.console { reasons.append("shell.console") }
        if old.county != new.county { reasons.append("[county] (the outbox, summaries, pull API and push start with the box)") }
        return reasons
    }
}
