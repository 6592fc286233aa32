// The world of `--board sim`: a scenario file played into the drivers' twins at the scenario's
// pace. Rain becomes reed-switch closures on the simulated GPIO chip (through the real debouncer
// and tip counter), levels and displacements become registers of the simulated Modbus slaves
// (polled by the real bus owner), people and the county become events on the engine's queue.
import Drivers
import Logging
import Synchronization
import TimeSeam
import WarningLogic

/// How far the scenario has been played; the engine owner ends an `--exit-after-scenario` run
/// once every step is carried out and the storm has cleared.
final class ScenarioProgress: Sendable {
    struct Counts: Sendable {
        var stepsTotal: Int
        var stepsDone: Int
        var finished: Bool
    }

    let counts: Mutex<Counts>
    /// The last row's time: the tail after it is bounded.
    let lastRowTime: Timestamp?

    init(stepsTotal: Int, lastRowTime: Timestamp?) {
        counts = Mutex(Counts(stepsTotal: stepsTotal, stepsDone: 0, finished: stepsTotal == 0))
        self.lastRowTime = lastRowTime
    }

    var finished: Bool { counts.withLock { $0.finished } }
}

/// What the player does at a step's time. A row kind that drives another twin (an SMS reply
/// arriving at the modem, a call) is a new case here, made by `ScenarioPlan.make` and carried out
/// in `ScenarioPlayer.carryOut`, which has every twin at hand (`ScenarioTwins.devices`).
enum ScenarioAction: Sendable, Equatable {
    /// Closures of a gauge's reed switch on its GPIO line.
    case tips(sensorId: String, count: Int)
    /// A sensor on a simulated Modbus slave reads `value` from now on.
    case reading(sensorId: String, value: Double)
    /// A sensor on a simulated Modbus slave stops answering (a scenario `fail` row).
    case silence(sensorId: String)
    /// People, the county, and sensors not wired to a twin: straight onto the engine's queue.
    case event(Event.Kind)
}

struct ScenarioStep: Sendable, Equatable {
    var time: Timestamp
    var action: ScenarioAction
}

/// Where a restarted box stands: the world of the simulated board lives in the process, so the
/// player must not deliver again what the engine already counted.
struct ScenarioResume: Sendable {
    /// The engine's last event time (nil: a fresh start).
    var time: Timestamp?
    /// The events the engine handled at exactly that time.
    var eventsAtLastTime: [Event]
    /// Tips each gauge has counted, as the engine recovered them.
    var tipsCounted: [String: Int64]

    static let fresh = ScenarioResume(time: nil, eventsAtLastTime: [], tipsCounted: [:])
}

/// A scenario turned into the player's steps. Pure, so resuming is tested without threads.
struct ScenarioPlan: Equatable {
    var steps: [ScenarioStep]
    /// What each Modbus sensor's slave holds when the player starts (nil: silent): the last
    /// reading at or before the start, so the bus owner's first poll finds it.
    var initialReadings: [String: Double?]
    var startTime: Timestamp

    /// - Rain of gauges on GPIO lines: tips are delivered in order, and a restart skips as many
    ///   as the engine counted (a row cut in half by a kill delivers its other half at the resume).
    /// - Readings of sensors on Modbus slaves: rows up to the start become the registers' first
    ///   values; later rows change them at their time (a reading repeated after a restart is
    ///   harmless: the next poll reads the same value).
    /// - Everything else: rows before the resume are skipped, and at that very instant those the
    ///   engine handled (`eventsAtLastTime`), one for one.
    static func make(rows: [Event], gauges: Set<String>, registers: Set<String>, resume: ScenarioResume) -> ScenarioPlan {
        let start = resume.time ?? rows.first?.time ?? Timestamp(millisecondsSinceUnixEpoch: 0)
        var tipsToSkip = resume.tipsCounted
        var alreadyHandled = resume.eventsAtLastTime
        var steps: [ScenarioStep] = []
        var initial: [String: Double?] = [:]
        for event in rows {
            switch event.kind {
            case .tips(let sensorId, let count) where gauges.contains(sensorId):
                let skipped = Int(min(Int64(count), tipsToSkip[sensorId] ?? 0))
                tipsToSkip[sensorId] = (tipsToSkip[sensorId] ?? 0) - Int64(skipped)
                if count - skipped > 0 {
                    steps.append(ScenarioStep(time: max(event.time, start), action: .tips(sensorId: sensorId, count: count - skipped)))
                }
            case .reading(let sensorId, let value) where registers.contains(sensorId):
                if event.time <= start {
                    initial[sensorId] = .some(value)
                } else {
                    steps.append(ScenarioStep(time: event.time, action: .reading(sensorId: sensorId, value: value)))
                }
            case .readFailure(let sensorId, _) where registers.contains(sensorId):
                if event.time <= start {
                    initial[sensorId] = .some(nil)
                } else {
                    steps.append(ScenarioStep(time: event.time, action: .silence(sensorId: sensorId)))
                }
            default:
                if let resumeTime = resume.time {
                    if event.time < resumeTime { continue }
                    if event.time == resumeTime, let index = alreadyHandled.firstIndex(of: event) {
                        alreadyHandled.remove(at: index)
                        continue
                    }
                }
                steps.append(ScenarioStep(time: event.time, action: .event(event.kind)))
            }
        }
        return ScenarioPlan(steps: steps, initialReadings: initial, startTime: start)
    }
}

/// The far ends of the simulated board's wiring, as the player drives them.
struct ScenarioTwins: Sendable {
    struct Gauge: Sendable {
        var chip: SimulatedGPIOChip
        var offset: UInt32
        var activeLow: Bool
        var debounceMilliseconds: Int
        /// The gauge's input: the player waits until it has handed the tips to the engine.
        var input: TipCounterInput
    }

    struct Register: Sendable {
        var slaves: SimulatedModbusSlaves
        var slave: UInt8
        var address: UInt16
        var decoding: ModbusDecoding
    }

    var devices: SimulatedDevices
    var gauges: [String: Gauge]
    var registers: [String: Register]
    /// The modem's answers input: a scenario's `sms_reply` / `call_in` goes into the modem twin,
    /// and the player waits until this input has handed the answer to the engine. nil (no modem
    /// on the board): such rows go onto the engine's queue directly.
    var modemAnswers: ModemAnswersInput?

    /// Finds each gauge's line and each Modbus sensor's slave from the board and the
    /// configuration, and the gauges' inputs among those `BoardHardware` opened.
    init(devices: SimulatedDevices, board: BoardDescription, configuration: GatewayConfiguration, inputs: [any GatewayInput]) {
        self.devices = devices
        var gauges: [String: Gauge] = [:]
        for case let input as TipCounterInput in inputs {
            let function = configuration.hardware.rainGaugeInputs[input.sensorId] ?? .rainGauge
            guard let wired = board.inputs[function], case .offset(let offset) = wired.gpio.line,
                  let chip = devices.chips[wired.gpio.chipPath] else { continue }
            gauges[input.sensorId] = Gauge(
                chip: chip, offset: offset, activeLow: wired.activeLow, debounceMilliseconds: wired.debounceMilliseconds, input: input)
        }
        var registers: [String: Register] = [:]
        for (sensorId, sensor) in configuration.hardware.modbusSensors {
            guard let function = BoardSerialFunction(rawValue: sensor.bus), let port = board.serialPorts[function],
                  let slaves = devices.modbusSlaves[port.device] else { continue }
            let poll = sensor.poll(sensorId: sensorId)
            registers[sensorId] = Register(slaves: slaves, slave: poll.slaveID, address: poll.address, decoding: poll.decoding)
        }
        self.gauges = gauges
        self.registers = registers
        modemAnswers = inputs.lazy.compactMap { $0 as? ModemAnswersInput }.first
    }
}

/// Plays the steps against the twins at the scenario's pace; holds the box clock's barrier at
/// each step until it is carried out (for tips: until the gauge has handed them to the engine),
/// so no tick is stamped past a row the engine has not seen.
struct ScenarioPlayer: GatewayInput {
    /// Tips scheduled on the chip at once; later ones when the chip's time gets to them (the
    /// chip keeps at most `SimulatedGPIOChip.scheduledEdgesPerLineMax` edges a line).
    static let tipsPerScheduleMax = 512
    /// A closure (and the pause after it) lasts the line's debounce plus this, so the debouncer
    /// accepts every tip.
    static let tipContactMarginMilliseconds = 10
    /// How long the player waits for a gauge to hand its tips to the engine before it reports
    /// the gauge stuck and moves on (wall time: a loaded machine is slow, not stuck).
    static let tipsDeliveryWallMillisecondsMax: Int64 = 30_000
    /// Wall time between looks at the gauge's count while tips are on their way.
    static let tipsDeliveryPollMilliseconds: Int64 = 1
    /// How long the player waits for the modem's owner to take a reply or a call from the twin
    /// and hand it to the engine (wall time, as for tips: slow is not stuck).
    static let modemAnswerWallMillisecondsMax: Int64 = 30_000

    let plan: ScenarioPlan
    let twins: ScenarioTwins
    let scenarioClock: ScenarioClock
    let progress: ScenarioProgress
    let inputDescription: String
    let logger: Logger
    /// What the waits for the drivers' threads (tips, modem answers) are measured on: the wall's
    /// monotonic clock, by design. Those threads hand over in real time at any scenario speed, so
    /// their bound is a real one (a loaded machine is slow, not stuck); scenario time would give
    /// them 0.3 ms at 86400x.
    let wallClock: any GatewayClock

    init(
        plan: ScenarioPlan, twins: ScenarioTwins, scenarioClock: ScenarioClock, progress: ScenarioProgress, inputDescription: String, logger: Logger,
        wallClock: any GatewayClock = SystemMonotonicClock()
    ) {
        self.wallClock = wallClock
        self.plan = plan
        self.twins = twins
        self.scenarioClock = scenarioClock
        self.progress = progress
        self.inputDescription = inputDescription
        self.logger = logger
        // The slaves hold their first values before the bus owner's first poll.
        for (sensorId, value) in plan.initialReadings {
            setReading(sensorId, value)
        }
    }

    func run(into sink: any EventSink, clock: any GatewayClock) async throws {
        var tipsDelivered: [String: Int] = [:]
        var nextFreeNanoseconds: [String: Int64] = [:]
        for (index, step) in plan.steps.enumerated() {
            scenarioClock.setBarrier(step.time)
            try await waitUntil(step.time)
            try await carryOut(step, into: sink, tipsDelivered: &tipsDelivered, nextFreeNanoseconds: &nextFreeNanoseconds)
            let isLast = index == plan.steps.count - 1
            progress.counts.withLock {
                $0.stepsDone += 1
                if isLast { $0.finished = true }
            }
            scenarioClock.setBarrier(isLast ? nil : plan.steps[index + 1].time)
        }
        scenarioClock.setBarrier(nil)
        // The scenario is over; the clock runs on (the tail) while the box clears by itself.
        while true {
            await scenarioClock.sleep(milliseconds: Milliseconds.hour)
            try Task.checkCancellation()
        }
    }

    private func waitUntil(_ time: Timestamp) async throws {
        // In slices of at most half a second: cancellation ends it promptly.
        await scenarioClock.sleep(until: time, wallSliceMillisecondsMin: 0, wallSliceMillisecondsMax: 500)
        try Task.checkCancellation()
    }

    private func carryOut(
        _ step: ScenarioStep, into sink: any EventSink, tipsDelivered: inout [String: Int], nextFreeNanoseconds: inout [String: Int64]
    ) async throws {
        switch step.action {
        case .tips(let sensorId, let count):
            guard let gauge = twins.gauges[sensorId] else {
                await sink.submit(Event(time: step.time, kind: .tips(sensorId: sensorId, count: count)))
                return
            }
            let halfNanoseconds = Int64(gauge.debounceMilliseconds + Self.tipContactMarginMilliseconds) * 1_000_000
            var start = max(step.time.millisecondsSinceUnixEpoch * 1_000_000, nextFreeNanoseconds[sensorId] ?? 0)
            var remaining = count
            while remaining > 0 {
                let chunk = min(remaining, Self.tipsPerScheduleMax)
                try await waitUntil(Timestamp(millisecondsSinceUnixEpoch: start / 1_000_000))
                var edges: [GPIOEdgeEvent] = []
                edges.reserveCapacity(chunk * 2)
                for tip in 0..<chunk {
                    let closed = start + Int64(tip) * 2 * halfNanoseconds
                    // An active-low reed switch pulls the line down when the bucket tips.
                    edges.append(GPIOEdgeEvent(gauge.activeLow ? .falling : .rising, atNanoseconds: closed))
                    edges.append(GPIOEdgeEvent(gauge.activeLow ? .rising : .falling, atNanoseconds: closed + halfNanoseconds))
                }
                gauge.chip.schedule(edges, offset: gauge.offset)
                start += Int64(chunk) * 2 * halfNanoseconds
                remaining -= chunk
            }
            nextFreeNanoseconds[sensorId] = start
            let target = (tipsDelivered[sensorId] ?? 0) + count
            tipsDelivered[sensorId] = target
            try await waitForTips(gauge, sensorId: sensorId, target: target)
        case .reading(let sensorId, let value):
            setReading(sensorId, value)
        case .silence(let sensorId):
            setReading(sensorId, nil)
        case .event(let kind):
            if let answers = twins.modemAnswers, let taken = Self.deliver(kind, to: twins.devices.modem) {
                try await waitForModemAnswer(answers, taken: taken, kind: kind)
            } else {
                await sink.submit(Event(time: step.time, kind: kind))
            }
        }
    }

    /// Holds the box clock's barrier (so the answer is stamped with its row's time) until the
    /// modem's owner has taken the reply or call from the twin and every answer it heard is on
    /// the engine's queue.
    private func waitForModemAnswer(_ answers: ModemAnswersInput, taken: () -> Bool, kind: Event.Kind) async throws {
        let deadline = wallClock.nowMilliseconds() + Self.modemAnswerWallMillisecondsMax
        while !(taken() && answers.worker.answersAllSubmitted) {
            guard wallClock.nowMilliseconds() < deadline else {
                logger.error("""
                    the modem did not hand the scenario's \(kind) to the engine within \(Self.modemAnswerWallMillisecondsMax / 1_000) s \
                    (modem: \(answers.worker.modemStatus.lastError ?? "no error")); the scenario goes on without waiting for it
                    """)
                return
            }
            await wallClock.sleep(milliseconds: Self.tipsDeliveryPollMilliseconds)
            try Task.checkCancellation()
        }
    }

    private func waitForTips(_ gauge: ScenarioTwins.Gauge, sensorId: String, target: Int) async throws {
        let deadline = wallClock.nowMilliseconds() + Self.tipsDeliveryWallMillisecondsMax
        while gauge.input.counters.tipsSubmitted < target {
            guard wallClock.nowMilliseconds() < deadline else {
                logger.error("""
                    rain gauge \(sensorId) handed \(gauge.input.counters.tipsSubmitted) of \(target) tips to the engine within \
                    \(Self.tipsDeliveryWallMillisecondsMax / 1_000) s; the scenario goes on without waiting for it
                    """)
                return
            }
            await wallClock.sleep(milliseconds: Self.tipsDeliveryPollMilliseconds)
            try Task.checkCancellation()
        }
    }

    /// A register value for a sensor's slave; nil makes the slave silent.
    private func setReading(_ sensorId: String, _ value: Double?) {
        guard let register = twins.registers[sensorId] else { return }
        guard let value else {
            register.slaves.silence(slave: register.slave)
            return
        }
        guard let words = register.decoding.registers(encoding: value) else {
            logger.warning("scenario reading \(value) of \(sensorId) does not fit \(register.decoding); the slave stops answering")
            register.slaves.silence(slave: register.slave)
            return
        }
        register.slaves.set(slave: register.slave, address: register.address, registers: words)
    }
}

extension ScenarioPlayer {
    /// Plays a scenario's `sms_reply` / `call_in` row into the modem twin (an incoming SMS on the
    /// SIM announced by +CMTI, or RING with +CLIP caller id), so the answer takes the modem's
    /// path: the real driver parses it and the modem's owner hands it to the engine. Returns when
    /// the owner has taken it (the message deleted from the SIM, the call hung up), or nil for
    /// rows that are not a phone's answer (or a text no SMS can carry).
    static func deliver(_ kind: Event.Kind, to twin: SimulatedModem) -> (@Sendable () -> Bool)? {
        guard case .reply(let phone, let channel, let text) = kind else { return nil }
        switch channel {
        case .sms:
            let deletedBefore = twin.messagesDeleted
            do {
                try twin.deliverSMS(from: phone, text: text)
            } catch {
                return nil
            }
            return { twin.messagesDeleted > deletedBefore }
        case .call:
            let hungUpBefore = twin.callsHungUp
            twin.ring(from: phone)
            return { twin.callsHungUp > hungUpBefore }
        case .keypress, .button, .shell, .scenario:
            return nil
        }
    }
}
