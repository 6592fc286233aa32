// Checks across gateway.toml and the board file, and `--bus NAME=DEVICE`: what `run` does before touching hardware.

/// What the configuration asks of the board that the board does not have: a sensor on a bus the
/// board lacks, a lamp colour without a lamp relay, a third rain gauge. Each problem names the
/// configuration's key and the board file; `configurationFile` names gateway.toml in them.
/// Lines are not given: the configuration was read earlier, and the key names the place.
func validate(configuration: GatewayConfiguration, board: BoardDescription,
              configurationFile: String = "gateway.toml") -> [ConfigurationProblem] {
    var problems: [ConfigurationProblem] = []
    func report(_ key: String, given: String?, _ allowed: String) {
        guard problems.count < ConfigurationLimits.problemsMax else { return }
        problems.append(ConfigurationProblem(file: configurationFile, line: nil, key: key, given: given, allowed: allowed))
    }
    let boardName = "board \"\(board.name)\" (\(board.file))"
    let hardware = configuration.hardware

    for sensor in configuration.engine.sensors {
        let label = "[[sensor]] \"\(sensor.id)\""
        switch sensor.kind {
        case .rainGauge:
            guard let input = hardware.rainGaugeInputs[sensor.id] else {
                report(label, given: nil, "no rain-gauge input is left for this gauge: a box wires at most "
                    + "\(ConfigurationLimits.rainGaugesMax) (rain_gauge and rain_gauge_2)")
                continue
            }
            if board.inputs[input] == nil {
                let wired = [BoardInputFunction.rainGauge, .rainGauge2].filter { board.inputs[$0] != nil }.map(\.rawValue)
                report(label + " input", given: tomlQuoted(input.rawValue),
                       "\(boardName) has no [inputs.\(input.rawValue)]"
                       + (wired.isEmpty ? "; it wires no rain gauge" : "; its rain-gauge inputs are " + quotedList(wired, conjunction: "and")))
            }
        case .waterLevel, .displacement:
            if let modbus = hardware.modbusSensors[sensor.id] {
                let bus = BoardSerialFunction(rawValue: modbus.bus).flatMap { $0.isBus ? $0 : nil }
                if bus.flatMap({ board.serialPorts[$0] }) == nil {
                    report(label + " modbus bus", given: tomlQuoted(modbus.bus),
                           "\(boardName) has no [serial.\(modbus.bus)]"
                           + (board.busNames.isEmpty ? " and no RS-485 bus at all" : "; its buses are " + quotedList(board.busNames, conjunction: "and")))
                }
            } else if !board.isSimulated {
                report(label, given: nil,
                       "has no modbus table, so on a real board it never gets a reading and turns faulty; add modbus = { slave = …, register = … }")
            }
        }
    }

    var sirenLevels: [String] = []
    for (level, outputs) in configuration.engine.outputs.sorted(by: { $0.key < $1.key }) {
        if let lamp = outputs.lamp, let function = BoardOutputFunction.lamp(lamp.rawValue), board.outputs[function] == nil {
            report("[outputs.\(level.name)] lamp", given: tomlQuoted(lamp.rawValue), "\(boardName) has no [outputs.\(function.rawValue)] relay")
        }
        if case .off = outputs.siren {} else { sirenLevels.append(level.name) }
    }
    if !sirenLevels.isEmpty, board.outputs[.siren] == nil {
        report("[outputs.\(sirenLevels[0])] siren", given: nil,
               "the siren sounds at \(sirenLevels.joined(separator: ", ")) but \(boardName) has no [outputs.siren] relay")
    }
    return problems
}

/// A `--bus NAME=DEVICE` the board cannot take.
struct BusOverrideError: Error, CustomStringConvertible, Equatable {
    var description: String
}

/// Puts the buses named on the command line (`--bus rs485=/dev/ttyUSB0`) on other devices,
/// for a USB-RS485 adapter or a UART the kernel numbered differently. Every override is checked
/// before any is applied, so a typo leaves the board as it was.
func applyBusOverrides(_ overrides: [String], to board: inout BoardDescription) throws(BusOverrideError) {
    var updated = board
    var seen: Set<String> = []
    for override in overrides {
        guard let equals = override.firstIndex(of: "="), equals != override.startIndex, override.index(after: equals) != override.endIndex else {
            throw BusOverrideError(description: "--bus \(override): write NAME=DEVICE, e.g. --bus rs485=/dev/ttyUSB0")
        }
        let name = String(override[..<equals])
        let device = String(override[override.index(after: equals)...])
        guard let function = BoardSerialFunction(rawValue: name), function.isBus else {
            var message = "--bus \(override): \"\(name)\" is not a bus"
            let candidates = board.busNames.isEmpty ? BoardSerialFunction.busNames : board.busNames
            if let suggestion = closestName(to: name, among: candidates) {
                message += "; did you mean \"\(suggestion)\"?"
            } else {
                message += "; the buses of board \"\(board.name)\" are " + quotedList(candidates, conjunction: "and")
            }
            throw BusOverrideError(description: message)
        }
        guard var port = updated.serialPorts[function] else {
            throw BusOverrideError(description: "--bus \(override): board \"\(board.name)\" (\(board.file)) has no [serial.\(name)]"
                + (board.busNames.isEmpty ? "" : "; its buses are " + quotedList(board.busNames, conjunction: "and")))
        }
        guard seen.insert(name).inserted else {
            throw BusOverrideError(description: "--bus \(override): bus \"\(name)\" is given twice; give each bus once")
        }
        // The simulated board takes a real device too: a real bus beside the twins (the soak
        // benchmark's pty, a sensor on a laptop's USB adapter).
        let prefixes = board.isSimulated ? ["sim:", "/dev/"] : ["/dev/"]
        guard let prefix = prefixes.first(where: { device.hasPrefix($0) }), device.count > prefix.count, !device.contains(" "),
            device.count <= BoardLimits.deviceCharactersMax
        else {
            throw BusOverrideError(description: board.isSimulated
                ? "--bus \(override): the simulated board's devices are named \"sim:<name>\", or a real device under /dev"
                : "--bus \(override): the device must be a path under /dev, e.g. /dev/ttyUSB0")
        }
        port.device = device
        updated.serialPorts[function] = port
    }
    // After all moves, no two jobs may be left on one port (a bus moved onto the console, say).
    var users: [String: BoardSerialFunction] = [:]
    for function in updated.serialPorts.keys.sorted() {
        guard let port = updated.serialPorts[function] else { continue }
        if let other = users[port.device], port.sharedWith != other, updated.serialPorts[other]?.sharedWith != function {
            throw BusOverrideError(description: "--bus: \(port.device) would be both the \(other.meaning) and the \(function.meaning); one port can do one job")
        }
        users[port.device] = users[port.device] ?? function
    }
    board = updated
}
