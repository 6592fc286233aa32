// The gateway's Modbus master over real ptys: against pymodbus (a slave we did not write), a
// slave that misbehaves on purpose, a dead slave beside a live one, and lines that vanish.
import Foundation
import Glibc
import Testing
@testable import Drivers

/// Serialized: each test runs two or three processes; run side by side on a shared two-core
/// machine they would only slow each other into timeouts.
@Suite(.serialized) struct ModbusOverPtyTests {
    static let settings = SerialSettings(baudRate: 9600)

    func master(on line: SocatLine, timeoutMilliseconds: Int = 1000, retriesMax: Int = 2) throws -> ModbusRTUMaster {
        let port = try SerialPorts.open(path: line.gatewayPath, settings: Self.settings)
        return try ModbusRTUMaster(
            transport: port, settings: Self.settings,
            configuration: .init(timeoutMilliseconds: timeoutMilliseconds, retriesMax: retriesMax))
    }

    @Test func pymodbusRegistersReadAndDecodeAsItsMapSays() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.pymodbus(on: line, slaveIDs: [1])
        let master = try master(on: line)
        #expect(master.transport.portDescription.contains("opened with termios"))
        let holding = try master.readRegisters(slaveID: 1, function: .holdingRegisters, address: 0, count: 8)
        #expect(holding == [1001, 0xFFFE, 0x0001, 0x0002, 0x41AC, 0x0000, 0x0000, 0x41AC])
        #expect(try master.readRegisters(slaveID: 1, function: .inputRegisters, address: 0, count: 1) == [2001])
        #expect(try ModbusDecoding(type: .int16).decode([holding[1]]) == [-2])
        #expect(try ModbusDecoding(type: .uint32).decode(Array(holding[2...3])) == [65538])
        #expect(try ModbusDecoding(type: .float32).decode(Array(holding[4...5])) == [21.5])
        #expect(try ModbusDecoding(type: .float32, wordOrder: .little).decode(Array(holding[6...7])) == [21.5])
        #expect(master.counters[1]?.goodReplies == 2)
        _ = slave
    }

    @Test func writesWithFunctions06And16AreReadBack() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.pymodbus(on: line, slaveIDs: [1])
        let master = try master(on: line)
        try master.writeRegister(slaveID: 1, address: 10, value: 4242)
        try master.writeRegisters(slaveID: 1, address: 20, values: [7, 8, 0xFFFF])
        #expect(try master.readRegisters(slaveID: 1, function: .holdingRegisters, address: 10, count: 1) == [4242])
        #expect(try master.readRegisters(slaveID: 1, function: .holdingRegisters, address: 20, count: 3) == [7, 8, 0xFFFF])
        _ = slave
    }

    @Test func pymodbusRefusesAnAddressOutsideItsMapWithException02() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.pymodbus(on: line, slaveIDs: [1])
        let master = try master(on: line)
        #expect {
            try master.readRegisters(slaveID: 1, function: .holdingRegisters, address: 5000, count: 2)
        } throws: { error in
            guard case ModbusError.exception(1, _, 3, let code) = error else { return false }
            return code == .illegalDataAddress
        }
        _ = slave
    }

    @Test func aDeadSlaveDoesNotStopTheLiveOneOnTheSameBus() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.pymodbus(on: line, slaveIDs: [1])
        // 400 ms: generous for pymodbus on a loaded machine, short enough for five silent tries.
        let master = try master(on: line, timeoutMilliseconds: 400, retriesMax: 2)
        let bus = try ModbusBus(master: master, polls: [
            ModbusPoll(name: "water-level", slaveID: 1, function: .inputRegisters, address: 0, decoding: .init(scale: 0.01)),
            ModbusPoll(name: "crack-meter", slaveID: 2, function: .holdingRegisters, address: 4, decoding: .init(type: .float32)),
        ])
        for _ in 0..<3 {
            let outcomes = try bus.pollOnce()
            #expect(outcomes.count == 2)
            guard case .reading(let reading) = outcomes[0] else {
                Issue.record("slave 1 must answer every round: \(outcomes[0])")
                continue
            }
            #expect(abs(reading.values[0] - 20.01) < 1e-9)
            guard case .failed("crack-meter", 2, .noReply(2, _, 400, _)) = outcomes[1] else {
                Issue.record("slave 2 must be reported silent: \(outcomes[1])")
                continue
            }
        }
        // Three tries in the first round, then one per round: the dead slave's cost is bounded.
        #expect(bus.counters[2]?.requests == 5)
        #expect(bus.counters[2]?.timeouts == 5)
        #expect(bus.counters[1]?.goodReplies == 3)
        #expect(bus.counters[1]?.timeouts == 0)
        _ = slave
    }

    @Test func everyMisbehaviourIsATypedCountedErrorAndTheBusRecovers() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.misbehaving(on: line)
        let master = try master(on: line, timeoutMilliseconds: 500, retriesMax: 1)
        func read(_ slaveID: UInt8) throws(ModbusError) -> [UInt16] {
            try master.readRegisters(slaveID: slaveID, function: .holdingRegisters, address: 100, count: 2)
        }
        func expectRecovery() {
            do {
                #expect(try read(17) == [100, 101])
            } catch {
                Issue.record("a good slave must answer right after a misbehaving one: \(error)")
            }
        }
        func fault(of error: any Error) -> ModbusReplyFault? {
            guard case ModbusError.badReply(_, _, let fault, 2) = error else { return nil }
            return fault
        }

        #expect(throws: ModbusError.exception(
            slaveID: 10, port: master.transport.portDescription, functionCode: 3, code: .illegalDataAddress)) { try read(10) }
        expectRecovery()
        #expect { try read(11) } throws: { error in
            // Seven bytes of noise: whatever the noise says, it must be a named, counted fault.
            fault(of: error) != nil
        }
        expectRecovery()
        #expect { try read(12) } throws: { error in
            fault(of: error) == .truncated(receivedBytes: 4, expectedBytes: 9)
        }
        expectRecovery()
        #expect { try read(13) } throws: { error in fault(of: error) == .wrongSlave(receivedSlaveID: 99) }
        expectRecovery()
        #expect(throws: ModbusError.noReply(
            slaveID: 14, port: master.transport.portDescription, timeoutMilliseconds: 500, attempts: 2)) { try read(14) }
        expectRecovery()
        #expect { try read(15) } throws: { error in fault(of: error) == .wrongFunction(receivedFunction: 4) }
        expectRecovery()
        #expect {
            try read(16)
        } throws: { error in
            guard case .crcMismatch = fault(of: error) else { return false }
            return true
        }
        expectRecovery()

        #expect(master.counters[10]?.exceptions == 1)
        #expect(master.counters[11].map { $0.crcErrors + $0.badFrames } == 2)
        #expect(master.counters[12]?.badFrames == 2)
        #expect(master.counters[13]?.badFrames == 2)
        #expect(master.counters[14]?.timeouts == 2)
        #expect(master.counters[15]?.badFrames == 2)
        #expect(master.counters[16]?.crcErrors == 2)
        #expect(master.counters[17]?.goodReplies == 7)
        _ = slave
    }

    @Test func aNoisyLineIsRiddenOutByTheRetry() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.misbehaving(on: line)
        let master = try master(on: line, timeoutMilliseconds: 500, retriesMax: 1)
        for _ in 0..<3 {
            #expect(try master.readRegisters(slaveID: 18, function: .inputRegisters, address: 7, count: 1) == [7])
        }
        #expect(master.counters[18]?.crcErrors == 3)
        #expect(master.counters[18]?.goodReplies == 3)
        #expect(master.counters[18]?.requests == 6)
        _ = slave
    }

    @Test func aSlaveThatDiesMidReplyIsATruncatedReplyThenSilenceWhileTheBridgeLives() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.misbehaving(on: line)
        let master = try master(on: line, timeoutMilliseconds: 300, retriesMax: 2)
        // Slave 19 sends three bytes of its reply and exits. socat (like a ser2net server whose
        // RS-485 side lost its sensor) keeps our end open, so the line stays up and goes quiet.
        #expect(throws: ModbusError.badReply(
            slaveID: 19, port: master.transport.portDescription, fault: .truncated(receivedBytes: 3, expectedBytes: 7),
            attempts: 3)) {
            try master.readRegisters(slaveID: 19, function: .holdingRegisters, address: 0, count: 1)
        }
        #expect(master.counters[19]?.badFrames == 1)
        #expect(master.counters[19]?.timeouts == 2)
        _ = slave
    }

    @Test func killingTheBridgeMidTransactionEndsItAsDisconnectedNotAsATimeout() throws {
        let line = try SocatLine()
        let slave = try PythonSlave.misbehaving(on: line)
        let master = try master(on: line, timeoutMilliseconds: 10_000, retriesMax: 0)
        // Slave 14 never answers; once it has heard the request, socat is killed under us.
        let killer = Thread {
            try? slave.child.output.waitForLine(containing: "REQUEST 14")
            line.socat.stop()
        }
        killer.start()
        #expect(throws: ModbusError.transport(.disconnected(path: line.gatewayPath))) {
            try master.readRegisters(slaveID: 14, function: .holdingRegisters, address: 0, count: 1)
        }
    }

    @Test func closingThePtyMasterMidTransactionEndsItAsDisconnected() throws {
        let pty = try PseudoTerminalPair()
        let port = try SerialPorts.open(path: pty.slavePath, settings: Self.settings)
        let master = try ModbusRTUMaster(
            transport: port, settings: Self.settings, configuration: .init(timeoutMilliseconds: 10_000, retriesMax: 0))
        let request = ModbusRequest.readInputRegisters(address: 0, count: 1)
        // Hear the request, then hang up instead of answering, as an unplugged adapter would.
        let unplugger = Thread {
            _ = try? pty.receive(count: request.frame(slaveID: 5).count, hangGuardMilliseconds: 10_000)
            pty.closeMaster()
        }
        unplugger.start()
        #expect(throws: ModbusError.transport(.disconnected(path: pty.slavePath))) {
            try master.execute(request, slaveID: 5)
        }
    }
}
