// The single place where a board becomes the daemon's inputs, outputs and clock.
import Drivers
import Logging
import TimeSeam
import WarningLogic

struct RuntimeError: Error, CustomStringConvertible {
    var description: String
}

/// What `run` needs from a board. Every board, the simulated one included, is opened by
/// `BoardHardware` through a device factory: the kernel's devices on a real board, the drivers'
/// twins on `sim`, where a scenario player drives the twins' far ends on the scenario's clock.
struct RuntimeWiring {
    var inputs: [any GatewayInput]
    /// The board's outputs; `run` wraps them in `RecordingOutputs`.
    var outputs: HardwareOutputs
    var clock: any GatewayClock
    /// Wall time between ticks: one second of box time on a real board; in sim one second of
    /// scenario time, but no more than `simTicksPerWallSecondMax` a second (the owner steps
    /// through the engine's own wake-ups between ticks, so decisions keep their exact times).
    var tickWallMilliseconds: Int64
    var scenarioProgress: ScenarioProgress?
    var boardName: String
    /// The board's console UART, where the technician shell listens; nil on the simulated board.
    var console: BoardSerialPort? = nil
    /// The twins of the simulated board (nil on a real board), for the exit record.
    var simulatedDevices: SimulatedDevices? = nil

    static let simTicksPerWallSecondMax: Int64 = 50

    /// Stops the outputs' worker threads at exit, after they are safe.
    func shutdown() { outputs.shutdown() }

    static func make(
        board boardNameOrPath: String, boardsDirectory: String?, busOverrides: [String], scenarioPath: String?, speed: Double,
        realTimeAfterScenario: Bool = false, gateway: GatewayConfiguration, configurationFile: String, resume: ScenarioResume,
        stateDirectory: String? = nil, logger: Logger
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
                let hardware = try BoardHardware.open(
                    board: board, configuration: gateway, configurationFile: configurationFile, stateDirectory: stateDirectory, logger: logger)
                // The wall clock at start, then monotonic: a clock step cannot bend the engine's time.
                let clock = SteadyBoxClock(resumeTime: resume.time, utcOffsetMinutes: gateway.engine.station.utcOffsetMinutes, logger: logger)
                return RuntimeWiring(
                    inputs: hardware.inputs, outputs: hardware.outputs, clock: clock, tickWallMilliseconds: 1_000, scenarioProgress: nil,
                    boardName: board.name, console: board.console)
            } catch {
                throw RuntimeError(description: error.description)
            }
        }
        guard let scenarioPath else {
            throw RuntimeError(description: "--board sim plays a scenario: give --scenario FILE (the `simulate` format, e.g. scenarios/typhoon-hagupit.csv)")
        }
        let scenario: Scenario
        do {
            scenario = try Scenario.load(path: scenarioPath, configuration: gateway.engine)
        } catch {
            throw RuntimeError(description: error.description)
        }
        let rows = scenario.rows.map(\.event)
        let gauges = Set(gateway.engine.sensors.filter { $0.kind == .rainGauge }.map(\.id))
        let plan = ScenarioPlan.make(rows: rows, gauges: gauges, registers: Set(gateway.hardware.modbusSensors.keys), resume: resume)
        // The twins' clock, and the box's: scenario time at `speed`, from where the box stands.
        let lastRowTime = scenario.rows.last?.event.time ?? plan.startTime
        let pace = SimulationPace(
            startNanoseconds: plan.startTime.millisecondsSinceUnixEpoch * 1_000_000, speed: speed,
            realTimeFromNanoseconds: realTimeAfterScenario ? lastRowTime.millisecondsSinceUnixEpoch * 1_000_000 : nil)
        // The box starts at the plan's start; the player moves the barrier on step by step.
        let clock = ScenarioClock(pace: pace, barrier: plan.startTime)
        let devices = SimulatedDevices(board: board, pace: pace)
        let hardware: BoardHardware
        do {
            hardware = try BoardHardware.open(
                board: board, configuration: gateway, configurationFile: configurationFile, stateDirectory: stateDirectory, devices: devices, logger: logger)
        } catch {
            throw RuntimeError(description: error.description)
        }
        let progress = ScenarioProgress(stepsTotal: plan.steps.count, lastRowTime: scenario.rows.last?.event.time)
        let speedText = speed == speed.rounded() ? String(Int64(speed)) : String(speed)
        let twins = ScenarioTwins(devices: devices, board: board, configuration: gateway, inputs: hardware.inputs)
        let player = ScenarioPlayer(
            plan: plan, twins: twins, scenarioClock: clock, progress: progress,
            inputDescription: "scenario \(scenarioPath) at \(speedText)× (\(plan.steps.count) steps from \(scenario.rows.count) rows to play)",
            logger: logger)
        let tick = max(1_000 / Int64(max(speed, 1).rounded(.up)), 1_000 / simTicksPerWallSecondMax)
        return RuntimeWiring(
            inputs: [player] + hardware.inputs, outputs: hardware.outputs, clock: clock, tickWallMilliseconds: tick, scenarioProgress: progress,
            boardName: board.name, simulatedDevices: devices)
    }
}
