// The cellular modem as the daemon sees it: registration, signal, and SMS in UCS-2 PDU mode.

/// Network registration (3GPP TS 27.007 +CREG / +CEREG <stat>).
public enum NetworkRegistration: Int, Equatable, Sendable {
    case notRegistered = 0
    case registeredHome = 1
    case searching = 2
    case denied = 3
    case unknown = 4
    case registeredRoaming = 5
    /// 6–10 come from LTE modules (+CEREG, and +CREG on E-UTRAN since Release 8).
    case registeredHomeSMSOnly = 6
    case registeredRoamingSMSOnly = 7
    case emergencyBearerOnly = 8
    case registeredHomeCSFBNotPreferred = 9
    case registeredRoamingCSFBNotPreferred = 10

    public var isRegistered: Bool { self == .registeredHome || self == .registeredRoaming }

    /// Registered in a way that carries packet data (a TCP connection to the county can work).
    /// "SMS only" and "emergency only" do not: a push over them would only drain the battery.
    public var carriesData: Bool {
        switch self {
        case .registeredHome, .registeredRoaming, .registeredHomeCSFBNotPreferred, .registeredRoamingCSFBNotPreferred: true
        default: false
        }
    }
}

/// What the modem says about the network: circuit-switched (+CREG), GPRS/UMTS packet data
/// (+CGREG: attached for data) and, when the module has LTE, EPS (+CEREG). `packet` and `eps`
/// are nil for a module that refuses the command (a 2G/3G-only module has no EPS).
public struct ModemNetworkStatus: Equatable, Sendable {
    public var circuit: NetworkRegistration
    public var eps: NetworkRegistration?
    public var packet: NetworkRegistration?

    public init(circuit: NetworkRegistration, eps: NetworkRegistration?, packet: NetworkRegistration? = nil) {
        self.circuit = circuit
        self.eps = eps
        self.packet = packet
    }

    /// Whether a data connection can be expected: LTE (EPS) or GPRS/UMTS (packet) registration
    /// says so (an LTE-only network has no CS domain, so +CREG may say "searching" while data
    /// works); without either, circuit registration is the best sign the module gives.
    public var hasDataNetwork: Bool {
        if let eps, eps.carriesData { return true }
        if let packet, packet.carriesData { return true }
        return circuit.carriesData
    }

    public func registration(_ domain: RegistrationDomain) -> NetworkRegistration? {
        switch domain {
        case .circuit: circuit
        case .packet: packet
        case .eps: eps
        }
    }
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
        try registration(command: "AT+CREG?", prefix: "+CREG:")
    }

    /// EPS (LTE) registration from AT+CEREG?. nil when the module refuses the command (plain
    /// ERROR): a 2G/3G-only module has no EPS, which is not a fault.
    public func epsRegistration() throws(ModemError) -> NetworkRegistration? {
        do {
            return try registration(command: "AT+CEREG?", prefix: "+CEREG:")
        } catch {
            if case .commandRejected = error { return nil }
            throw error
        }
    }

    /// GPRS/UMTS packet-domain registration (the data attach) from AT+CGREG?. nil when the
    /// module refuses the command.
    public func packetRegistration() throws(ModemError) -> NetworkRegistration? {
        do {
            return try registration(command: "AT+CGREG?", prefix: "+CGREG:")
        } catch {
            if case .commandRejected = error { return nil }
            throw error
        }
    }

    /// Every registration, for "is there a network to push over?".
    public func networkStatus() throws(ModemError) -> ModemNetworkStatus {
        ModemNetworkStatus(circuit: try registration(), eps: try epsRegistration(), packet: try packetRegistration())
    }

    /// Asks the module to say on its own when its registration changes (3GPP TS 27.007 §7.2,
    /// §10.1.20, §10.1.22): `+CREG`, `+CGREG`, `+CEREG` with n = 2 (state, area and cell), or
    /// n = 1 (state only) where a module refuses 2. A domain the module lacks (no LTE, no
    /// packet domain) is left out; the returned domains report. The push hears the network
    /// come back the moment the module does, instead of at its next retry.
    @discardableResult
    public func enableRegistrationReports() throws(ModemError) -> [RegistrationDomain] {
        var reporting: [RegistrationDomain] = []
        for (command, domain) in [("AT+CREG", RegistrationDomain.circuit), ("AT+CGREG", .packet), ("AT+CEREG", .eps)] {
            for mode in [2, 1] {
                do {
                    _ = try channel.send("\(command)=\(mode)", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
                    reporting.append(domain)
                    break
                } catch {
                    switch error {
                    case .commandRejected, .equipmentFailed: continue
                    default: throw error
                    }
                }
            }
        }
        return reporting
    }

    private func registration(command: String, prefix: String) throws(ModemError) -> NetworkRegistration {
        // The answer is "+CREG: <n>,<stat>[,…]"; the URC is "+CREG: <stat>[,<lac>,<ci>…]" with a
        // quoted second field or none. Only a bare integer second field marks the answer.
        // +CEREG has the same two shapes.
        let response = try channel.send(
            command, expectedPrefix: prefix, timeoutMilliseconds: Self.commandTimeoutMilliseconds,
            solicited: { Self.fields($0, prefix: prefix).count >= 2 && Int(Self.fields($0, prefix: prefix)[1]) != nil })
        guard let line = response.lines.first(where: { $0.hasPrefix(prefix) }) else {
            throw .unexpectedAnswer(command: response.command, lines: response.lines)
        }
        let fields = Self.fields(line, prefix: prefix)
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

    /// The unsolicited lines collected so far, as typed events, oldest first.
    public func takeEvents() -> [ModemEvent] { ModemEventParser.events(from: channel.takeUnsolicitedLines()) }

    /// Waits up to `timeoutMilliseconds` for the modem to say something on its own, then returns
    /// every event collected (possibly none).
    public func listen(timeoutMilliseconds: Int) throws(ModemError) -> [ModemEvent] {
        try channel.listen(timeoutMilliseconds: timeoutMilliseconds)
        return takeEvents()
    }

    // MARK: 叫应: answers by SMS and by call, calls to people

    /// Bounds the messages read from storage in one listing (a SIM holds 20–50).
    public static let storedMessagesMax = 255
    /// A call is dialled at once; the network's answer comes later, by AT+CLCC or URC.
    public static let dialTimeoutMilliseconds = 10_000
    /// Characters spoken in one call (Quectel takes at most 1024 UCS-2 hex digits per AT+QTTS).
    public static let speechCharactersMax = 250

    /// What the box needs to hear answers: caller id on `RING` (AT+CLIP=1) and new messages
    /// announced with their storage index (AT+CNMI=2,1: `+CMTI`), in PDU mode.
    public func enableAnswers() throws(ModemError) {
        _ = try channel.send("AT+CMGF=0", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        _ = try channel.send("AT+CLIP=1", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        _ = try channel.send("AT+CNMI=2,1,0,0,0", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
    }

    /// One stored message: where it is, and what it says (or why it could not be read).
    public struct StoredMessage: Equatable, Sendable {
        public var index: Int
        public var message: Result<IncomingSMS, SMSDeliverDecoder.DecodeError>
    }

    /// Every message in the preferred storage (AT+CMGL=4), e.g. those that arrived while the
    /// box was off; the caller deletes each once it is handled, so the SIM never fills.
    public func storedMessages() throws(ModemError) -> [StoredMessage] {
        let response = try channel.send("AT+CMGL=4", expectedPrefix: "+CMGL:", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        var messages: [StoredMessage] = []
        var index = 0
        while index < response.lines.count, messages.count < Self.storedMessagesMax {
            let line = response.lines[index]
            index += 1
            guard line.hasPrefix("+CMGL:"), let slot = Self.fields(line, prefix: "+CMGL:").first.flatMap({ Int($0) }) else { continue }
            guard index < response.lines.count else { break }
            let pdu = response.lines[index]
            index += 1
            messages.append(StoredMessage(index: slot, message: Result { () throws(SMSDeliverDecoder.DecodeError) in try SMSDeliverDecoder.decode(hex: pdu) }))
        }
        return messages
    }

    /// The message at `index` (AT+CMGR); nil when the slot is empty.
    public func readMessage(index: Int) throws(ModemError) -> Result<IncomingSMS, SMSDeliverDecoder.DecodeError>? {
        guard (0...Self.storedMessagesMax).contains(index) else { throw .invalidSetting("message index \(index) is outside 0…\(Self.storedMessagesMax)") }
        let response: ATResponse
        do {
            response = try channel.send("AT+CMGR=\(index)", expectedPrefix: "+CMGR:", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        } catch {
            // 321: invalid memory index (already deleted, or never there).
            if case .smsFailed(_, 321) = error { return nil }
            throw error
        }
        guard let header = response.lines.firstIndex(where: { $0.hasPrefix("+CMGR:") }), header + 1 < response.lines.count else { return nil }
        let pdu = response.lines[header + 1]
        return Result { () throws(SMSDeliverDecoder.DecodeError) in try SMSDeliverDecoder.decode(hex: pdu) }
    }

    public func deleteMessage(index: Int) throws(ModemError) {
        guard (0...Self.storedMessagesMax).contains(index) else { throw .invalidSetting("message index \(index) is outside 0…\(Self.storedMessagesMax)") }
        _ = try channel.send("AT+CMGD=\(index)", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
    }

    /// Ends every call: rejects a ringing one (the caller pays nothing) or hangs up our own.
    public func hangUp() throws(ModemError) {
        _ = try channel.send("ATH", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
    }

    /// Starts a voice call to `number` (ATD<number>;). Returns once the modem took it; whether
    /// it rings, is picked up or fails shows in `currentCalls()` and `callEnded` events.
    public func dial(_ number: String) throws(ModemError) {
        _ = try SMSSubmitEncoder.encodeAddress(number)  // the same check as for SMS
        _ = try channel.send("ATD\(number);", timeoutMilliseconds: Self.dialTimeoutMilliseconds)
    }

    /// A call as AT+CLCC lists it (3GPP TS 27.007 §7.18).
    public struct Call: Equatable, Sendable {
        public enum State: Int, Equatable, Sendable {
            case active = 0, held = 1, dialing = 2, alerting = 3, incoming = 4, waiting = 5
        }
        public var id: Int
        public var outgoing: Bool
        public var state: State
        public var number: String
    }

    public func currentCalls() throws(ModemError) -> [Call] {
        let response = try channel.send("AT+CLCC", expectedPrefix: "+CLCC:", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
        return response.lines.compactMap { line in
            guard line.hasPrefix("+CLCC:") else { return nil }
            let fields = Self.fields(line, prefix: "+CLCC:")
            guard fields.count >= 5, let id = Int(fields[0]), let direction = Int(fields[1]), let stat = Int(fields[2]),
                  let state = Call.State(rawValue: stat) else { return nil }
            return Call(id: id, outgoing: direction == 0, state: state, number: fields.count > 5 ? ModemEventParser.unquoted(fields[5]) : "")
        }
    }
}

/// What a modem module can do beyond 3GPP TS 27.005/27.007 (SMS, caller id, dialling), named by
/// `[serial.modem] model` in the board file.
public enum ModemModel: String, CaseIterable, Sendable {
    /// Any module: SMS, caller id, calls that count as reached when picked up.
    case generic
    /// Quectel EC20/EC21/EC25/EG25 (and other modules with the same firmware commands): speaks
    /// text in a call (AT+QTTS) and hears keys (AT+QTONEDET), so a key press answers.
    case quectelEC2x = "quectel-ec2x"

    public var speaksInCalls: Bool { self == .quectelEC2x }
}

extension Modem {
    /// Turns on key detection in calls (Quectel AT+QTONEDET=1: keys come as `+QTONEDET: <ASCII>`).
    public func enableKeyDetection(model: ModemModel) throws(ModemError) {
        guard model.speaksInCalls else { throw .invalidSetting("modem model \(model.rawValue) cannot hear keys in a call") }
        _ = try channel.send("AT+QTONEDET=1", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
    }

    /// Speaks `text` into the active call (Quectel AT+QTTS=1 with the text in UCS-2 hex).
    public func speak(_ text: String, model: ModemModel) throws(ModemError) {
        guard model.speaksInCalls else { throw .invalidSetting("modem model \(model.rawValue) cannot speak in a call") }
        let units = Array(text.utf16.prefix(Self.speechCharactersMax))
        let digits = Array("0123456789ABCDEF")
        var hex = ""
        for unit in units {
            for shift in [12, 8, 4, 0] { hex.append(digits[Int((unit >> UInt16(shift)) & 0x0F)]) }
        }
        _ = try channel.send("AT+QTTS=1,\"\(hex)\"", timeoutMilliseconds: Self.commandTimeoutMilliseconds)
    }

    static func fields(_ line: String, prefix: String) -> [String] {
        line.dropFirst(prefix.count).split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
    }
}
