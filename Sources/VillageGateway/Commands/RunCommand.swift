// `village-gateway run`: the box itself — inputs, the engine owner, outputs, state on disk, systemd.
import ArgumentParser
import Foundation
import Logging
import TimeSeam
import WarningLogic

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the box: read the sensors, decide warning levels, drive the outputs.",
        discussion: """
            Every input event goes through one bounded queue to one engine owner. The siren, lamps \
            and broadcast switch from the decision at once; the journal and snapshots follow on a \
            writer thread (group commit), and SMS and reports wait for their record, so a restart \
            resumes the level the box had (a red alarm sounds again at once) and no recorded tip is \
            lost. With --board sim the sensors \
            are a scenario file (the `simulate` format) played at --speed scenario seconds per \
            second, and the outputs are simulated and recorded in STATE-DIR/outputs.jsonl. Under \
            systemd (Type=notify) it sends READY=1, WATCHDOG=1 and STOPPING=1. SIGTERM puts the \
            outputs in their safe state and saves the state.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The configuration file (TOML).", valueName: "file"))
    var config: String

    @Option(name: .long, help: ArgumentHelp("The board: sim (simulated sensors and outputs), or a board name or file.", valueName: "name|file"))
    var board: String = "sim"

    @Option(name: .customLong("bus"), help: ArgumentHelp("Put a bus on another device, e.g. --bus rs485=/dev/ttyUSB0 (repeatable).", valueName: "name=device"))
    var busOverrides: [String] = []

    @Option(name: .customLong("boards-dir"), help: ArgumentHelp("Where board files are looked up by name.", valueName: "dir"))
    var boardsDirectory: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the state, journal and status socket live.", valueName: "dir"))
    var stateDirectory: String = "/var/lib/village-gateway"

    @Option(name: .long, help: ArgumentHelp("--board sim: the scenario to play (CSV: time,sensor,value).", valueName: "file"))
    var scenario: String?

    @Option(name: .long, help: "--board sim: scenario seconds per wall-clock second (1 = real time).")
    var speed: Double = 1

    @Flag(name: .customLong("real-time-after-scenario"), help: "--board sim: after the scenario's last row the clock runs at real time (a long outage plays at --speed, the link's return is watched as it happens).")
    var realTimeAfterScenario = false

    @Flag(name: .customLong("exit-after-scenario"), help: "--board sim: stop once the scenario is played and the level is back to none.")
    var exitAfterScenario = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// After the last row, an `--exit-after-scenario` run waits this long (scenario time) for the
    /// box to clear before it stops anyway: a latched level waits for a person who may never come.
    static let scenarioTailMillisecondsMax: Int64 = 3 * Milliseconds.day
    /// The budget systemd and the tests hold us to: outputs safe within a second of SIGTERM.
    static let safeStateBudgetMilliseconds: Int64 = 1_000

    func validate() throws {
        guard speed.isFinite, speed > 0, speed <= 1_000_000 else { throw ValidationError("--speed must be above 0 and at most 1000000, got \(speed)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical") }
        if exitAfterScenario && scenario == nil { throw ValidationError("--exit-after-scenario is for --board sim with a --scenario") }
        if realTimeAfterScenario && scenario == nil { throw ValidationError("--real-time-after-scenario is for --board sim with a --scenario") }
    }

    func run() async throws {
        let gateway = try loadConfigurationOrExit(path: config)
        let configuration = gateway.engine
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let logRing = LogRing()  // the shell's `log [N]`
        // On a terminal the live line and the log share the screen: the console keeps them apart.
        let live = isatty(STDOUT_FILENO) == 1
        let console = LiveConsole()
        let logsThroughConsole = live && isatty(STDERR_FILENO) == 1
        LoggingSystem.bootstrap { label in
            let offset = configuration.station.utcOffsetMinutes
            let ring = RingLogHandler(ring: logRing, utcOffsetMinutes: offset, logLevel: level)
            if logsThroughConsole {
                return MultiplexLogHandler([LiveConsoleLogHandler(console: console, label: label, utcOffsetMinutes: offset, logLevel: level), ring])
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return MultiplexLogHandler([handler, ring])
        }
        let logger = Logger(label: "village-gateway")

        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            printError("cannot create the state directory \(stateDirectory): \(error.localizedDescription); give a writable --state-dir")
            throw ExitCode.failure
        }
        let lockPath = "\(stateDirectory)/daemon.lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            printError("another village-gateway is running with the state directory \(stateDirectory) (\(lockPath) is locked); two would corrupt each other's state")
            throw ExitCode.failure
        }
        defer { close(lock) }

        // Space held back so that a full disk cannot stop the state being saved (issue 12).
        let reserve = DiskReserve(directory: stateDirectory, logger: logger)
        let reserved = reserve.replenish()
        if reserved < reserve.bytesMax {
            logger.error("the disk of \(stateDirectory) is nearly full: only \(reserved / 1024) KiB of the \(reserve.bytesMax / 1024) KiB state reserve could be set aside; free space")
        }
        let store = StateStore(directory: stateDirectory, reserve: reserve)
        let recovery = store.recover(configuration: configuration)
        for problem in recovery.problems { logger.error("\(problem) — the box starts from what remains") }
        for note in recovery.notes { logger.notice("\(note)") }
        logger.notice("state from \(recovery.source); \(recovery.replayedEvents) journal records replayed")
        let resume: ScenarioResume = {
            let status = recovery.engine.status()
            guard status.time.millisecondsSinceUnixEpoch != 0 else { return .fresh }
            var tips: [String: Int64] = [:]
            for sensor in status.sensors { if let total = sensor.tipsTotal { tips[sensor.id] = total } }
            return ScenarioResume(time: status.time, eventsAtLastTime: recovery.eventsAtLastTime, tipsCounted: tips)
        }()

        let wiring: RuntimeWiring
        do {
            wiring = try RuntimeWiring.make(
                board: board, boardsDirectory: boardsDirectory, busOverrides: busOverrides, scenarioPath: scenario, speed: speed,
                realTimeAfterScenario: realTimeAfterScenario, gateway: gateway, configurationFile: config, resume: resume,
                stateDirectory: stateDirectory, logger: logger)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let offset = configuration.station.utcOffsetMinutes
        let outputs = RecordingOutputs(wrapping: wiring.outputs, stateDirectory: stateDirectory, utcOffsetMinutes: offset, logger: logger)
        let queue = EventQueue()
        let notifier = SystemdNotifier()
        let published = PublishedStatus(
            configuration: configuration, board: wiring.boardName, stateDirectory: stateDirectory, inputs: wiring.inputs)
        let stopCondition: (@Sendable (StationStatus, Int) -> String?)? = exitAfterScenario ? Self.scenarioStop(wiring.scenarioProgress) : nil
        let recoveredActions = recovery.actionsToPerform
        // County (issue 5): the outbox the owner stores reports in; the box warns without it.
        let outboxService = OutboxService.open(stateDirectory: stateDirectory, county: gateway.county, logger: logger)
        await outboxService?.storePendingLossReport(stateDirectory: stateDirectory)
        let owner = EngineOwner(
            recovery: recovery, store: store, outputs: outputs, queue: queue, notifier: notifier, published: published, logger: logger,
            stopCondition: stopCondition, reportSink: outboxService)
        let summaryFeed = SummaryFeed(ObservationSummariser(configuration: configuration, summaryEveryMilliseconds: gateway.county.summaryEveryMilliseconds))
        await owner.observeStatus { summaryFeed.observe($0) }
        let countyAPI = CountyRuntime.api(
            gateway: gateway, configurationFile: config, stateDirectory: stateDirectory, service: outboxService, events: queue, clock: wiring.clock,
            published: published, logger: logger)
        let push = CountyRuntime.push(
            gateway: gateway, configurationFile: config, service: outboxService, registration: wiring.outputs,
            clock: wiring.clock, logger: logger,
            sl651Commands: CountyRuntime.sl651CommandSources(
                summaries: summaryFeed, service: outboxService,
                clockSetter: wiring.console == nil ? RefusingClockSetter(reason: "the simulated board runs the scenario's clock") : SystemClockSetter(),
                logger: logger))

        let clock = wiring.clock
        // The watchdog is fed from the owner's loop, so the loop must turn at least twice per
        // watchdog interval even when no input arrives: ticks do that.
        let tickMilliseconds = min(wiring.tickWallMilliseconds, notifier.watchdogIntervalMilliseconds.map { max($0 / 2, 10) } ?? .max)
        var parts: [RuntimeTask] = wiring.inputs.map { input in
            RuntimeTask("input \(input.inputDescription)") {
                do {
                    try await input.run(into: queue, clock: clock)
                } catch is CancellationError {
                } catch {
                    logger.critical("input \(input.inputDescription) stopped: \(error); the other inputs and the outputs go on")
                }
            }
        }
        parts.append(RuntimeTask("ticks") {
            while !Task.isCancelled {
                await queue.offerTick(at: clock.now())
                // Wall time by design: the tick rate bounds the CPU and feeds systemd's watchdog;
                // each tick is stamped with the box's clock, whatever its pace.
                await SystemClock().sleep(milliseconds: tickMilliseconds)
            }
        })
        // County (issue 5): summaries, outbox care and the pull API, each a part of its own.
        if let outboxService {
            parts.append(RuntimeTask("county summaries") { await CountyRuntime.storeSummaries(summaryFeed, into: outboxService) })
            parts.append(RuntimeTask("outbox care") { await CountyRuntime.maintain(outboxService, clock: clock, published: published, utcOffsetMinutes: offset) })
        }
        if let countyAPI {
            parts.append(RuntimeTask("county API") {
                await CountyAPIServer.run(countyAPI.api, host: countyAPI.host, port: countyAPI.port, stateDirectory: stateDirectory)
            })
        }
        if let push {
            published.publishUplink { push.signals.uplink }
            parts.append(RuntimeTask("county push") { await push.run() })
            parts.append(RuntimeTask("kernel link watch") {
                await CountyRuntime.watchKernelLink(push, interfaces: gateway.county.uplinkInterfaces, clock: clock, logger: logger)
            })
            CountyRuntime.watchModemRegistration(signals: push.signals, outputs: wiring.outputs, clock: clock)
        }
        if live {
            parts.append(RuntimeTask("live line") {
                while !Task.isCancelled {
                    if let line = Self.liveLine(published.report()) { console.show(line, nowMilliseconds: monotonicMilliseconds()) }
                    await SystemClock().sleep(milliseconds: LiveConsole.redrawMillisecondsMin)  // a person's terminal: wall time
                }
            })
        }
        let ownerService = EngineOwnerService(owner: owner, queue: queue)
        let safeOutputs = SafeOutputsService(outputs: outputs)
        let group = RuntimeServiceGroup.make(parts: parts, owner: ownerService, outputs: safeOutputs, logger: logger)

        // SIGTERM and SIGINT, caught from before the outputs are first set: the outputs go safe
        // first (within the budget), then the group shuts down gracefully (a request before it
        // runs is kept: ServiceGroup remembers it), and the owner saves its state.
        SignalWatcher.start { number in
            logger.notice("\(number == SIGTERM ? "SIGTERM" : "SIGINT"): outputs to their safe state, saving state, stopping")
            notifier.notify("STOPPING=1")
            owner.stopCarryingOut()
            Task {
                await outputs.enterSafeState()
                await group.triggerGracefulShutdown()
            }
        }
        await owner.observeSirenLatency { nanoseconds, event in
            var record = JSONObjectWriter()
            record.add("type", string: "siren_latency")
            record.add("microseconds", integer: nanoseconds / 1_000)
            record.add("event", string: EngineOwner.describe(event.kind))
            await outputs.note(record)
        }
        let startStatus = recovery.engine.status()
        var startRecord = JSONObjectWriter()
        startRecord.add("type", string: "start")
        startRecord.add("pid", integer: Int64(getpid()))
        startRecord.add("time_ms", integer: startStatus.time.millisecondsSinceUnixEpoch)
        startRecord.add("level", string: startStatus.level.name)
        startRecord.add("latched", string: startStatus.latchedLevel?.name ?? "none")
        startRecord.add("replayed", integer: Int64(recovery.replayedEvents))
        startRecord.add("problems", strings: recovery.problems)
        await outputs.note(startRecord)
        // Recorded before the outputs are set, so the record shows what the start switched on.
        await owner.start(recoveredActions: recoveredActions, at: wiring.clock.now())

        let server: StatusServer?
        do {
            server = try StatusServer(stateDirectory: stateDirectory, published: published)
            server?.start()
        } catch {
            logger.error("\(error.description); `village-gateway status` will not reach this daemon, warnings continue")
            server = nil
        }
        let shell = ShellServer.start(
            stateDirectory: stateDirectory, configurationPath: config, configuration: gateway, wiring: wiring, published: published, queue: queue,
            owner: owner, outputs: outputs, reports: outboxService, logRing: logRing, logger: logger)

        notifier.notify("READY=1\nSTATUS=armed at level \(startStatus.level.name)")
        logger.notice("armed: \(wiring.inputs.count) input(s), board \(wiring.boardName), state in \(stateDirectory)")

        do {
            try await group.run()
        } catch {
            logger.error("the runtime's service group ended with \(error); the outputs go safe and the state is saved")
        }
        let reason = ownerService.reason.withLock { $0 } ?? "stopped"
        if live { console.finish() }

        notifier.notify("STOPPING=1")
        // The group's last service has done it, unless the group never got that far.
        if !safeOutputs.entered.load(ordering: .acquiring) { await outputs.enterSafeState() }
        wiring.shutdown()
        await owner.finish()
        // After the owner's last decision: what still waits in memory is stored or counted.
        await outboxService?.finish(at: wiring.clock.now(), stateDirectory: stateDirectory, reserve: reserve)
        server?.stop()
        shell?.stop()
        let final = published.report()
        var exitRecord = JSONObjectWriter()
        exitRecord.add("type", string: "exit")
        exitRecord.add("reason", string: reason)
        exitRecord.add("level", string: final.station?.level.name ?? "none")
        exitRecord.add("time_ms", integer: final.station?.time.millisecondsSinceUnixEpoch ?? 0)
        for sensor in final.station?.sensors ?? [] where sensor.tipsTotal != nil {
            exitRecord.add("tips_\(sensor.id)", integer: sensor.tipsTotal ?? 0)
        }
        // What the simulated board's twins saw (their workers have stopped): the far side's proof.
        for (name, value) in wiring.simulatedDevices?.twinCounts() ?? [] { exitRecord.add(name, integer: value) }
        await outputs.note(exitRecord)
        logger.notice("stopped: \(reason); final level \(final.station?.level.name ?? "none")")
    }

    /// Ends a sim run once every row is in, the queue is empty and the box has cleared, or when
    /// the tail after the last row is over.
    static func scenarioStop(_ progress: ScenarioProgress?) -> @Sendable (StationStatus, Int) -> String? {
        { status, depth in
            guard let progress, progress.finished else { return nil }
            if depth == 0, Simulator.isSettled(status) { return "the scenario is over and the level is back to none" }
            // Not waiting for an empty queue here: on a loaded machine at 86400x the simulated
            // time-outs (voice, Modbus, modem) keep it from ever emptying, and the run never
            // ended. The engine's time is past the last row's, so every row has been decided.
            if let last = progress.lastRowTime, status.time.milliseconds(since: last) > scenarioTailMillisecondsMax {
                return "the scenario is over; stopped \(scenarioTailMillisecondsMax / Milliseconds.day) days after its last row: \(Simulator.waitingReason(status))"
            }
            return nil
        }
    }

    /// The live line's text (the console cuts it to the terminal's width).
    static func liveLine(_ status: DaemonStatus) -> String? {
        guard let station = status.station else { return nil }
        let time = ISO8601.format(station.time, utcOffsetMinutes: status.utcOffsetMinutes)
        let outputs = status.outputs
        var line = "\(time)  \(station.level.name.uppercased())  siren \(outputs.sirenOn ? "ON " : "off") lamp \(outputs.lamp ?? "off")  SMS \(outputs.smsSent)"
        if let spoken = outputs.lastSpoken { line += "  «\(spoken)»" }
        return line
    }
}
