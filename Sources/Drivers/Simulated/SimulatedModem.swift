// A modem twin that answers AT commands like a SIMCom/Quectel module would, scriptable for tests.

/// Answers AT, ATE0, AT+CMEE, AT+CMGF, AT+CREG?, AT+CEREG?, AT+CSQ and AT+CMGS (prompt, PDU, Ctrl-Z).
/// Tests and `--board sim` can change the network, make SMS fail, slip unsolicited lines into
/// answers, or script any command's exact bytes.
public final class SimulatedModem: SimulatedSerialDevice {
    /// Bounds of what the twin keeps.
    public static let commandLogMax = 1024
    public static let receivedPDUsMax = 1024
    public static let inputLineBytesMax = 4096

    public var registration = 1
    public var registrationMode = 0
    /// The +CEREG <stat>; nil answers ERROR, as a 2G/3G-only module does.
    public var epsRegistration: Int? = 1
    public var rssi = 20
    public var bitErrorRate = 99
    public var echo = true
    /// When set, AT+CMGS answers `+CMS ERROR: <code>` after the PDU.
    public var smsErrorCode: Int?
    /// Lines slipped into the next answer, after its information lines and before OK.
    public var unsolicitedInNextAnswer: [String] = []
    /// Exact raw answers for exact commands (used once each), for scripted conversations.
    public var scriptedAnswers: [String: [UInt8]] = [:]
    /// When true, the modem stays silent (hung firmware).
    public var silent = false

    public private(set) var commands: [String] = []
    public private(set) var receivedPDUs: [String] = []
    private var pduMode = false
    private var line: [UInt8] = []
    private var awaitingPDULength: Int?
    private var nextMessageReference = 1

    public init() {}

    public func receive(_ bytes: [UInt8]) -> [UInt8] {
        guard !silent else { return [] }
        var answer: [UInt8] = []
        for byte in bytes {
            if let expectedLength = awaitingPDULength {
                switch byte {
                case 0x1A:
                    answer += finishPDU(expectedLength: expectedLength)
                    awaitingPDULength = nil
                    line.removeAll()
                case 0x1B:
                    awaitingPDULength = nil
                    line.removeAll()
                    answer += Array("\r\nOK\r\n".utf8)
                default:
                    if line.count < Self.inputLineBytesMax { line.append(byte) }
                }
                continue
            }
            switch byte {
            case 0x0D:
                let command = String(decoding: line, as: UTF8.self)
                line.removeAll()
                if echo { answer += Array((command + "\r").utf8) }
                answer += respond(to: command)
            case 0x0A:
                continue
            default:
                if line.count < Self.inputLineBytesMax { line.append(byte) }
            }
        }
        return answer
    }

    private func log(_ command: String) {
        commands.append(command)
        if commands.count > Self.commandLogMax { commands.removeFirst() }
    }

    private func final(_ information: [String], result: String = "OK") -> [UInt8] {
        var text = ""
        for item in information { text += "\r\n\(item)\r\n" }
        for urc in unsolicitedInNextAnswer { text += "\r\n\(urc)\r\n" }
        unsolicitedInNextAnswer.removeAll()
        text += "\r\n\(result)\r\n"
        return Array(text.utf8)
    }

    private func respond(to command: String) -> [UInt8] {
        guard !command.isEmpty else { return [] }
        log(command)
        if let scripted = scriptedAnswers.removeValue(forKey: command) { return scripted }
        let upper = command.uppercased()
        switch upper {
        case "AT": return final([])
        case "ATE0": echo = false; return final([])
        case "ATE1": echo = true; return final([])
        case "AT+CMEE=0", "AT+CMEE=1", "AT+CMEE=2": return final([])
        case "AT+CMGF=0": pduMode = true; return final([])
        case "AT+CMGF=1": pduMode = false; return final([])
        case "AT+CMGF?": return final(["+CMGF: \(pduMode ? 0 : 1)"])
        case "AT+CREG?": return final(["+CREG: \(registrationMode),\(registration)"])
        case "AT+CEREG?":
            guard let epsRegistration else { return final([], result: "ERROR") }
            return final(["+CEREG: \(registrationMode),\(epsRegistration)"])
        case "AT+CSQ": return final(["+CSQ: \(rssi),\(bitErrorRate)"])
        default: break
        }
        if upper.hasPrefix("AT+CMGS=") {
            guard pduMode, let length = Int(upper.dropFirst("AT+CMGS=".count)), (7...164).contains(length) else {
                return final([], result: "+CMS ERROR: 304")
            }
            awaitingPDULength = length
            return Array("\r\n> ".utf8)
        }
        return final([], result: "ERROR")
    }

    private func finishPDU(expectedLength: Int) -> [UInt8] {
        let hex = String(decoding: line, as: UTF8.self)
        // As a real modem: the hex must be whole octets and the TPDU as long as announced
        // (total minus the SMSC field, whose length is the first octet).
        guard hex.count % 2 == 0, hex.count >= 2, let smscLength = Int(hex.prefix(2), radix: 16),
              hex.allSatisfy({ $0.isHexDigit }), hex.count / 2 - 1 - smscLength == expectedLength else {
            return final([], result: "+CMS ERROR: 304")
        }
        if let code = smsErrorCode { return final([], result: "+CMS ERROR: \(code)") }
        receivedPDUs.append(hex)
        if receivedPDUs.count > Self.receivedPDUsMax { receivedPDUs.removeFirst() }
        let reference = nextMessageReference
        nextMessageReference = nextMessageReference % 255 + 1
        return final(["+CMGS: \(reference)"])
    }
}
