// The devices of `--board sim`: the drivers' twins (a GPIO chip per chip the board file names,
// Modbus slaves behind each "sim:" bus, a voice module, a modem), all on the scenario's pace.
import Drivers
import Logging
import Synchronization
import TimeSeam
import WarningLogic

/// The twins behind the simulated board, opened by the same `BoardHardware` as a real board.
/// The scenario's player drives their far ends (edges on the chip, registers of the slaves);
/// the box's threads drive their near ends through the real drivers.
///
/// `@unchecked Sendable`: the chips and the Modbus slaves lock their own state; the voice module
/// and the modem twins are touched only through their port by their one output worker, and read
/// by `twinCounts()` only after the workers have stopped.
final class SimulatedDevices: BoardDevices, @unchecked Sendable {
    /// Lines on each simulated chip (the board files use offsets below this).
    static let chipLinesCount: UInt32 = 64

    let pace: SimulationPace
    /// By path ("/dev/gpiochip0").
    let chips: [String: SimulatedGPIOChip]
    /// By device ("sim:rs485").
    let modbusSlaves: [String: SimulatedModbusSlaves]
    let voiceModule: SimulatedTextToSpeechModule?
    let clipPlayer: SimulatedClipPlayerModule?
    let modem: SimulatedModem
    private let board: BoardDescription
    /// Each twin's serial port is opened by one owner at a time, as a tty opened exclusively:
    /// a second open while the first is held is refused (busy), and the port is free again once
    /// its owner lets go (the modem worker reopening after a time-out). The bus owner reopens
    /// its port after a failure (a new port over the same slaves).
    private let openedPorts = Mutex<Set<String>>([])

    init(board: BoardDescription, pace: SimulationPace) {
        self.pace = pace
        self.board = board
        var chips: [String: SimulatedGPIOChip] = [:]
        let lines = board.inputs.values.map(\.gpio) + board.outputs.values.map(\.gpio)
        for line in lines where chips[line.chipPath] == nil {
            chips[line.chipPath] = SimulatedGPIOChip(path: line.chipPath, lineCount: Self.chipLinesCount, clock: SimulatedClock(pace: pace))
        }
        // A switch at rest: an active-low input (switch to ground, pull-up) reads high.
        for input in board.inputs.values {
            if case .offset(let offset) = input.gpio.line {
                chips[input.gpio.chipPath]?.setRestingLevel(offset: offset, high: input.activeLow)
            }
        }
        self.chips = chips
        var slaves: [String: SimulatedModbusSlaves] = [:]
        for function in board.serialPorts.keys where function.isBus {
            // A bus put on a real device (`--bus rs485=/dev/pts/3`) is the host's, not a twin.
            if let device = board.serialPorts[function]?.device, Self.isTwin(device) { slaves[device] = SimulatedModbusSlaves() }
        }
        modbusSlaves = slaves
        if let model = board.serialPorts[.voice]?.voiceModel {
            if let ttsModel = model.textToSpeechModel {
                voiceModule = SimulatedTextToSpeechModule(model: ttsModel, clock: SimulatedClock(pace: pace))
                clipPlayer = nil
            } else {
                voiceModule = nil
                clipPlayer = SimulatedClipPlayerModule(format: .withChecksum)
            }
        } else {
            voiceModule = nil
            clipPlayer = nil
        }
        modem = SimulatedModem()
    }

    var devicesDescription: String { "the simulated twins" }

    func openChip(path: String) throws(GPIOError) -> any GPIOChip {
        guard let chip = chips[path] else { throw .noChip(path: path) }
        return chip
    }

    /// "sim:rs485" is a twin; any other path is a real device of the host.
    static func isTwin(_ device: String) -> Bool { device.hasPrefix("sim:") }

    func openSerial(path: String, settings: SerialSettings, logger: Logger) throws(SerialError) -> any SerialTransport {
        // A real device named on the simulated board (a pty with a Modbus slave behind it, for
        // the soak benchmark; a USB adapter with a real sensor on a technician's laptop) is
        // opened as a real board opens it, while the rest of the board stays simulated.
        if !Self.isTwin(path) { return try SerialPorts.open(path: path, settings: settings, logger: logger) }
        let device: (any SimulatedSerialDevice)?
        if let slaves = modbusSlaves[path] {
            device = slaves
        } else if path == board.serialPorts[.voice]?.device {
            device = voiceModule ?? clipPlayer
        } else if path == board.serialPorts[.modem]?.device {
            device = modem
        } else {
            throw .notFound(path: path)
        }
        var release: (() -> Void)?
        if modbusSlaves[path] == nil {
            let first = openedPorts.withLock { $0.insert(path).inserted }
            guard first else { throw .busy(path: path) }
            release = { [weak self] in _ = self?.openedPorts.withLock { $0.remove(path) } }
        }
        // Ten bits a byte on the wire, at the port's rate.
        let byteTimeMicroseconds = Int64(10_000_000 / max(settings.baudRate, 1))
        return SimulatedSerialPort(
            portDescription: "simulated \(path)", clock: SimulatedClock(pace: pace), device: device, byteTimeMicroseconds: byteTimeMicroseconds,
            onClose: release)
    }

    func makeClock() -> any GatewayClock { SimulatedClock(pace: pace) }

    /// The chip's clock counts scenario time since the Unix epoch: an edge's stamp is its box time.
    var edgeTime: EdgeTimeConverter {
        { edgeNanoseconds, _ in Timestamp(millisecondsSinceUnixEpoch: edgeNanoseconds / 1_000_000) }
    }

    /// 250 ms of wall time, in scenario milliseconds.
    var gpioWaitSliceMilliseconds: Int {
        let simulated = pace.simulatedNanoseconds(forWall: Int64(VillageGateway.gpioWaitSliceMilliseconds) * 1_000_000) / 1_000_000
        return Int(min(max(simulated, 1), Int64(Int32.max)))
    }

    /// What the twins saw, for the exit record: proof from the far side that the outputs were
    /// reached. Call only after the output workers have stopped.
    func twinCounts() -> [(name: String, value: Int64)] {
        var counts: [(String, Int64)] = []
        if let siren = board.outputs[.siren], case .offset(let offset) = siren.gpio.line, let chip = chips[siren.gpio.chipPath] {
            counts.append(("twin_siren_switched_on", Int64(chip.outputHistory(offset: offset).dropFirst().filter(\.on).count)))
        }
        if let voiceModule { counts.append(("twin_voice_spoken", Int64(voiceModule.spokenTexts.count))) }
        counts.append(("twin_modem_sms", Int64(modem.receivedPDUs.count)))
        // Replies the box read and deleted from the twin's SIM, calls to the box it hung up on.
        counts.append(("twin_modem_replies_read", Int64(modem.messagesDeleted)))
        counts.append(("twin_modem_calls_hung_up", Int64(modem.callsHungUp)))
        counts.append(("twin_modbus_answers", Int64(modbusSlaves.values.map(\.requestsAnswered).reduce(0, +))))
        counts.append(("twin_gpio_edges_dropped", Int64(chips.values.map(\.droppedEdges).reduce(0, +))))
        return counts
    }
}
