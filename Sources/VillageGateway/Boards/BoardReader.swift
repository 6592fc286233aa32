// The schema of a board file: every key, its default, and the checks that keep two jobs off one pin.
import Drivers

/// Reads a parsed board file. Like the configuration reader, it reports every mistake to
/// `problems` and keeps going, so one run of `boards check` shows them all.
struct BoardReader {
    let root: [String: TOMLNode]
    let problems: ProblemCollector
    /// The name the file's own name implies (`raspberry-pi-4` for `raspberry-pi-4.toml`); nil
    /// for a board that is not a file (the embedded simulated board).
    let nameFromFile: String?

    init(root: TOMLNode, problems: ProblemCollector, nameFromFile: String?) {
        if case .table(let entries) = root { self.root = entries } else { self.root = [:] }
        self.problems = problems
        self.nameFromFile = nameFromFile
    }

    static let sections = ["board", "inputs", "outputs", "serial"]

    func read() -> BoardDescription {
        for key in root.keys where !Self.sections.contains(key) {
            var message = "unknown table [\(key)]"
            if let suggestion = closestName(to: key, among: Self.sections) {
                message += "; did you mean [\(suggestion)]?"
            } else {
                message += "; a board file has [board], [inputs.<function>], [outputs.<function>] and [serial.<function>]"
            }
            problems.report(at: [.key(key)], key: "", given: nil, message)
        }
        var board = readBoard()
        var lineUsers: [String: (function: String, path: TOMLPath)] = [:]
        board.inputs = readInputs(lineUsers: &lineUsers)
        board.outputs = readOutputs(lineUsers: &lineUsers)
        board.serialPorts = readSerialPorts(isSimulated: board.isSimulated)
        return board
    }

    // MARK: [board]

    private func readBoard() -> BoardDescription {
        var board = BoardDescription(name: "", description: "", source: nil, isSimulated: false, file: problems.file,
                                     inputs: [:], outputs: [:], serialPorts: [:])
        guard let node = root["board"] else {
            problems.report(at: nil, key: "[board]", given: nil,
                            "missing; every board file starts with [board] and its name, description and the pinout it follows (source)")
            return board
        }
        guard case .table(let entries) = node else {
            problems.report(at: [.key("board")], key: "[board]", given: nil, "must be a table written [board] with its keys below")
            return board
        }
        let reader = TableReader(entries: entries, path: [.key("board")], label: "[board]", problems: problems)
        reader.reportUnknownKeys(known: ["name", "description", "source", "simulated"])
        if !reader.has("name") {
            reader.missing("name", "the board's name, as `--board NAME` gives it and the file is named, e.g. name = \"\(nameFromFile ?? "raspberry-pi-4")\"")
        } else if let name = reader.identifier("name", what: nameFromFile ?? "raspberry-pi-4") {
            board.name = name
            if let nameFromFile, nameFromFile != name {
                reader.report("name", given: .string(name),
                              "must be the file's name without .toml (\"\(nameFromFile)\"), so that `--board \(name)` finds this file")
            }
        }
        if let description = reader.string("description") {
            if description.trimmingSpaces.isEmpty || description.count > BoardLimits.descriptionCharactersMax {
                reader.report("description", given: .string(description),
                              "must say which board this is, 1 to \(BoardLimits.descriptionCharactersMax) characters")
            } else {
                board.description = description
            }
        } else if !reader.has("description") {
            reader.missing("description", "which board this is, e.g. description = \"Raspberry Pi 4 Model B (40-pin header)\"")
        }
        if let node = reader.entries["simulated"] {
            if case .boolean(let value) = node {
                board.isSimulated = value
            } else {
                reader.report("simulated", given: node, "must be true or false (true only for the simulated board)")
            }
        }
        if let source = reader.string("source") {
            if source.trimmingSpaces.isEmpty {
                reader.report("source", given: .string(source), "must name the published pinout the pin map follows")
            } else {
                board.source = source
            }
        } else if !reader.has("source"), !board.isSimulated {
            reader.missing("source", "name the published pinout this pin map follows (a manual or a URL), so the next person can check it")
        }
        if board.name == "sim", !board.isSimulated {
            reader.report("name", given: .string("sim"), "\"sim\" is the simulated board's name; a real board needs its own name")
        }
        return board
    }

    // MARK: [inputs.*] and [outputs.*]

    /// The tables under `[section.<function>]`, each with its function, or reported.
    private func functionTables<Function: RawRepresentable & CaseIterable>(
        _ section: String, as: Function.Type, what: String
    ) -> [(Function, TableReader)] where Function.RawValue == String {
        guard let node = root[section] else { return [] }
        guard case .table(let entries) = node else {
            problems.report(at: [.key(section)], key: "[\(section)]", given: nil,
                            "must be tables written [\(section).<function>], one per \(what)")
            return []
        }
        let names = Function.allCases.map(\.rawValue)
        var result: [(Function, TableReader)] = []
        // File order, so that of two functions on one line the second written is the one blamed.
        let keys = entries.keys.sorted { a, b in
            let lineA = problems.locator.line(for: [.key(section), .key(a)]) ?? Int.max
            let lineB = problems.locator.line(for: [.key(section), .key(b)]) ?? Int.max
            return lineA != lineB ? lineA < lineB : a < b
        }
        for key in keys {
            let path: TOMLPath = [.key(section), .key(key)]
            let label = "[\(section).\(key)]"
            guard let function = Function(rawValue: key) else {
                problems.report(at: path, key: label, given: nil, unknownFunctionMessage(key, section: section, names: names))
                continue
            }
            guard case .table(let fields) = entries[key] else {
                problems.report(at: path, key: label, given: entries[key]?.rendered, "must be a table with its keys on the lines below")
                continue
            }
            result.append((function, TableReader(entries: fields, path: path, label: label, problems: problems)))
        }
        return result
    }

    private func unknownFunctionMessage(_ key: String, section: String, names: [String]) -> String {
        let otherSections: [(String, [String])] = [
            ("inputs", BoardInputFunction.allCases.map(\.rawValue)),
            ("outputs", BoardOutputFunction.allCases.map(\.rawValue)),
            ("serial", BoardSerialFunction.allCases.map(\.rawValue)),
        ]
        if let other = otherSections.first(where: { $0.0 != section && $0.1.contains(key) }) {
            return "\"\(key)\" belongs in [\(other.0).\(key)], not under [\(section)]"
        }
        if key.hasPrefix("lamp_") {
            // No "did you mean": lamp_green is not a typo of lamp_red, it is a lamp we do not have.
            return "unknown lamp \"\(key)\": the warning lamps are the four level colours, "
                + quotedList(BoardOutputFunction.allCases.filter { $0.rawValue.hasPrefix("lamp_") }.map(\.rawValue))
        }
        var message = "unknown function \"\(key)\""
        if let suggestion = closestName(to: key, among: names) {
            message += "; did you mean \"\(suggestion)\"?"
        } else {
            message += "; the functions here are " + quotedList(names, conjunction: "and")
        }
        return message
    }

    /// chip + line (or line_name) + pin, checking that no other function holds the same line.
    private func readLine(_ reader: TableReader, function: String,
                          lineUsers: inout [String: (function: String, path: TOMLPath)]) -> BoardGPIOLine? {
        var chip: String?
        if let text = reader.string("chip") {
            if isChipName(text) {
                chip = text
            } else if text.hasPrefix("/dev/"), isChipName(String(text.dropFirst(5))) {
                reader.report("chip", given: .string(text), "write the chip's name without /dev/: \"\(text.dropFirst(5))\"")
            } else {
                reader.report("chip", given: .string(text), "must be a GPIO chip's name as `gpiodetect` lists it, e.g. \"gpiochip0\"")
            }
        } else if !reader.has("chip") {
            reader.missing("chip", "the GPIO chip, as `gpiodetect` lists it, e.g. chip = \"gpiochip0\"")
        }
        var selector: GPIOLineSelector?
        switch (reader.has("line"), reader.has("line_name")) {
        case (true, true):
            reader.report("line_name", given: reader.entries["line_name"], "give line or line_name, not both")
        case (false, false):
            reader.missing("line", "the line's offset on its chip (as `gpioinfo` numbers it), or line_name = the name `gpioinfo` shows")
        case (true, false):
            if let offset = reader.integer("line", in: 0...BoardLimits.lineOffsetMax, meaning: "the line's offset on its chip, as `gpioinfo` numbers it") {
                selector = .offset(UInt32(offset))
            }
        case (false, true):
            if let name = reader.string("line_name") {
                if name.trimmingSpaces.isEmpty {
                    reader.report("line_name", given: .string(name), "must be the line's name as `gpioinfo` shows it, e.g. \"GPIO17\"")
                } else {
                    selector = .name(name)
                }
            }
        }
        var pin: String?
        if let text = reader.string("pin") {
            if text.trimmingSpaces.isEmpty {
                reader.report("pin", given: .string(text), "must say where the line is on the board, e.g. \"header pin 11\"")
            } else {
                pin = text
            }
        }
        guard let chip, let selector else { return nil }
        let lineKey = reader.has("line") ? "line" : "line_name"
        let identity = "\(chip)/\(selector)"
        if let first = lineUsers[identity] {
            reader.report(lineKey, given: reader.entries[lineKey],
                          "\(chip) \(selector) is already the \(first.function) (line \(problems.locator.line(for: first.path) ?? 0)); one line can do one job")
        } else {
            lineUsers[identity] = (function, reader.path + [.key(lineKey)])
        }
        return BoardGPIOLine(chip: chip, line: selector, pin: pin)
    }

    private func readBoolean(_ reader: TableReader, _ key: String, meaning: String) -> Bool? {
        guard let node = reader.entries[key] else { return nil }
        guard case .boolean(let value) = node else {
            reader.report(key, given: node, "must be true or false (\(meaning))")
            return nil
        }
        return value
    }

    private func readInputs(lineUsers: inout [String: (function: String, path: TOMLPath)]) -> [BoardInputFunction: BoardInput] {
        var inputs: [BoardInputFunction: BoardInput] = [:]
        for (function, reader) in functionTables("inputs", as: BoardInputFunction.self, what: "input") {
            reader.reportUnknownKeys(known: ["chip", "line", "line_name", "pin", "active_low", "bias", "debounce"])
            let line = readLine(reader, function: function.meaning, lineUsers: &lineUsers)
            let activeLow = readBoolean(reader, "active_low", meaning: "true when closing the switch pulls the line low") ?? true
            let biasNames = ["pull_up", "pull_down", "disabled", "as_is"]
            let bias: GPIOBias = switch reader.choice("bias", among: biasNames) {
            case "pull_down": .pullDown
            case "disabled": .disabled
            case "as_is": .asIs
            default: .pullUp
            }
            // The shared hint for a bare number offers s, m and h; a debounce is milliseconds.
            var debounce: Int64?
            if case .string(let text)? = reader.entries["debounce"], !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                reader.report("debounce", given: .string(text), "a duration needs a unit: \"\(text)ms\"? (1ms to 1s)")
            } else {
                debounce = reader.duration("debounce", in: BoardLimits.debounceMilliseconds,
                                           meaning: "how long a level must hold before it counts; reed switches bounce a few ms")
            }
            guard let line else { continue }
            inputs[function] = BoardInput(gpio: line, activeLow: activeLow, bias: bias,
                                          debounceMilliseconds: Int(debounce ?? BoardDefaults.debounceMilliseconds))
        }
        return inputs
    }

    private func readOutputs(lineUsers: inout [String: (function: String, path: TOMLPath)]) -> [BoardOutputFunction: BoardOutput] {
        var outputs: [BoardOutputFunction: BoardOutput] = [:]
        for (function, reader) in functionTables("outputs", as: BoardOutputFunction.self, what: "relay") {
            reader.reportUnknownKeys(known: ["chip", "line", "line_name", "pin", "active_low", "safe"])
            let line = readLine(reader, function: function.meaning, lineUsers: &lineUsers)
            let activeLow = readBoolean(reader, "active_low", meaning: "true for relay boards that switch on a low level") ?? false
            let safe = reader.choice("safe", among: ["off", "on"])
            guard let line else { continue }
            outputs[function] = BoardOutput(gpio: line, activeLow: activeLow, safeStateOn: safe == "on")
        }
        return outputs
    }

    // MARK: [serial.*]

    private func readSerialPorts(isSimulated: Bool) -> [BoardSerialFunction: BoardSerialPort] {
        var ports: [BoardSerialFunction: BoardSerialPort] = [:]
        var devicePaths: [BoardSerialFunction: TOMLPath] = [:]
        for (function, reader) in functionTables("serial", as: BoardSerialFunction.self, what: "serial port") {
            for key in ["direction", "rts_delay_before", "rts_delay_after"] where !function.isBus && reader.has(key) {
                reader.report(key, given: reader.entries[key], "only for RS-485 buses ([serial.rs485], [serial.rs485_2])")
            }
            if function != .voice && function != .modem, reader.has("model") {
                reader.report("model", given: reader.entries["model"], "only for [serial.voice] (the voice module's model) and [serial.modem] (the modem's)")
            }
            // Keys of another kind of port are known here too: they were reported above as misplaced.
            reader.reportUnknownKeys(known: ["device", "baud", "shared_with", "direction", "rts_delay_before", "rts_delay_after", "model"])

            var device: String?
            if let text = reader.string("device") {
                device = checkedDevice(text, reader: reader, isSimulated: isSimulated)
            } else if !reader.has("device") {
                reader.missing("device", isSimulated ? "the simulated device, e.g. device = \"sim:\(function.rawValue)\""
                               : "the serial device, e.g. device = \"/dev/ttyS1\"")
            }
            var baud = function.defaultBaudRate
            if let node = reader.entries["baud"] {
                if case .integer(let value) = node, SerialSettings.standardBaudRates.contains(value) {
                    baud = value
                } else {
                    reader.report("baud", given: node, "must be one of the standard rates: "
                        + SerialSettings.standardBaudRates.map(String.init).joined(separator: ", "))
                }
            }
            var direction: RS485Direction?
            if function.isBus {
                direction = .automatic
                let name = reader.choice("direction", among: ["auto", "rts"])
                let delayRange: ClosedRange<Int64> = 0...Int64(SerialSettings.RS485.delayMillisecondsMax)
                let before = reader.duration("rts_delay_before", in: delayRange, meaning: "time for the transceiver to turn on before sending")
                let after = reader.duration("rts_delay_after", in: delayRange, meaning: "time to hold the line after the last bit")
                if name == "rts" {
                    direction = .kernelRTS(SerialSettings.RS485(delayBeforeSendMilliseconds: Int(before ?? 0),
                                                                delayAfterSendMilliseconds: Int(after ?? 0)))
                } else {
                    for key in ["rts_delay_before", "rts_delay_after"] where reader.has(key) {
                        reader.report(key, given: reader.entries[key], "only with direction = \"rts\"; an automatic transceiver needs no delays")
                    }
                }
            }
            var model: VoiceModuleModel?
            if function == .voice {
                if reader.has("model") {
                    model = reader.choice("model", among: VoiceModuleModel.allCases.map(\.rawValue)).flatMap(VoiceModuleModel.init(rawValue:))
                } else {
                    reader.missing("model", "the voice module: " + quotedList(VoiceModuleModel.allCases.map(\.rawValue)))
                }
            }
            // The modem's model says what it can do beyond SMS and calls (speak and hear keys in a
            // call); optional, "generic" when not given.
            var modemModel: ModemModel?
            if function == .modem, reader.has("model") {
                modemModel = reader.choice("model", among: ModemModel.allCases.map(\.rawValue)).flatMap(ModemModel.init(rawValue:))
            }
            var sharedWith: BoardSerialFunction?
            if reader.has("shared_with") {
                let others = BoardSerialFunction.allCases.filter { $0 != function }.map(\.rawValue)
                sharedWith = reader.choice("shared_with", among: others).flatMap(BoardSerialFunction.init(rawValue:))
            }
            guard let device else { continue }
            ports[function] = BoardSerialPort(device: device, baudRate: baud, rs485Direction: direction,
                                              voiceModel: model, modemModel: modemModel, sharedWith: sharedWith)
            devicePaths[function] = reader.path + [.key("device")]
        }
        // One device, two jobs: only where one of the two says so.
        var firstUser: [String: BoardSerialFunction] = [:]
        for function in ports.keys.sorted() {
            guard let port = ports[function] else { continue }
            if let first = firstUser[port.device] {
                let isShared = port.sharedWith == first || ports[first]?.sharedWith == function
                if !isShared {
                    problems.report(at: devicePaths[function], key: "[serial.\(function.rawValue)] device", given: tomlQuoted(port.device),
                                    "already the \(first.meaning)'s device (line \(devicePaths[first].flatMap { problems.locator.line(for: $0) } ?? 0)); "
                                    + "two jobs cannot share one port unless one says shared_with = \"\(first.rawValue)\"")
                }
            } else {
                firstUser[port.device] = function
            }
        }
        // A [serial.console] written wrongly has its own problem; only its absence is reported here.
        let consoleWritten: Bool = if case .table(let entries) = root["serial"] { entries["console"] != nil } else { false }
        if !consoleWritten {
            problems.report(at: root["serial"] == nil ? nil : [.key("serial")], key: "[serial.console]", given: nil,
                            "missing; every board needs the console port the technician's shell listens on, e.g. device = \"/dev/ttyS0\"")
        }
        return ports
    }

    private func checkedDevice(_ text: String, reader: TableReader, isSimulated: Bool) -> String? {
        guard text.count <= BoardLimits.deviceCharactersMax, !text.contains(" ") else {
            reader.report("device", given: .string(text), "must be a device path without spaces, at most \(BoardLimits.deviceCharactersMax) characters")
            return nil
        }
        if isSimulated {
            guard text.hasPrefix("sim:"), text.count > 4 else {
                reader.report("device", given: .string(text),
                              "the simulated board's devices are the drivers' twins, named \"sim:<name>\"; a real device belongs in a real board's file")
                return nil
            }
            return text
        }
        if text.hasPrefix("sim:") {
            reader.report("device", given: .string(text),
                          "a real board needs a real device such as \"/dev/ttyS1\"; \"sim:\" devices exist only on the simulated board (simulated = true)")
            return nil
        }
        guard text.hasPrefix("/dev/"), text.count > 5 else {
            reader.report("device", given: .string(text), "must be a device under /dev, e.g. \"/dev/ttyS1\" or \"/dev/ttyUSB0\"")
            return nil
        }
        return text
    }

    private func isChipName(_ text: String) -> Bool {
        guard text.hasPrefix("gpiochip") else { return false }
        let number = text.dropFirst("gpiochip".count)
        return !number.isEmpty && number.count <= 3 && number.allSatisfy { $0.isASCII && $0.isNumber }
    }
}

/// Defaults of board-file keys, named once (the reader and the documentation use them).
enum BoardDefaults {
    /// Reed switches bounce for a few ms; 20 ms is well above that and far below the shortest
    /// time between two real tips (a 0.2 mm bucket at 300 mm/h tips every 2.4 s).
    static let debounceMilliseconds: Int64 = 20
}
