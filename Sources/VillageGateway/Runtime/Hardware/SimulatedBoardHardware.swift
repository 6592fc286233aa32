// `--board sim` and the tests: the real HardwareOutputs over the Drivers' simulated twins
// (relays on a simulated GPIO chip, a simulated TTS module and modem on simulated serial ports).
import Drivers
import Logging
import TimeSeam
import WarningLogic

/// The twins behind the outputs, kept so the caller can read what the relays did, what was
/// said and what was sent. Threaded driving: read them only after `outputs.shutdown()` (each
/// twin belongs to its worker's thread while it runs). Manual driving: read them any time.
/// That rule, not a lock, is why this is `@unchecked Sendable`: the twins are handed from the
/// workers' threads to the reader by the workers' stop.
final class SimulatedBoardHardware: @unchecked Sendable {
    /// The lines the simulated relays sit on (any board's would do; these are fixed so logs and
    /// tests can name them).
    static let sirenLineOffset: UInt32 = 20
    static let lampLineOffsets: [LampColour: UInt32] = [.blue: 21, .yellow: 22, .orange: 23, .red: 24]
    static let ttsModel: FDModuleModel = .syn6288

    let outputs: HardwareOutputs
    let relayChip: SimulatedGPIOChip
    let voiceModule: SimulatedTextToSpeechModule
    let modem: SimulatedModem
    /// The clocks of the relays', voice's and modem's twins (each belongs to one worker).
    let relayClock: SimulatedClock
    let voiceClock: SimulatedClock
    let modemClock: SimulatedClock
    /// The port the modem worker talks through now (a new one after each replug).
    private let currentModemPort: LockedValue<SimulatedSerialPort>

    /// Builds the outputs. `.dedicatedThreads` runs the workers in real time over twins whose
    /// clocks run at the wall's pace; `.manual` leaves the clocks to the caller.
    /// `safeStateClock`: what `enterSafeState` measures its budget on (see `HardwareOutputs`).
    init(
        sirenMaxOnMilliseconds: Int64, sirenRestMilliseconds: Int64, driving: OutputDriving, smsQueueFile: String? = nil,
        safeStateClock: any GatewayClock = SystemMonotonicClock(), logger: Logger = Logger(label: "village-gateway.outputs")
    ) throws(HardwareSetupError) {
        // Threaded, the workers run in real time: each twin's clock is paced at 1x from 0, so the
        // relays' recorded history carries real elapsed times; manual, the caller steps them.
        let realTime = SimulationPace(startNanoseconds: 0, speed: 1)
        relayClock = driving == .manual ? SimulatedClock() : SimulatedClock(pace: realTime)
        voiceClock = driving == .manual ? SimulatedClock() : SimulatedClock(pace: realTime)
        modemClock = driving == .manual ? SimulatedClock() : SimulatedClock(pace: realTime)
        relayChip = SimulatedGPIOChip(path: "/dev/gpiochip-sim", clock: relayClock)
        voiceModule = SimulatedTextToSpeechModule(model: Self.ttsModel)
        modem = SimulatedModem()
        let siren: any GPIOOutput
        var lamps: [LampColour: any GPIOOutput] = [:]
        do throws(GPIOError) {
            siren = try relayChip.openOutput(GPIOOutputConfiguration(line: .offset(Self.sirenLineOffset), consumer: "siren"))
            for (colour, offset) in Self.lampLineOffsets {
                lamps[colour] = try relayChip.openOutput(GPIOOutputConfiguration(line: .offset(offset), consumer: "lamp-\(colour.rawValue)"))
            }
        } catch {
            throw HardwareSetupError(description: "simulated relays: \(error)")
        }
        // A worker measures its deadlines on the same clock its twin advances.
        let voiceWorkerClock = voiceClock, modemWorkerClock = modemClock, relayWorkerClock = relayClock
        let voicePort = SimulatedSerialPort(portDescription: "simulated:/dev/ttyVOICE", clock: voiceClock, device: voiceModule)
        let modemPort = SimulatedSerialPort(portDescription: "simulated:/dev/ttyMODEM", clock: modemClock, device: modem)
        let tts = FDTextToSpeech(transport: voicePort, clock: voiceWorkerClock, model: Self.ttsModel)
        let currentPort = LockedValue(modemPort)
        self.currentModemPort = currentPort
        let twin = UncheckedSendableBox(modem)
        let clocks = UncheckedSendableBox((twin: modemClock, worker: modemWorkerClock))
        // Replugging the twin: a new port to the same modem, as the kernel gives the same name.
        let endpoint = ModemEndpoint(portDescription: modemPort.portDescription, model: .quectelEC2x) { () throws(ModemError) -> Modem in
            guard !twin.value.unplugged else { throw .transport(.disconnected(path: "simulated:/dev/ttyMODEM")) }
            let port = currentPort.withLock { port in
                if port.vanished { port = SimulatedSerialPort(portDescription: port.portDescription, clock: clocks.value.twin, device: twin.value) }
                return port
            }
            return Modem(channel: ATChannel(transport: port, clock: clocks.value.worker))
        }
        outputs = try HardwareOutputs(
            siren: siren, lamps: lamps, voice: .textToSpeech(tts), modem: endpoint, smsQueueFile: smsQueueFile,
            sirenMaxOnMilliseconds: sirenMaxOnMilliseconds, sirenRestMilliseconds: sirenRestMilliseconds,
            relayClock: relayWorkerClock, voiceClock: voiceWorkerClock, smsClock: modemWorkerClock, safeStateClock: safeStateClock, driving: driving,
            logger: logger)
    }

    /// Pulls the modem's USB cable: the port fails now, and reopening fails until `replugModem`.
    func unplugModem() {
        modem.unplugged = true
        currentModemPort.withLock { $0.vanish() }
    }

    func replugModem() { modem.unplugged = false }

    /// The siren relay's switches, oldest first (its opening state included).
    var sirenHistory: [SimulatedOutputChange] { relayChip.outputHistory(offset: Self.sirenLineOffset) }

    func lampHistory(_ colour: LampColour) -> [SimulatedOutputChange] {
        relayChip.outputHistory(offset: Self.lampLineOffsets[colour] ?? 0)
    }

    /// What the voice module was asked to say, in order.
    var spokenTexts: [String] {
        (0..<voiceModule.spokenTexts.count).compactMap { voiceModule.spokenUnicodeText($0, bigEndian: true) }
    }
}
