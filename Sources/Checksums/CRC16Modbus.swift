// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): Modbus RTU sends it low byte first,
// SL 651 high byte first, so callers choose the byte order; the sum is the same.

public enum CRC16Modbus {
    /// The table-driven CRC; a table of 256 entries costs 512 bytes and saves 8 shifts a byte.
    static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index)
        for _ in 0..<8 {
            crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1
        }
        return crc
    }

    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt16 where Bytes.Element == UInt8 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc = (crc >> 8) ^ table[Int((crc ^ UInt16(byte)) & 0xFF)]
        }
        return crc
    }
}
