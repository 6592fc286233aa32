// Request frames as a Modbus slave expects them, and every way a reply can be wrong.
import Testing
@testable import Drivers

@Suite struct ModbusFramesTests {
    @Test func readHoldingRegistersRequestMatchesTheSpecificationExample() {
        let frame = ModbusRequest.readHoldingRegisters(address: 0, count: 1).frame(slaveID: 1)
        #expect(frame == [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A])
    }

    @Test func writeRequestsCarryAddressCountAndValuesHighByteFirst() {
        #expect(ModbusRequest.writeSingleRegister(address: 0x0102, value: 0xABCD).frame(slaveID: 17)
            == withCRC([17, 0x06, 0x01, 0x02, 0xAB, 0xCD]))
        #expect(ModbusRequest.writeMultipleRegisters(address: 0x0010, values: [0x0001, 0xFFFE]).frame(slaveID: 2)
            == withCRC([2, 0x10, 0x00, 0x10, 0x00, 0x02, 0x04, 0x00, 0x01, 0xFF, 0xFE]))
        #expect(ModbusRequest.readInputRegisters(address: 0x0100, count: 2).frame(slaveID: 5)
            == withCRC([5, 0x04, 0x01, 0x00, 0x00, 0x02]))
    }

    @Test func requestsNoSlaveCouldAnswerAreRefusedBeforeTheyCostABusTransaction() {
        #expect(throws: ModbusError.self) { try ModbusRequest.readHoldingRegisters(address: 0, count: 0).validate(slaveID: 1) }
        #expect(throws: ModbusError.self) { try ModbusRequest.readHoldingRegisters(address: 0, count: 126).validate(slaveID: 1) }
        #expect(throws: ModbusError.self) { try ModbusRequest.readInputRegisters(address: 65535, count: 2).validate(slaveID: 1) }
        #expect(throws: ModbusError.self) { try ModbusRequest.readInputRegisters(address: 0, count: 1).validate(slaveID: 0) }
        #expect(throws: ModbusError.self) { try ModbusRequest.readInputRegisters(address: 0, count: 1).validate(slaveID: 248) }
        #expect(throws: ModbusError.self) {
            try ModbusRequest.writeMultipleRegisters(address: 0, values: Array(repeating: 1, count: 124)).validate(slaveID: 1)
        }
        #expect(throws: Never.self) { try ModbusRequest.readHoldingRegisters(address: 65535, count: 1).validate(slaveID: 247) }
        #expect(throws: Never.self) { try ModbusRequest.readHoldingRegisters(address: 0, count: 125).validate(slaveID: 1) }
    }

    @Test func aGoodReadReplyGivesItsRegisters() {
        let reply = withCRC([1, 0x03, 0x04, 0x12, 0x34, 0xFF, 0xFE])
        let request = ModbusRequest.readHoldingRegisters(address: 0, count: 2)
        #expect(ModbusReplyParser.frameLength(startingWith: reply.prefix(3), for: request) == 9)
        #expect(ModbusReplyParser.parse(reply[...], slaveID: 1, request: request) == .success(.registers([0x1234, 0xFFFE])))
    }

    @Test func writeRepliesMustEchoTheRequest() {
        let single = ModbusRequest.writeSingleRegister(address: 7, value: 300)
        #expect(ModbusReplyParser.parse(single.frame(slaveID: 3)[...], slaveID: 3, request: single)
            == .success(.wroteSingleRegister(address: 7, value: 300)))
        let wrongValue = withCRC([3, 0x06, 0x00, 0x07, 0x01, 0x2D])
        guard case .failure(.fault(.wrongEcho)) = ModbusReplyParser.parse(wrongValue[...], slaveID: 3, request: single) else {
            Issue.record("a write echo with another value must be refused")
            return
        }
        let multiple = ModbusRequest.writeMultipleRegisters(address: 16, values: [1, 2, 3])
        #expect(ModbusReplyParser.parse(withCRC([3, 0x10, 0x00, 0x10, 0x00, 0x03])[...], slaveID: 3, request: multiple)
            == .success(.wroteMultipleRegisters(address: 16, count: 3)))
        #expect(ModbusReplyParser.parse(withCRC([3, 0x10, 0x00, 0x10, 0x00, 0x02])[...], slaveID: 3, request: multiple)
            == .failure(.fault(.wrongEcho(detail: "address 16 count 2, sent 16 count 3"))))
    }

    @Test func everyKindOfBadReplyIsNamed() {
        let request = ModbusRequest.readInputRegisters(address: 0, count: 1)
        func parse(_ bytes: [UInt8]) -> Result<ModbusResponse, ModbusReplyFailure> {
            ModbusReplyParser.parse(bytes[...], slaveID: 9, request: request)
        }
        #expect(parse(withCRC([9, 0x84, 0x02])) == .failure(.exception(.illegalDataAddress)))
        #expect(parse(withCRC([8, 0x04, 0x02, 0x00, 0x01])) == .failure(.fault(.wrongSlave(receivedSlaveID: 8))))
        #expect(parse(withCRC([9, 0x03, 0x02, 0x00, 0x01])) == .failure(.fault(.wrongFunction(receivedFunction: 0x03))))
        #expect(parse(withCRC([9, 0x83, 0x02])) == .failure(.fault(.wrongFunction(receivedFunction: 0x83))))
        #expect(parse(withCRC([9, 0x04, 0x04, 0x00, 0x01, 0x00, 0x02]))
            == .failure(.fault(.wrongByteCount(receivedByteCount: 4, expectedByteCount: 2))))
        #expect(parse([9, 0x04, 0x02, 0x00]) == .failure(.fault(.truncated(receivedBytes: 4, expectedBytes: 7))))
        #expect(parse([9]) == .failure(.fault(.truncated(receivedBytes: 1, expectedBytes: 5))))
        var corrupted = withCRC([9, 0x04, 0x02, 0x00, 0x01])
        corrupted[4] ^= 0x10
        guard case .failure(.fault(.crcMismatch)) = parse(corrupted) else {
            Issue.record("a flipped bit must fail the CRC")
            return
        }
        #expect(parse(withCRC([9, 0x04, 0x02, 0x00, 0x01]) + [0x00]) == .failure(.fault(.tooLong(receivedBytes: 8, expectedBytes: 7))))
    }

    @Test func errorMessagesTellTheTechnicianWhatToCheck() {
        let silent = ModbusError.noReply(slaveID: 3, port: "/dev/ttyUSB0", timeoutMilliseconds: 500, attempts: 3)
        #expect(silent.description == "no reply from slave 3 on /dev/ttyUSB0 within 500 ms (3 tries): check wiring (A/B swapped?), power, slave address and baud")
        let refused = ModbusError.exception(slaveID: 2, port: "/dev/ttyS1", functionCode: 3, code: .illegalDataAddress)
        #expect(refused.description.contains("illegal data address"))
        #expect(ModbusExceptionCode(0x42).description.contains("42"))
    }
}
