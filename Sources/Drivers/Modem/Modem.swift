// The cellular modem as the daemon sees it: registration, signal, and SMS in UCS-2 PDU mode.

/// Network registration (3GPP TS 27.007 +CREG <stat>).
public enum NetworkRegistration: Int, Equatable, Sendable {
    case notRegistered = 0
    case registeredHome = 1
    case searching = 2
    case denied = 3
    case unknown = 4
    case registeredRoaming = 5

    public var isRegistered: Bool { self == .registeredHome || self == .registeredRoaming }
}

/// Signal quality from AT+CSQ.
public struct SignalQuality: Equatable, Sendable {
    /// 0…31, or 99 when unknown.
    public var rssi: Int
    public var bitErrorRate: Int

    /// TS 27.007 §8.5: 0 → −113 dBm or less, 1 → −111, 2…30 → −109…−53 in 2 dB steps,
    /// 31 → −51 dBm or more, 99 → not known.
    public var dBm: Int? {
        switch rssi {
        case 0...31: -113 + 2 * rssi
        default: nil
        }
    }
}

/// The modem driver. One owner; every command has a timeout.
public final class Modem {
    public static let commandTimeoutMilliseconds = 5_000
    /// The prompt after AT+CMGS comes quickly; the answer waits for the network (TS 27.005
    /// gives no bound; modules document up to 60 s or more).
    public static let smsPromptTimeoutMilliseconds = 5_000
    public static let smsAnswerTimeoutMilliseconds = 60_000
    /// A warning text longer than this many parts is a configuration mistake, not a message.
    public static let smsPartsMaxDefault = 10

    public let channel: ATChannel
    public let smsPartsMax: Int
    public let validityPeriodRelative: UInt8?
    private var nextConcatenationReference: UInt8

    public init(
        channel: ATChannel, smsPartsMax: Int = smsPartsMaxDefault,
        validityPeriodRelative: UInt8? = SMSSubmitEncoder.validityPeriod24Hours,
        firstConcatenationReference: UInt8 = 0
    ) {
        self.channel = channel
        self.smsPartsMax = smsPartsMax
        self.validityPeriodRelative = validityPeriodRelative
        nextConcatenationReference = firstConcatenationReference
    }

    /// Brings the modem to a known state: no echo, numeric errors, PDU mode.
    public func configure() throws(ModemError) {
        _ = try channel.send("AT", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        _ = try channel.send("ATE0", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        _ = try channel.send("AT+CMEE=1", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        _ = try channel.send("AT+CMGF=0", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
    }

    public func registration() throws(ModemError) -> NetworkRegistration {
        // The answer is "+CREG: <n>,<stat>[,…]"; the URC is "+CREG: <stat>[,<lac>,<ci>…]" with a
        // quoted second field or none. Only a bare integer second field marks the answer.
        let response = try channel.send(
            "AT+CREG?", expectedPrefix: "+CREG:", timeoutMilliseconds: Self.commandTimeoutMilliseconds,
            solicited: { Self.fields($0, prefix: "+CREG:").count >= 2 && Int(Self.fields($0, prefix: "+CREG:")[1]) != nil })
        guard let line = response.lines.first(where: { $0.hasPrefix("+CREG:") }) else {
            throw .unexpectedAnswer(command: response.command, lines: response.lines)
        }
        let fields = Self.fields(line, prefix: "+CREG:")
        guard fields.count >= 2, let stat = Int(fields[1]), let status = NetworkRegistration(rawValue: stat) else {
            throw .unexpectedAnswer(command: response.command, lines: response.lines)
        }
        return status
    }

    public func signalQuality() throws(ModemError) -> SignalQuality {
        let response = try channel.send("AT+CSQ", expectedPrefix: "+CSQ:", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        guard let line = response.lines.first(where: { $0.hasPrefix("+CSQ:") }) else {
            throw .unexpectedAnswer(command: response.command, lines: response.lines)
        }
        let fields = Self.fields(line, prefix: "+CSQ:")
        guard fields.count == 2, let rssi = Int(fields[0]), let ber = Int(fields[1]),
              (0...31).contains(rssi) || rssi == 99 else {
            throw .unexpectedAnswer(command: response.command, lines: response.lines)
        }
        return SignalQuality(rssi: rssi, bitErrorRate: ber)
    }

    /// Sends `text` (any Unicode; Chinese arrives intact as UCS-2) to `number`, as a concatenated
    /// SMS when longer than 70 UTF-16 units. Returns the network's message reference per part.
    /// If a later part fails the error is thrown; earlier parts are already sent.
    public func sendSMS(to number: String, text: String) throws(ModemError) -> [Int] {
        let reference = nextConcatenationReference
        let parts = try SMSSubmitEncoder.encode(
            destination: number, text: text, validityPeriodRelative: validityPeriodRelative,
            concatenationReference: reference, partsMax: smsPartsMax)
        if parts.count > 1 { nextConcatenationReference &+= 1 }
        _ = try channel.send("AT+CMGF=0", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        var references: [Int] = []
        for part in parts {
            let response = try channel.sendWithPayload(
                "AT+CMGS=\(part.tpduLength)", payload: part.hex, expectedPrefix: "+CMGS:",
                promptTimeoutMilliseconds: Self.smsPromptTimeoutMilliseconds,
                answerTimeoutMilliseconds: Self.smsAnswerTimeoutMilliseconds)
            guard let line = response.lines.first(where: { $0.hasPrefix("+CMGS:") }),
                  let messageReference = Self.fields(line, prefix: "+CMGS:").first.flatMap({ Int($0) }) else {
                throw .unexpectedAnswer(command: response.command, lines: response.lines)
            }
            references.append(messageReference)
        }
        return references
    }

    /// RING, +CMTI: … collected while commands ran.
    public func takeUnsolicitedLines() -> [String] { channel.takeUnsolicitedLines() }

    static func fields(_ line: String, prefix: String) -> [String] {
        line.dropFirst(prefix.count).split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
    }
}
