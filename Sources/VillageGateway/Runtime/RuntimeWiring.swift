// The single place where a board becomes the daemon's inputs, outputs and clock.
import Logging
import WarningLogic

struct RuntimeError: Error, CustomStringConvertible {
    var description: String
}

/// What `run` needs from a board: the simulated board plays a scenario into simulated outputs; a
/// real board's GPIO tip counters, buttons, Modbus bus owners and `HardwareOutputs` are opened
/// from its board file (`BoardHardware`).
struct RuntimeWiring {
    var inputs: [any GatewayInput]
    /// The board's own outputs; `run` wraps them in `RecordingOutputs`.
    var outputs: any GatewayOutputs
    var clock: any GatewayClock
    /// Wall time between ticks: one second of box time on a real board; in sim one second of
    /// scenario time, but no more than `simTicksPerWallSecondMax` a second (the owner steps
    /// through the engine's own wake-ups between ticks, so decisions keep their exact times).
    var tickWallMilliseconds: Int64
    var scenarioProgress: ScenarioProgress?
    var boardName: String
    /// Stops the outputs' worker threads at exit, after they are safe; nil when there are none.
    var shutdown: (@Sendable () -> Void)?
    /// The board's console UART, where the technician shell listens; nil on the simulated board.
    var console: BoardSerialPort? = nil

    static let simTicksPerWallSecondMax: Int64 = 50

    static func make(
        board boardNameOrPath: String, boardsDirectory: String?, busOverrides: [String], scenarioPath: String?, speed: Double,
        gateway: GatewayConfiguration, configurationFile: String, resumeTime: Timestamp?, eventsAtLastTime: [Event], logger: Logger
    ) throws(RuntimeError) -> RuntimeWiring {
        var board: BoardDescription
        do {
            board = try BoardLoader.resolve(nameOrPath: boardNameOrPath, boardsDirectory: boardsDirectory)
            try applyBusOverrides(busOverrides, to: &board)
        } catch let error as ConfigurationError {
            throw RuntimeError(description: error.description)
        } catch {
            throw RuntimeError(description: "\(error)")
        }
        guard board.isSimulated else {
            if scenarioPath != nil {
                throw RuntimeError(description: "--scenario plays into the simulated board; board \(board.name) has real sensors")
            }
            do {
                let hardware = try BoardHardware.open(board: board, configuration: gateway, configurationFile: configurationFile, logger: logger)
                let outputs = hardware.outputs
                // The wall clock at start, then monotonic: a clock step cannot bend the engine's time.
                let clock = SteadyBoxClock(resumeTime: resumeTime, utcOffsetMinutes: gateway.engine.station.utcOffsetMinutes, logger: logger)
                return RuntimeWiring(
                    inputs: hardware.inputs, outputs: outputs, clock: clock, tickWallMilliseconds: 1_000, scenarioProgress: nil,
                    boardName: board.name, shutdown: { outputs.shutdown() }, console: board.console)
            } catch {
                throw RuntimeError(description: error.description)
            }
        }
        let configuration = gateway.engine
        guard let scenarioPath else {
            throw RuntimeError(description: "--board sim plays a scenario: give --scenario FILE (the `simulate` format, e.g. scenarios/typhoon-hagupit.csv)")
        }
        let scenario: Scenario
        do {
            scenario = try Scenario.load(path: scenarioPath, configuration: configuration)
        } catch {
            throw RuntimeError(description: error.description)
        }
        let rows = ScenarioInput.remainingRows(of: scenario, resumeTime: resumeTime, eventsAtLastTime: eventsAtLastTime)
        let start = resumeTime ?? scenario.rows.first?.event.time ?? Timestamp(millisecondsSinceUnixEpoch: 0)
        let clock = ScenarioClock(start: start, speed: speed, barrier: rows.first?.time)
        let progress = ScenarioProgress(
            rowsTotal: scenario.rows.count, rowsSkipped: scenario.rows.count - rows.count, lastRowTime: scenario.rows.last?.event.time)
        let speedText = speed == speed.rounded() ? String(Int64(speed)) : String(speed)
        let input = ScenarioInput(
            rows: rows, scenarioClock: clock, progress: progress,
            inputDescription: "scenario \(scenarioPath) at \(speedText)× (\(rows.count) of \(scenario.rows.count) rows to play)")
        let tick = max(1_000 / Int64(max(speed, 1).rounded(.up)), 1_000 / simTicksPerWallSecondMax)
        return RuntimeWiring(
            inputs: [input], outputs: SimulatedOutputs(), clock: clock, tickWallMilliseconds: tick, scenarioProgress: progress,
            boardName: board.name, shutdown: nil)
    }
}
