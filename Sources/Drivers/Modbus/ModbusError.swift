// What a Modbus transaction can end in besides a reply, in words a technician standing at the
// box can act on (which slave, which port, how long we waited, how many tries).

public enum ModbusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Silence: nothing at all came back within the timeout, on every try.
    case noReply(slaveID: UInt8, port: String, timeoutMilliseconds: Int, attempts: Int)
    /// The slave answered, and its answer is "no".
    case exception(slaveID: UInt8, port: String, functionCode: UInt8, code: ModbusExceptionCode)
    /// Something came back on every try, but the last of it could not be trusted.
    case badReply(slaveID: UInt8, port: String, fault: ModbusReplyFault, attempts: Int)
    /// The port itself failed (unplugged adapter, socat gone); the bus owner must reopen it.
    case transport(SerialError)
    /// A request no slave could answer (count 0, address past 65535): a configuration mistake.
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .noReply(let slaveID, let port, let timeoutMilliseconds, let attempts):
            "no reply from slave \(slaveID) on \(port) within \(timeoutMilliseconds) ms (\(tries(attempts))): "
                + "check wiring (A/B swapped?), power, slave address and baud"
        case .exception(let slaveID, let port, let functionCode, let code):
            "slave \(slaveID) on \(port) refused function \(hexByte(functionCode)): \(code)"
        case .badReply(let slaveID, let port, let fault, let attempts):
            "unusable reply from slave \(slaveID) on \(port) (\(tries(attempts))): \(fault)"
        case .transport(let error):
            error.description
        case .invalidRequest(let detail):
            "invalid Modbus request: \(detail)"
        }
    }

    private func tries(_ attempts: Int) -> String {
        attempts == 1 ? "1 try" : "\(attempts) tries"
    }
}
