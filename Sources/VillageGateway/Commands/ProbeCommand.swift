// `village-gateway probe modbus`: one Modbus RTU read from the command line, printing the raw
// registers and the decoded values, so a technician can check a sensor before configuring it.
import ArgumentParser
import Drivers
import Foundation
import Glibc

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Talk to one device once, outside the running gateway.",
        subcommands: [ProbeModbusCommand.self]
    )
}

struct ProbeModbusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modbus",
        abstract: "Read registers from one Modbus RTU slave once and print raw and decoded values.",
        discussion: """
            Exit status: 0 read, 3 no reply (timeout), 4 slave exception, 5 unusable reply \
            (bad CRC, truncated, wrong slave or function), 6 serial port error, 64 bad arguments.
            Register addresses are 0-based protocol addresses: "40001" in a manual is --register 0.
            """
    )

    /// Exit statuses a script (or the technician) can tell apart.
    enum Status {
        static let noReply = ExitCode(3)
        static let exception = ExitCode(4)
        static let badReply = ExitCode(5)
        static let portError = ExitCode(6)
    }

    @Option(help: "Serial device: /dev/ttyUSB0, /dev/ttyS1, or a socat/ser2net pty.")
    var port: String

    @Option(help: "Baud rate.")
    var baud: Int = 9600

    @Option(help: "Parity: none, even or odd. (default: none)", transform: { text in
        guard let parity = SerialSettings.Parity(rawValue: text) else {
            throw ValidationError("parity '\(text)': use none, even or odd")
        }
        return parity
    })
    var parity: SerialSettings.Parity = .none

    @Option(name: .customLong("stop-bits"), help: "Stop bits: 1 or 2.")
    var stopBits: Int = 1

    @Option(help: "Slave address, 1-247.")
    var slave: Int

    @Option(help: "Function: 3 (holding registers) or 4 (input registers).")
    var function: Int = 3

    @Option(help: "First register, 0-based.")
    var register: Int

    @Option(help: "Number of registers to read (1-125).")
    var count: Int = 1

    @Option(help: "Decode as int16, uint16, int32, uint32 or float32. (default: uint16)", transform: { text in
        guard let type = ModbusValueType(rawValue: text) else {
            throw ValidationError("type '\(text)': use int16, uint16, int32, uint32 or float32")
        }
        return type
    })
    var type: ModbusValueType = .uint16

    @Option(name: .customLong("word-order"), help: "32-bit values: big (first register is the high word) or little. (default: big)", transform: { text in
        guard let order = ModbusWordOrder(rawValue: text) else { throw ValidationError("word order '\(text)': use big or little") }
        return order
    })
    var wordOrder: ModbusWordOrder = .big

    @Option(name: .customLong("byte-order"), help: "Bytes inside each register: big (Modbus standard) or little. (default: big)", transform: { text in
        guard let order = ModbusByteOrder(rawValue: text) else { throw ValidationError("byte order '\(text)': use big or little") }
        return order
    })
    var byteOrder: ModbusByteOrder = .big

    // .unconditional so a negative value ("--offset -10") is taken as the value, not an option.
    @Option(parsing: .unconditional, help: "Multiply each raw value by this.")
    var scale: Double = 1

    @Option(parsing: .unconditional, help: "Then add this.")
    var offset: Double = 0

    @Option(name: .customLong("timeout-ms"), help: "How long the slave may take to answer, in milliseconds.")
    var timeoutMilliseconds: Int = 1000

    @Option(help: "Extra tries after a timeout or an unusable reply.")
    var retries: Int = 2

    func validate() throws {
        guard ModbusRequest.slaveIDs.contains(where: { Int($0) == slave }) else {
            throw ValidationError("slave \(slave): use 1-247")
        }
        guard function == 3 || function == 4 else { throw ValidationError("function \(function): use 3 or 4") }
        guard (0...0xFFFF).contains(register) else { throw ValidationError("register \(register): use 0-65535") }
        guard (1...ModbusRequest.readRegistersMax).contains(count) else {
            throw ValidationError("count \(count): use 1-\(ModbusRequest.readRegistersMax)")
        }
        guard count % type.registerCount == 0 else {
            throw ValidationError("count \(count) is not a whole number of \(type.rawValue) values (\(type.registerCount) registers each)")
        }
    }

    func run() throws {
        let settings = SerialSettings(baudRate: baud, parity: parity, stopBits: stopBits)
        let readFunction: ModbusReadFunction = function == 3 ? .holdingRegisters : .inputRegisters
        let decoding = ModbusDecoding(type: type, wordOrder: wordOrder, byteOrder: byteOrder, scale: scale, offset: offset)
        let registers: [UInt16]
        let master: ModbusRTUMaster
        do {
            let transport = try SerialPorts.open(path: port, settings: settings)
            master = try ModbusRTUMaster(
                transport: transport, settings: settings,
                configuration: .init(timeoutMilliseconds: timeoutMilliseconds, retriesMax: retries))
            print("port: \(transport.portDescription)")
            print("slave \(slave), function \(Self.hexByte(readFunction.functionCode)) (\(readFunction.rawValue) registers), "
                + "registers \(register)...\(register + count - 1)")
            registers = try master.readRegisters(
                slaveID: UInt8(slave), function: readFunction, address: UInt16(register), count: count)
        } catch let error as SerialError {
            printError("error: \(error)")
            throw Status.portError
        } catch let error as ModbusError {
            printError("error: \(error)")
            switch error {
            case .noReply: throw Status.noReply
            case .exception: throw Status.exception
            case .badReply: throw Status.badReply
            case .transport: throw Status.portError
            case .invalidRequest: throw ExitCode.validationFailure
            }
        }
        print(Self.render(registers: registers, firstRegister: register, decoding: decoding))
    }

    /// The raw registers (decimal and hex) and the decoded values, as printed.
    static func render(registers: [UInt16], firstRegister: Int, decoding: ModbusDecoding) -> String {
        var lines = ["raw registers:"]
        for (index, value) in registers.enumerated() {
            lines.append("  \(firstRegister + index)\t0x\(hexWord(value))\t\(value)")
        }
        lines.append("decoded as \(decoding):")
        let width = decoding.type.registerCount
        do {
            for (index, value) in try decoding.decode(registers).enumerated() {
                let start = firstRegister + index * width
                let span = width == 1 ? "\(start)" : "\(start)-\(start + width - 1)"
                // Ten significant digits: exact for every int32/uint32, and no float noise
                // ("10.010000000000002") for the technician to squint at.
                lines.append("  \(span)\t\(String(format: "%.10g", value))")
            }
        } catch {
            lines.append("  \(error)")
        }
        return lines.joined(separator: "\n")
    }

    private static func hexByte(_ value: UInt8) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return digits.count == 1 ? "0" + digits : digits
    }

    private static func hexWord(_ value: UInt16) -> String {
        hexByte(UInt8(value >> 8)) + hexByte(UInt8(value & 0xFF))
    }
}
