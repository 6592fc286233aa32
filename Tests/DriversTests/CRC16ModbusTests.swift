// CRC-16/MODBUS against the catalogue check value and a real Modbus frame.
import Checksums
import Testing
@testable import Drivers

@Suite struct CRC16ModbusTests {
    @Test func catalogueCheckValueOf123456789() {
        // The CRC catalogue's check value for CRC-16/MODBUS over ASCII "123456789".
        #expect(CRC16Modbus.checksum(Array("123456789".utf8)) == 0x4B37)
    }

    @Test func readHoldingRegistersRequestFromTheModbusSpecification() {
        // Slave 1, function 03, address 0, count 1: the frame on the wire ends 84 0A (low byte first).
        let crc = CRC16Modbus.checksum([0x01, 0x03, 0x00, 0x00, 0x00, 0x01])
        #expect(UInt8(crc & 0xFF) == 0x84)
        #expect(UInt8(crc >> 8) == 0x0A)
    }
}
