// The hardware keys of gateway.toml: a sensor's `input` and `modbus`, `[buses.<name>]`, and siren protection.
import Drivers
import WarningLogic

/// What the sensors read so far have claimed, so a second claim on the same thing is caught.
struct SensorWiring {
    /// Rain gauges in file order, with the input they asked for (nil: the next free one) and where.
    var rainGauges: [(id: String, asked: BoardInputFunction?, path: TOMLPath)] = []
    /// `bus/slave/function/register` → the sensor that reads it and the line of its modbus table.
    var modbusReadings: [String: (id: String, path: TOMLPath)] = [:]
}

extension ConfigurationReader {
    static let modbusKeys = ConfigurationSchema.names(in: "sensor.modbus")
    static let busKeys = ConfigurationSchema.names(in: "buses.*")

    /// A sensor's `input` (rain gauges) or `modbus` (the others). Keys of the wrong kind were
    /// already reported by `readSensor`.
    func readSensorWiring(_ reader: TableReader, id: String?, kind: SensorKind, staleAfterMilliseconds: Int64?,
                          wiring: inout SensorWiring, hardware: inout HardwareConfiguration) {
        switch kind {
        case .rainGauge:
            let inputs = [BoardInputFunction.rainGauge, .rainGauge2]
            let asked = reader.choice("input", among: inputs.map(\.rawValue)).flatMap(BoardInputFunction.init(rawValue:))
            if let id, !(reader.has("input") && asked == nil) {
                wiring.rainGauges.append((id, asked, reader.path + [.key(reader.has("input") ? "input" : "id")]))
                assignRainGaugeInputs(wiring.rainGauges, into: &hardware)
            }
        case .waterLevel, .displacement:
            guard let node = reader.entries["modbus"] else { return }
            let path = reader.path + [.key("modbus")]
            guard case .table(let entries) = node else {
                reader.report("modbus", given: node,
                              "must be a table such as { bus = \"rs485\", slave = 3, register = 0, type = \"float32\" }")
                return
            }
            let modbusReader = TableReader(entries: entries, path: path, label: reader.keyLabel("modbus"), problems: problems)
            guard let modbus = readModbus(modbusReader) else { return }
            if let stale = staleAfterMilliseconds, stale <= modbus.pollEveryMilliseconds {
                modbusReader.report("poll_every", given: .string(formatDuration(modbus.pollEveryMilliseconds)),
                                    "must be shorter than the sensor's stale_after (\(formatDuration(stale))), or the sensor is stale between two polls")
            }
            let identity = "\(modbus.bus)/\(modbus.slaveID)/\(modbus.function.functionCode)/\(modbus.register)"
            if let first = wiring.modbusReadings[identity] {
                modbusReader.reportTable("reads the same register as sensor \"\(first.id)\" (line \(problems.locator.line(for: first.path) ?? 0)): "
                    + "bus \(modbus.bus), slave \(modbus.slaveID), register \(modbus.register); is the slave address copied from the other sensor?")
            } else if let id {
                wiring.modbusReadings[identity] = (id, path)
                hardware.modbusSensors[id] = modbus
            }
        }
    }

    /// Gauges that ask for an input get it; the others take the free ones in file order.
    private func assignRainGaugeInputs(_ gauges: [(id: String, asked: BoardInputFunction?, path: TOMLPath)],
                                       into hardware: inout HardwareConfiguration) {
        // Only the newest gauge can make a new conflict; earlier ones were judged already.
        guard let newest = gauges.last else { return }
        let taken = Set(gauges.dropLast().compactMap { hardware.rainGaugeInputs[$0.id] })
        let keyLabel = "[[sensor]] \"\(newest.id)\" input"
        if let asked = newest.asked {
            if taken.contains(asked), let other = gauges.dropLast().first(where: { hardware.rainGaugeInputs[$0.id] == asked }) {
                problems.report(at: newest.path, key: keyLabel, given: tomlQuoted(asked.rawValue),
                                "already the input of rain gauge \"\(other.id)\"; two gauges cannot share one input")
            } else {
                hardware.rainGaugeInputs[newest.id] = asked
            }
            return
        }
        // A third gauge is not wrong in itself (a scenario can feed it in `simulate`); on a board
        // it has no input, and validate(configuration:board:) says so.
        if let input = [BoardInputFunction.rainGauge, .rainGauge2].first(where: { !taken.contains($0) }) {
            hardware.rainGaugeInputs[newest.id] = input
        }
    }

    private func readModbus(_ reader: TableReader) -> ModbusSensorConfiguration? {
        reader.reportUnknownKeys(known: Self.modbusKeys)
        let bus = reader.choice("bus", among: BoardSerialFunction.busNames) ?? Defaults.modbusBus
        var slave: Int?
        if reader.has("slave") {
            slave = reader.integer("slave", in: 1...247, meaning: "the sensor's Modbus address, as set on the sensor")
        } else {
            reader.missing("slave", "the sensor's Modbus address (1 to 247), as set on the sensor, e.g. slave = 3")
        }
        var function = Defaults.modbusFunction
        if let code = reader.integer("function", in: 3...4, meaning: "3 reads holding registers, 4 input registers; the sensor's manual says which") {
            function = code == 4 ? .inputRegisters : .holdingRegisters
        }
        let type = reader.choice("type", among: ModbusValueType.allCases.map(\.rawValue)).flatMap(ModbusValueType.init(rawValue:)) ?? .uint16
        var register: Int?
        if reader.has("register") {
            register = reader.integer("register", in: 0...65_535,
                                      meaning: "the first register's address as sent on the wire, 0-based (a manual's 40001 is 0)")
            if let first = register, first + type.registerCount - 1 > 65_535 {
                reader.report("register", given: .integer(first), "a \(type.rawValue) needs \(type.registerCount) registers; the last would be past 65535")
                register = nil
            }
        } else {
            reader.missing("register", "the address of the register holding the reading, 0-based as on the wire, e.g. register = 0")
        }
        let wordOrder = reader.choice("word_order", among: ModbusWordOrder.allCases.map(\.rawValue)).flatMap(ModbusWordOrder.init(rawValue:))
        if reader.has("word_order"), type.registerCount == 1 {
            reader.report("word_order", given: reader.entries["word_order"],
                          "only for 32-bit types (int32, uint32, float32): a \(type.rawValue) is one register")
        }
        let byteOrder = reader.choice("byte_order", among: ModbusByteOrder.allCases.map(\.rawValue)).flatMap(ModbusByteOrder.init(rawValue:))
        var scale = 1.0
        if let value = reader.number("scale") {
            if value == 0 {
                reader.report("scale", given: reader.entries["scale"], "must not be 0: every reading would be the offset")
            } else {
                scale = value
            }
        }
        let offset = reader.number("offset") ?? 0
        let pollEvery = reader.duration("poll_every", in: ConfigurationLimits.modbusPollEveryMilliseconds,
                                        meaning: "how often the sensor is read") ?? Defaults.modbusPollEveryMilliseconds
        guard let slave, let register else { return nil }
        return ModbusSensorConfiguration(
            bus: bus, slaveID: UInt8(slave), function: function, register: UInt16(register),
            decoding: ModbusDecoding(type: type, wordOrder: wordOrder ?? .big, byteOrder: byteOrder ?? .big, scale: scale, offset: offset),
            pollEveryMilliseconds: pollEvery)
    }

    /// `[buses.<name>]`, plus the defaults for every bus a sensor reads that has no table.
    func readBuses(usedBy sensors: [String: ModbusSensorConfiguration]) -> [String: BusConfiguration] {
        var buses: [String: BusConfiguration] = [:]
        if let busesReader = table("buses", required: nil) {
            for (name, node) in busesReader.entries.sorted(by: { $0.key < $1.key }) {
                let label = "[buses.\(name)]"
                guard BoardSerialFunction.busNames.contains(name) else {
                    var message = "unknown bus \"\(name)\"; buses are named as in the board file: " + quotedList(BoardSerialFunction.busNames)
                    if let suggestion = closestName(to: name, among: BoardSerialFunction.busNames) { message += "; did you mean \"\(suggestion)\"?" }
                    problems.report(at: busesReader.path + [.key(name)], key: label, given: nil, message)
                    continue
                }
                guard case .table(let entries) = node else {
                    busesReader.report(name, given: node, "must be a table written \(label) with its keys below")
                    continue
                }
                let reader = TableReader(entries: entries, path: busesReader.path + [.key(name)], label: label, problems: problems)
                reader.reportUnknownKeys(known: Self.busKeys)
                var bus = Defaults.bus
                if let node = reader.entries["baud"] {
                    if case .integer(let value) = node, SerialSettings.standardBaudRates.contains(value) {
                        bus.baudRate = value
                    } else {
                        reader.report("baud", given: node, "must be the sensors' rate, one of "
                            + SerialSettings.standardBaudRates.map(String.init).joined(separator: ", ") + " (9600 is usual)")
                    }
                }
                if let parity = reader.choice("parity", among: SerialSettings.Parity.allCases.map(\.rawValue)) {
                    bus.parity = SerialSettings.Parity(rawValue: parity) ?? .none
                }
                bus.stopBits = reader.integer("stop_bits", in: SerialSettings.stopBitsAllowed, meaning: "stop bits, as set on the sensors") ?? bus.stopBits
                let timeoutRange = ModbusRTUMaster.Configuration.timeoutMillisecondsAllowed
                bus.timeoutMilliseconds = reader.duration(
                    "timeout", in: Int64(timeoutRange.lowerBound)...Int64(timeoutRange.upperBound),
                    meaning: "how long to wait for a sensor's reply").map(Int.init) ?? bus.timeoutMilliseconds
                bus.retriesMax = reader.integer("retries_max", in: ModbusRTUMaster.Configuration.retriesMaxAllowed,
                                                meaning: "retries after a failed read before it counts as failed") ?? bus.retriesMax
                buses[name] = bus
            }
        }
        for sensor in sensors.values where buses[sensor.bus] == nil {
            buses[sensor.bus] = Defaults.bus
        }
        return buses
    }

    /// `siren_max_on` and `siren_rest` of one `[outputs.<level>]`; nil when the siren is off.
    func readSirenProtection(_ reader: TableReader, siren: SirenPattern, sirenName: String?) -> SirenProtection? {
        let keys = ["siren_max_on", "siren_rest"]
        if case .off = siren {
            if sirenName == "off" {
                for key in keys where reader.has(key) {
                    reader.report(key, given: reader.entries[key], "only when the siren sounds (continuous or intermittent); here siren = \"off\"")
                }
            }
            return nil
        }
        let maxOn = reader.duration("siren_max_on", in: ConfigurationLimits.sirenProtectionMilliseconds,
                                    meaning: "the longest the siren sounds before it rests, to spare the siren and the battery")
            ?? Defaults.sirenMaxOnMilliseconds
        let rest = reader.duration("siren_rest", in: ConfigurationLimits.sirenProtectionMilliseconds,
                                   meaning: "the pause after siren_max_on") ?? Defaults.sirenRestMilliseconds
        if case .intermittent(let on, _) = siren, on > maxOn {
            reader.report("siren_on", given: .string(formatDuration(on)),
                          "is longer than siren_max_on (\(formatDuration(maxOn))): one sound may not outlast the siren's limit")
        }
        return SirenProtection(maxOnMilliseconds: maxOn, restMilliseconds: rest)
    }
}
