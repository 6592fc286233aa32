// The single place where a board becomes the daemon's inputs, outputs and clock.
import WarningLogic

struct RuntimeError: Error, CustomStringConvertible {
    var description: String
}

/// What `run` needs from a board. `--board sim` is built here; the real boards' inputs (GPIO tip
/// counters, buttons, Modbus bus owners) and `HardwareOutputs` plug in at `make`, in the
/// non-sim branch, from the board file (`BoardLoader.resolve(nameOrPath:)`).
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

    static let simTicksPerWallSecondMax: Int64 = 50

    static func make(
        board: String, scenarioPath: String?, speed: Double, configuration: EngineConfiguration, resumeTime: Timestamp?,
        eventsAtLastTime: [Event]
    ) throws(RuntimeError) -> RuntimeWiring {
        guard board == "sim" else {
            throw RuntimeError(description: """
                board '\(board)': this build wires only the embedded default, --board sim; real boards \
                (board files with GPIO and RS-485 ports) are wired at RuntimeWiring.make
                """)
        }
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
            boardName: "sim")
    }
}
