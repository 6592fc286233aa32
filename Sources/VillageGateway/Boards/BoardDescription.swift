// What a board file says: which GPIO line and which serial device does each job of the box.
import Drivers

/// The inputs a board can wire, by the name used in board files.
enum BoardInputFunction: String, CaseIterable, Sendable, Comparable {
    /// The reed switch of the (first) tipping-bucket rain gauge.
    case rainGauge = "rain_gauge"
    /// A second gauge (a second catchment, or a spare beside the first).
    case rainGauge2 = "rain_gauge_2"
    /// The button a responsible person presses on the box to answer (叫应) a warning.
    case acknowledgeButton = "ack_button"
    /// The key switch that puts the box into drill (演练) mode.
    case drillKey = "drill_key"

    var meaning: String {
        switch self {
        case .rainGauge: "rain gauge"
        case .rainGauge2: "second rain gauge"
        case .acknowledgeButton: "acknowledge button"
        case .drillKey: "drill key"
        }
    }

    static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// The relays a board can drive.
enum BoardOutputFunction: String, CaseIterable, Sendable, Comparable {
    case siren
    /// The relay that switches the village broadcast receiver (loudspeakers) on.
    case broadcast
    case lampBlue = "lamp_blue"
    case lampYellow = "lamp_yellow"
    case lampOrange = "lamp_orange"
    case lampRed = "lamp_red"

    var meaning: String {
        switch self {
        case .siren: "siren relay"
        case .broadcast: "broadcast relay"
        case .lampBlue: "blue lamp relay"
        case .lampYellow: "yellow lamp relay"
        case .lampOrange: "orange lamp relay"
        case .lampRed: "red lamp relay"
        }
    }

    /// The lamp output for a lamp colour of the configuration (`lamp = "red"` → `lamp_red`).
    static func lamp(_ colourName: String) -> BoardOutputFunction? {
        BoardOutputFunction(rawValue: "lamp_" + colourName)
    }

    static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// The serial ports a board can name.
enum BoardSerialFunction: String, CaseIterable, Sendable, Comparable {
    /// RS-485 Modbus RTU buses; `[buses.<name>]` in gateway.toml and `--bus <name>=…` use these names.
    case rs485
    case rs485Second = "rs485_2"
    /// The UART text-to-speech module or MP3 clip player.
    case voice
    /// The cellular modem's AT command port.
    case modem
    /// The technician's console: where the shell listens. Every board needs one.
    case console

    var isBus: Bool { self == .rs485 || self == .rs485Second }

    var meaning: String {
        switch self {
        case .rs485: "RS-485 bus"
        case .rs485Second: "second RS-485 bus"
        case .voice: "voice module"
        case .modem: "modem"
        case .console: "console"
        }
    }

    /// The rate used when the board file names none: what the usual device ships at.
    var defaultBaudRate: Int {
        switch self {
        case .rs485, .rs485Second, .voice: 9600
        case .modem, .console: 115_200
        }
    }

    static let busNames = allCases.filter(\.isBus).map(\.rawValue)

    static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// The voice hardware a board's `[serial.voice]` port talks to.
enum VoiceModuleModel: String, CaseIterable, Sendable {
    /// 0xFD-framed text-to-speech modules.
    case syn6288, xfs5152
    /// A UART MP3 clip player: plays numbered recordings, cannot speak arbitrary text.
    case mp3

    /// The driver's model, for the text-to-speech ones.
    var textToSpeechModel: FDModuleModel? {
        switch self {
        case .syn6288: .syn6288
        case .xfs5152: .xfs5152
        case .mp3: nil
        }
    }
}

/// One GPIO line: which chip, which line on it, and where a technician finds it on the board.
struct BoardGPIOLine: Sendable, Equatable, CustomStringConvertible {
    /// As written: "gpiochip0".
    var chip: String
    var line: GPIOLineSelector
    /// The header pin, for people: "header pin 11", "P9_12".
    var pin: String?

    /// What libgpiod opens.
    var chipPath: String { "/dev/" + chip }

    var description: String {
        "\(chip) \(line)" + (pin.map { " (\($0))" } ?? "")
    }
}

/// An input line and how to read it.
struct BoardInput: Sendable, Equatable {
    var gpio: BoardGPIOLine
    /// True when closing the switch pulls the line low (switch to ground, pull-up): the usual wiring.
    var activeLow: Bool
    var bias: GPIOBias
    var debounceMilliseconds: Int

    /// How the GPIO driver opens it; `consumer` is what `gpioinfo` shows as the line's user.
    func gpioConfiguration(consumer: String) -> GPIOInputConfiguration {
        GPIOInputConfiguration(line: gpio.line, consumer: consumer, debounceMilliseconds: debounceMilliseconds,
                               activeLow: activeLow, bias: bias)
    }
}

/// A relay output and its safe state.
struct BoardOutput: Sendable, Equatable {
    var gpio: BoardGPIOLine
    /// True for relay boards that energise on a low level (most opto-isolated ones).
    var activeLow: Bool
    /// The state on start, on shutdown and after an error. Off for every relay we know of; "on"
    /// exists for a fail-safe lamp wired to light when the box is dead.
    var safeStateOn: Bool

    func gpioConfiguration(consumer: String) -> GPIOOutputConfiguration {
        GPIOOutputConfiguration(line: gpio.line, consumer: consumer, activeLow: activeLow, safeStateOn: safeStateOn)
    }
}

/// How an RS-485 transceiver is switched between sending and listening.
enum RS485Direction: Sendable, Equatable {
    /// The transceiver (or the USB-RS485 adapter) switches by itself.
    case automatic
    /// The UART's RTS drives DE/RE and the kernel toggles it (`TIOCSRS485`).
    case kernelRTS(SerialSettings.RS485)
}

/// One serial port of the board.
struct BoardSerialPort: Sendable, Equatable {
    /// "/dev/ttyS1" on a real board, "sim:<name>" on the simulated one.
    var device: String
    var baudRate: Int
    /// Buses only.
    var rs485Direction: RS485Direction?
    /// The voice port only.
    var voiceModel: VoiceModuleModel?
    /// The modem port only: what the module can do in a call (nil: generic).
    var modemModel: ModemModel? = nil
    /// Another function that deliberately uses the same device (written `shared_with`).
    var sharedWith: BoardSerialFunction?
}

/// A checked board file.
struct BoardDescription: Sendable, Equatable {
    /// As `--board NAME` names it; equals the file's name without `.toml`.
    var name: String
    var description: String
    /// Where the pin map comes from (a published pinout); required for real boards.
    var source: String?
    /// The simulated board: its chips and devices are the drivers' simulated twins.
    var isSimulated: Bool
    /// The file it was read from ("(built in)" for the embedded simulated board).
    var file: String
    var inputs: [BoardInputFunction: BoardInput]
    var outputs: [BoardOutputFunction: BoardOutput]
    var serialPorts: [BoardSerialFunction: BoardSerialPort]

    /// Every board has a console; the reader refuses a file without one.
    var console: BoardSerialPort? { serialPorts[.console] }

    /// The buses the board has, by name.
    var busNames: [String] { serialPorts.keys.filter(\.isBus).sorted().map(\.rawValue) }

    /// What is wired where, one line per function, for `boards check` and the start-up log.
    var wiringSummary: [String] {
        var lines: [String] = []
        for function in inputs.keys.sorted() {
            guard let input = inputs[function] else { continue }
            lines.append("\(function.rawValue): \(input.gpio), \(input.activeLow ? "active low" : "active high"), "
                + "bias \(biasName(input.bias)), debounce \(input.debounceMilliseconds)ms")
        }
        for function in outputs.keys.sorted() {
            guard let output = outputs[function] else { continue }
            lines.append("\(function.rawValue): \(output.gpio), \(output.activeLow ? "active low" : "active high"), "
                + "safe \(output.safeStateOn ? "on" : "off")")
        }
        for function in serialPorts.keys.sorted() {
            guard let port = serialPorts[function] else { continue }
            var text = "\(function.rawValue): \(port.device) at \(port.baudRate) baud"
            switch port.rs485Direction {
            case .automatic: text += ", direction switched by the transceiver"
            case .kernelRTS: text += ", direction switched by the kernel on RTS"
            case nil: break
            }
            if let model = port.voiceModel { text += ", \(model.rawValue)" }
            if let model = port.modemModel { text += ", \(model.rawValue)" }
            if let shared = port.sharedWith { text += ", shared with \(shared.rawValue)" }
            lines.append(text)
        }
        return lines
    }
}

/// The board file's spelling of a bias.
func biasName(_ bias: GPIOBias) -> String {
    switch bias {
    case .pullUp: "pull_up"
    case .pullDown: "pull_down"
    case .disabled: "disabled"
    case .asIs: "as_is"
    }
}

/// Bounds on board files: a board has a few dozen lines at most.
enum BoardLimits {
    /// Boards listed from one directory; more is the wrong directory.
    static let boardFilesMax = 64
    /// Longest line offset accepted: sunxi chips reach 288, others stay below 256.
    static let lineOffsetMax = 1023
    /// A reed switch bounces for a few ms; a button for tens; above a second is a typo.
    static let debounceMilliseconds: ClosedRange<Int64> = 1...1_000
    static let descriptionCharactersMax = 120
    static let deviceCharactersMax = 200
}
