// Splits the modem's byte stream into lines and the SMS prompt, and classifies result codes.

/// One unit of modem output.
public enum ATLine: Equatable, Sendable {
    case text(String)
    /// The `> ` prompt after AT+CMGS: it has no line ending, so it needs its own detection.
    case prompt
}

/// A final result code: the end of a command's answer.
public enum ATFinalResult: Equatable, Sendable {
    case ok
    case error
    case smsError(code: Int)
    case equipmentError(code: Int?, text: String)
    case otherFailure(String)
}

/// Assembles lines from arbitrary chunks. A pure value: the same bytes give the same lines
/// however they were split by the UART.
public struct ATLineAssembler: Sendable {
    /// Bounds one line; longer input (noise, a wrong device) is cut and counted.
    public static let lineBytesMax = 1024

    private var buffer: [UInt8] = []
    private var discardingOverlongLine = false
    public private(set) var overlongLinesCut = 0

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [ATLine] {
        var lines: [ATLine] = []
        for byte in bytes {
            switch byte {
            case 0x0D, 0x0A:
                if !buffer.isEmpty {
                    lines.append(Self.line(buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
                discardingOverlongLine = false
            default:
                if discardingOverlongLine { continue }
                if buffer.count >= Self.lineBytesMax {
                    lines.append(Self.line(buffer))
                    buffer.removeAll(keepingCapacity: true)
                    overlongLinesCut += 1
                    discardingOverlongLine = true
                    continue
                }
                buffer.append(byte)
                if buffer == [0x3E, 0x20] {
                    lines.append(.prompt)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        return lines
    }

    private static func line(_ bytes: [UInt8]) -> ATLine {
        if bytes == [0x3E] { return .prompt }
        return .text(String(decoding: bytes, as: UTF8.self))
    }
}

public enum ATClassifier {
    /// Result codes that end a command (3GPP TS 27.007 §4.2 and the SMS errors of TS 27.005).
    public static func finalResult(_ line: String) -> ATFinalResult? {
        switch line {
        case "OK": return .ok
        case "ERROR": return .error
        case "BUSY", "NO ANSWER", "NO DIALTONE": return .otherFailure(line)
        default: break
        }
        if line.hasPrefix("+CMS ERROR:") {
            let value = line.dropFirst("+CMS ERROR:".count).trimmingSpaces()
            // A modem in verbose mode may give text; keep it as an unknown numeric code.
            return .smsError(code: Int(value) ?? -1)
        }
        if line.hasPrefix("+CME ERROR:") {
            let value = line.dropFirst("+CME ERROR:".count).trimmingSpaces()
            return .equipmentError(code: Int(value), text: value)
        }
        return nil
    }

    /// Lines the modem sends on its own (3GPP TS 27.005/27.007 and common vendor start-up lines).
    static let unsolicitedPrefixes = [
        "RING", "NO CARRIER", "+CMTI:", "+CMT:", "+CDS:", "+CDSI:", "+CBM:", "+CREG:", "+CGREG:",
        "+CEREG:", "+CUSD:", "+CLIP:", "+CRING:", "+CPIN:", "+CFUN:", "+QIND:", "+PACSP",
        "^", "RDY", "SMS Ready", "Call Ready", "PB DONE", "+CTZV:", "+NITZ:", "*PSUTTZ:", "DST:",
        "BUSY", "NO ANSWER", "+QTONEDET:", "+RXDTMF:", "+DTMF:", "+QTTS:",
    ]

    /// URCs that carry a second line (the PDU) which must be set aside with them.
    static let unsolicitedWithPDUPrefixes = ["+CMT:", "+CDS:", "+CBM:"]

    public static func isUnsolicited(_ line: String) -> Bool {
        unsolicitedPrefixes.contains { line.hasPrefix($0) }
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
