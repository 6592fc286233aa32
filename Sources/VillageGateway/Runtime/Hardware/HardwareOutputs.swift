// The box's outputs over real (or simulated) drivers: relays, voice and SMS, each owned by a
// worker on its own thread, so a 60 s SMS never delays the siren pattern or the engine.
import Foundation
import Drivers
import Logging
import Synchronization
import TimeSeam
import WarningLogic

struct HardwareSetupError: Error, CustomStringConvertible, Equatable {
    var description: String
}

/// `@unchecked Sendable`, and not a Mutex: the workers (relay, voice, SMS) hold driver objects
/// that are not Sendable and belong to their runners' threads; this class only hands them requests
/// through the runners' condition variables and reads their lock-protected status. What it owns
/// itself (`engineRelays`) is in a Mutex.
final class HardwareOutputs: GatewayOutputs, @unchecked Sendable {
    /// How long `enterSafeState` waits for the relay and voice workers to confirm (SIGTERM must
    /// leave the siren off within one second).
    static let safeStateConfirmMillisecondsMax: Int64 = 1_000
    static let safeStateConfirmPollMilliseconds: Int64 = 5
    /// How long `shutdown` waits for each worker thread to leave its hardware safe.
    static let workerStopMillisecondsMax: Int64 = 2_000

    let sirenMaxOnMilliseconds: Int64
    let sirenRestMilliseconds: Int64
    let driving: OutputDriving
    private let relays: RelayWorker
    private let voice: VoiceWorker?
    private let sms: SMSWorker?
    private let relayRunner: WorkerRunner
    private let voiceRunner: WorkerRunner?
    private let smsRunner: WorkerRunner?
    private let logger: Logger
    /// What `enterSafeState` measures its budget and polls on. The wall's monotonic clock on every
    /// board and in `--board sim` alike, by design: the budget is systemd's and the technician's
    /// (one real second after SIGTERM), and the workers' threads confirm in real time at any
    /// scenario speed. A test hands a stepped clock to run the budget out without waiting.
    private let safeStateClock: any GatewayClock
    /// What the engine last asked of the relays, restored when a technician's test ends.
    private let engineRelays = Mutex((siren: SirenPattern.off, sirenExercise: false, lamp: LampColour?.none, lampExercise: false))

    /// Takes ownership of the opened drivers: from here on only this object's workers touch
    /// them. `siren` nil: a box without a siren (lamps only). `voice`/`modem` nil: none wired
    /// (broadcasts and SMS are then logged as not carried out). Each worker reads its own clock
    /// (`SystemMonotonicClock` on the box; the twins' `SimulatedClock` in the tests). Threads
    /// start at once with `.dedicatedThreads`; with `.manual` nothing runs until asked.
    init(
        siren: (any GPIOOutput)?, lamps: [LampColour: any GPIOOutput], voice: VoiceDevice?, modem: ModemEndpoint?, smsQueueFile: String? = nil,
        sirenMaxOnMilliseconds: Int64, sirenRestMilliseconds: Int64,
        relayClock: any GatewayClock = SystemMonotonicClock(), voiceClock: any GatewayClock = SystemMonotonicClock(),
        smsClock: any GatewayClock = SystemMonotonicClock(), safeStateClock: any GatewayClock = SystemMonotonicClock(),
        driving: OutputDriving = .dedicatedThreads, logger: Logger = Logger(label: "village-gateway.outputs")
    ) throws(HardwareSetupError) {
        guard sirenMaxOnMilliseconds > 0 else {
            throw HardwareSetupError(description: "siren_max_on is \(sirenMaxOnMilliseconds) ms; it must be positive (the siren's longest stretch on)")
        }
        guard sirenRestMilliseconds >= 0 else {
            throw HardwareSetupError(description: "siren_rest is \(sirenRestMilliseconds) ms; it must not be negative")
        }
        self.sirenMaxOnMilliseconds = sirenMaxOnMilliseconds
        self.sirenRestMilliseconds = sirenRestMilliseconds
        self.driving = driving
        self.logger = logger
        self.safeStateClock = safeStateClock
        relays = RelayWorker(
            siren: siren, lamps: lamps, sirenMaxOnMilliseconds: sirenMaxOnMilliseconds, sirenRestMilliseconds: sirenRestMilliseconds,
            logger: logger)
        relayRunner = WorkerRunner(name: "relays", worker: relays, clock: relayClock, driving: driving)
        if let voice {
            let worker = VoiceWorker(device: voice, logger: logger)
            self.voice = worker
            voiceRunner = WorkerRunner(name: "voice", worker: worker, clock: voiceClock, driving: driving)
        } else {
            self.voice = nil
            voiceRunner = nil
        }
        if let modem {
            let worker = SMSWorker(endpoint: modem, queueFile: smsQueueFile.map(SMSQueueFile.init(path:)), clock: smsClock, logger: logger)
            sms = worker
            smsRunner = WorkerRunner(name: "sms", worker: worker, clock: smsClock, driving: driving)
        } else {
            sms = nil
            smsRunner = nil
        }
        for runner in runners { runner.start() }
    }

    /// The modem's last registration read (nil: no modem, not read yet, or older than
    /// `ageMillisecondsMax`: the SMS worker may be busy with a 60 s send), for the county push.
    func modemNetwork(ageMillisecondsMax: Int64) -> ModemNetworkReading? { sms?.network(ageMillisecondsMax: ageMillisecondsMax) }

    /// The answers the modem hears (SMS replies, calls to the box, keys in calls), as an input of
    /// the box; nil without a modem.
    var modemAnswersInput: (any GatewayInput)? {
        sms.map { ModemAnswersInput(worker: $0, inputDescription: "modem answers (SMS replies, calls to the box) on \($0.modemStatus.port)") }
    }

    var modemStatus: ModemSnapshot? { sms?.modemStatus }

    /// `handler` hears, on the modem's thread, each time the modem becomes registered for data
    /// again (its +CREG/+CGREG/+CEREG reports, or the periodic read). Without a modem: never.
    func observeModemNetworkReturn(_ handler: @escaping @Sendable (String) -> Void) { sms?.observeNetworkReturn(handler) }

    /// Manual driving: the answers the modem worker heard since the last call (with threads,
    /// `modemAnswersInput` hands them to the engine instead).
    func takeModemAnswers() -> [Event.Kind] { sms?.answers.takeAll() ?? [] }

    private var runners: [WorkerRunner] { [relayRunner] + [voiceRunner, smsRunner].compactMap { $0 } }

    func perform(_ actions: [Action], at time: Timestamp) async {
        performNow(actions)
    }

    /// `perform` without the suspension point, for callers on a thread.
    func performNow(_ actions: [Action]) {
        var relaysChanged = false
        var voiceChanged = false
        var smsChanged = false
        for action in actions {
            switch action {
            case .setSiren(let pattern, let exercise):
                engineRelays.withLock { $0.siren = pattern; $0.sirenExercise = exercise }
                relays.request(siren: pattern, exercise: exercise)
                relaysChanged = true
            case .setLamp(let lamp, let exercise):
                engineRelays.withLock { $0.lamp = lamp; $0.lampExercise = exercise }
                relays.request(lamp: lamp, exercise: exercise)
                relaysChanged = true
            case .broadcast(let message, let exercise):
                // The engine already marks drill broadcasts (【演练】); spoken as given.
                guard let voice else {
                    logger.error("broadcast not spoken: no voice module is configured", metadata: ["message": "\(message)"])
                    continue
                }
                voice.request(speak: message, exercise: exercise)
                voiceChanged = true
            case .sendSMS(let message):
                guard let sms else {
                    logger.critical("SMS not sent: no modem is configured", metadata: ["to": "\(message.contact.name)", "text": "\(message.text)"])
                    continue
                }
                sms.request(send: message)
                smsChanged = true
            case .call(let call):
                guard let sms else {
                    logger.critical("call not made: no modem is configured", metadata: ["to": "\(call.contact.name)"])
                    continue
                }
                sms.request(call: call)
                smsChanged = true
            case .levelChanged, .enqueueReport:
                continue  // the runtime logs and stores these
            }
        }
        if relaysChanged { relayRunner.wake() }
        if voiceChanged { voiceRunner?.wake() }
        if smsChanged { smsRunner?.wake() }
    }

    func beginTest(_ test: OutputTest, at time: Timestamp) async -> String? {
        switch test {
        case .siren:
            // The relay worker's siren_max_on protection holds during a test as at any time.
            relays.request(siren: .continuous, exercise: true)
            relayRunner.wake()
        case .lamp(let colour):
            relays.request(lamp: colour, exercise: true)
            relayRunner.wake()
        case .voice(let text):
            guard let voice else { return "no voice module is wired on this board ([serial.voice] in its board file)" }
            voice.request(speak: text)
            voiceRunner?.wake()
        case .sms(let contact, let text):
            guard let sms else { return "no modem is wired on this board ([serial.modem] in its board file)" }
            sms.request(send: SMS(contact: contact, text: text, exercise: true))
            smsRunner?.wake()
        }
        return nil
    }

    func endTest() async {
        let wanted = engineRelays.withLock { $0 }
        relays.request(siren: wanted.siren, exercise: wanted.sirenExercise)
        relays.request(lamp: wanted.lamp, exercise: wanted.lampExercise)
        relayRunner.wake()
    }

    func enterSafeState() async {
        let relayRequest = relays.requestSafeState()
        let voiceRequest = voice?.requestStop()
        relayRunner.wake()
        voiceRunner?.wake()
        let startMilliseconds = safeStateClock.nowMilliseconds()
        while !safeStateConfirmed(relayRequest: relayRequest, voiceRequest: voiceRequest) {
            let waitedMilliseconds = safeStateClock.nowMilliseconds() - startMilliseconds
            guard waitedMilliseconds < Self.safeStateConfirmMillisecondsMax else {
                logger.critical(
                    "outputs did not confirm the safe state in time",
                    metadata: ["waited-ms": "\(waitedMilliseconds)", "relays-confirmed": "\(relays.status.safeStatesApplied >= relayRequest)"])
                return
            }
            await safeStateClock.sleep(milliseconds: Self.safeStateConfirmPollMilliseconds)
        }
    }

    private func safeStateConfirmed(relayRequest: Int, voiceRequest: Int?) -> Bool {
        guard relays.status.safeStatesApplied >= relayRequest else { return false }
        if let voice, let voiceRequest { return voice.currentStatus.stopsApplied >= voiceRequest }
        return true
    }

    func snapshot() async -> OutputSnapshot { currentSnapshot() }

    func currentSnapshot() -> OutputSnapshot {
        let relay = relays.status
        let voiceStatus = voice?.currentStatus
        let smsStatus = sms?.status
        return OutputSnapshot(
            sirenPattern: relay.sirenPattern.description, sirenOn: relay.sirenOn, lamp: relay.lamp?.rawValue,
            exercise: relay.exercise, lastSpoken: voiceStatus?.lastSpoken, smsSent: smsStatus?.sent ?? 0,
            smsFailed: smsStatus?.failed ?? 0, smsQueued: smsStatus?.queued ?? 0, modem: sms?.modemStatus)
    }

    /// Counters beyond the snapshot, for `status` and the health report.
    var relayStatus: RelayStatus { relays.status }
    var voiceStatus: VoiceStatus? { voice?.currentStatus }
    var smsStatus: SMSStatus? { sms?.status }

    /// Manual driving: runs every worker at its clock's now (after a test advanced the
    /// simulated clock); returns the earliest next deadline.
    @discardableResult
    func stepManually() -> Int64? {
        runners.compactMap { $0.stepManually() }.min()
    }

    /// Stops the worker threads, each leaving its hardware safe (relays off, speech stopped).
    /// Call once, at exit, after `enterSafeState`. Queued SMS are not sent.
    func shutdown() {
        for runner in runners where !runner.stop(timeoutMilliseconds: Self.workerStopMillisecondsMax) {
            logger.critical("output worker did not stop in time", metadata: ["worker": "\(runner.name)"])
        }
        if let queued = sms?.status.queued, queued > 0 {
            logger.critical("stopping with SMS not sent; they are sent after the restart", metadata: ["queued": "\(queued)"])
        }
    }
}
