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
        let keys = SchemaTableReader(reader, table: "sensor.modbus")
        // Keys with a default in the schema are never nil below.
        let bus = keys.choice("bus") ?? ""
        if !reader.has("slave") {
            reader.missing("slave", "the sensor's Modbus address (1 to 247), as set on the sensor, e.g. slave = 3")
        }
        let slave = keys.integer("slave")
        let function: ModbusReadFunction = keys.integer("function") == 4 ? .inputRegisters : .holdingRegisters
        let type = keys.choice("type").flatMap(ModbusValueType.init(rawValue:)) ?? .uint16
        var register = keys.integer("register")
        if let first = register, first + type.registerCount - 1 > 65_535 {
            reader.report("register", given: .integer(first), "a \(type.rawValue) needs \(type.registerCount) registers; the last would be past 65535")
            register = nil
        } else if !reader.has("register") {
            reader.missing("register", "the address of the register holding the reading, 0-based as on the wire, e.g. register = 0")
        }
        let wordOrder = keys.choice("word_order").flatMap(ModbusWordOrder.init(rawValue:)) ?? .big
        if reader.has("word_order"), type.registerCount == 1 {
            reader.report("word_order", given: reader.entries["word_order"],
                          "only for 32-bit types (int32, uint32, float32): a \(type.rawValue) is one register")
        }
        let byteOrder = keys.choice("byte_order").flatMap(ModbusByteOrder.init(rawValue:)) ?? .big
        var scale = ConfigurationSchema.defaultNumber("sensor.modbus", "scale")
        if reader.has("scale"), let value = keys.number("scale") {
            if value == 0 {
                reader.report("scale", given: reader.entries["scale"], "must not be 0: every reading would be the offset")
            } else {
                scale = value
            }
        }
        let offset = keys.number("offset") ?? 0
        let pollEvery = keys.duration("poll_every") ?? 0
        guard let slave, let register else { return nil }
        return ModbusSensorConfiguration(
            bus: bus, slaveID: UInt8(slave), function: function, register: UInt16(register),
            decoding: ModbusDecoding(type: type, wordOrder: wordOrder, byteOrder: byteOrder, scale: scale, offset: offset),
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
                let keys = SchemaTableReader(reader, table: "buses.*")
                var bus = BusConfiguration()
                if let node = reader.entries["baud"] {
                    if case .integer(let value) = node, SerialSettings.standardBaudRates.contains(value) {
                        bus.baudRate = value
                    } else {
                        reader.report("baud", given: node, "must be the sensors' rate, one of "
                            + SerialSettings.standardBaudRates.map(String.init).joined(separator: ", ") + " (9600 is usual)")
                    }
                }
                bus.parity = keys.choice("parity").flatMap(SerialSettings.Parity.init(rawValue:)) ?? bus.parity
                bus.stopBits = keys.integer("stop_bits") ?? bus.stopBits
                bus.timeoutMilliseconds = keys.duration("timeout").map(Int.init) ?? bus.timeoutMilliseconds
                bus.retriesMax = keys.integer("retries_max") ?? bus.retriesMax
                buses[name] = bus
            }
        }
        for sensor in sensors.values where buses[sensor.bus] == nil {
            buses[sensor.bus] = BusConfiguration()
        }
        return buses
    }

    /// `siren_max_on` and `siren_rest` of one `[outputs.<level>]`; nil when the siren is off.
    func readSirenProtection(_ keys: SchemaTableReader, siren: SirenPattern, sirenName: String?) -> SirenProtection? {
        let reader = keys.reader
        if case .off = siren {
            if sirenName == "off" {
                for key in ["siren_max_on", "siren_rest"] where reader.has(key) {
                    reader.report(key, given: reader.entries[key], "only when the siren sounds (continuous or intermittent); here siren = \"off\"")
                }
            }
            return nil
        }
        let maxOn = keys.duration("siren_max_on") ?? SirenProtection.maxOnMillisecondsDefault
        let rest = keys.duration("siren_rest") ?? SirenProtection.restMillisecondsDefault
        if case .intermittent(let on, _) = siren, on > maxOn {
            reader.report("siren_on", given: .string(formatDuration(on)),
                          "is longer than siren_max_on (\(formatDuration(maxOn))): one sound may not outlast the siren's limit")
        }
        return SirenProtection(maxOnMilliseconds: maxOn, restMilliseconds: rest)
    }
}
