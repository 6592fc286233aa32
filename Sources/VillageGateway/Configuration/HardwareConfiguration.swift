// The hardware side of gateway.toml: how each sensor is read, how each bus is framed, how the siren is spared.
import Drivers
import WarningLogic

/// What the configuration says about the hardware, beside what the engine needs. Which pin and
/// which port is the board file's business; how to talk over them is the configuration's.
struct HardwareConfiguration: Sendable, Equatable {
    /// How each water-level and displacement sensor is read, by sensor id. A sensor without
    /// one gets readings only from a scenario (`simulate`, `--board sim`).
    var modbusSensors: [String: ModbusSensorConfiguration] = [:]
    /// The board input each rain gauge is wired to, by sensor id.
    var rainGaugeInputs: [String: BoardInputFunction] = [:]
    /// Framing of every RS-485 bus a sensor reads, by bus name (the board's `[serial.<name>]`).
    /// Buses no `[buses.<name>]` table describes are here with the defaults.
    var buses: [String: BusConfiguration] = [:]
    /// How long the siren may sound before it rests, for each level whose siren sounds.
    var sirenProtection: [WarningLevel: SirenProtection] = [:]
}

/// One sensor's Modbus reading: `modbus = { bus = "rs485", slave = 3, register = 0, … }`.
struct ModbusSensorConfiguration: Sendable, Equatable {
    var bus: String
    var slaveID: UInt8
    var function: ModbusReadFunction
    /// The first register's address (0-based, as on the wire; a manual's "40001" is 0).
    var register: UInt16
    var decoding: ModbusDecoding
    var pollEveryMilliseconds: Int64

    /// The reading as the bus polls it; the poll is named after the sensor, so outcomes map back.
    func poll(sensorId: String) -> ModbusPoll {
        ModbusPoll(name: sensorId, slaveID: slaveID, function: function, address: register, valueCount: 1, decoding: decoding)
    }
}

/// `[buses.<name>]`: the serial framing and the patience of one RS-485 bus.
struct BusConfiguration: Sendable, Equatable {
    // The defaults are the schema's (ConfigurationSchema, `buses.*`).
    var baudRate: Int = ConfigurationSchema.defaultInteger("buses.*", "baud")
    var parity = SerialSettings.Parity(rawValue: ConfigurationSchema.defaultText("buses.*", "parity")) ?? .none
    var stopBits: Int = ConfigurationSchema.defaultInteger("buses.*", "stop_bits")
    /// How long to wait for a slave's reply.
    var timeoutMilliseconds = Int(ConfigurationSchema.defaultDuration("buses.*", "timeout"))
    /// Retries after a failed transaction, before the reading counts as failed.
    var retriesMax: Int = ConfigurationSchema.defaultInteger("buses.*", "retries_max")

    /// Modbus RTU is 8 data bits; direction control comes from the board.
    func serialSettings(direction: RS485Direction?) -> SerialSettings {
        var rs485: SerialSettings.RS485?
        if case .kernelRTS(let settings) = direction { rs485 = settings }
        return SerialSettings(baudRate: baudRate, dataBits: 8, parity: parity, stopBits: stopBits, flowControl: .none, rs485: rs485)
    }

    var masterConfiguration: ModbusRTUMaster.Configuration {
        ModbusRTUMaster.Configuration(timeoutMilliseconds: timeoutMilliseconds, retriesMax: retriesMax)
    }
}

/// Spares the siren and the battery: after sounding `maxOnMilliseconds` (continuously, or as an
/// intermittent pattern) it rests `restMilliseconds`, then sounds again while the level holds.
/// Sirens are rated for minutes of duty, not hours, and a village box often runs on a battery.
/// The engine only says "continuous"; the output layer applies this.
struct SirenProtection: Sendable, Equatable {
    var maxOnMilliseconds: Int64
    var restMilliseconds: Int64

    // The schema's defaults (`outputs.*`), for a siren no [outputs] table protects.
    static var maxOnMillisecondsDefault: Int64 { ConfigurationSchema.defaultDuration("outputs.*", "siren_max_on") }
    static var restMillisecondsDefault: Int64 { ConfigurationSchema.defaultDuration("outputs.*", "siren_rest") }
}
