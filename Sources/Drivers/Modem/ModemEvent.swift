// What the modem says on its own, as typed events: new SMS, calls ringing with caller id,
// registration changes, keys pressed in a call. One small stream, so any owner (叫应, the link
// watch) can take the kind it needs without parsing AT lines again.

/// Which registration a `+CREG`/`+CGREG`/`+CEREG` line is about.
public enum RegistrationDomain: String, Equatable, Sendable {
    /// Circuit switched (+CREG): SMS and calls.
    case circuit
    /// GPRS/UMTS packet data (+CGREG).
    case packet
    /// LTE (+CEREG).
    case eps
}

public enum ModemEvent: Equatable, Sendable {
    /// A message was stored on the SIM or modem (`+CMTI: "SM",3`): read it with `readMessage`.
    case messageStored(storage: String, index: Int)
    /// A message delivered straight to the port (`+CMT:` and its PDU).
    case messageDelivered(IncomingSMS)
    /// A message whose PDU could not be read (kept for the log).
    case unreadableMessage(String)
    /// The phone rings (`RING`, `+CRING: VOICE`).
    case ring
    /// The caller's number (`+CLIP: "+8613800000001",145,…`); empty when withheld.
    case callerID(number: String)
    case registration(RegistrationDomain, NetworkRegistration)
    /// A DTMF key heard in a call (`+QTONEDET: 49`, `+RXDTMF: 1`, `+DTMF: 1`).
    case key(Character)
    /// A call ended or failed to connect (`NO CARRIER`, `BUSY`, `NO ANSWER`).
    case callEnded(String)
    /// Anything else the modem announced (`RDY`, `+CPIN: READY`, …).
    case other(String)
}

/// Turns unsolicited lines (in the order the channel set them aside) into events. Pure.
public enum ModemEventParser {
    public static func events(from lines: [String]) -> [ModemEvent] {
        var events: [ModemEvent] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            if line.hasPrefix("+CMT:") {
                // The PDU is the next line; the channel keeps the pair together.
                guard index < lines.count else {
                    events.append(.unreadableMessage(line))
                    break
                }
                let pdu = lines[index]
                index += 1
                do {
                    events.append(.messageDelivered(try SMSDeliverDecoder.decode(hex: pdu)))
                } catch {
                    events.append(.unreadableMessage("\(line) \(pdu): \(error)"))
                }
                continue
            }
            events.append(event(line))
        }
        return events
    }

    static func event(_ line: String) -> ModemEvent {
        if line == "RING" || line.hasPrefix("+CRING:") { return .ring }
        if line == "NO CARRIER" || line == "BUSY" || line == "NO ANSWER" { return .callEnded(line) }
        if line.hasPrefix("+CMTI:") {
            let fields = Modem.fields(line, prefix: "+CMTI:")
            if fields.count >= 2, let index = Int(fields[1]) { return .messageStored(storage: unquoted(fields[0]), index: index) }
            return .other(line)
        }
        if line.hasPrefix("+CLIP:") {
            let fields = Modem.fields(line, prefix: "+CLIP:")
            return .callerID(number: unquoted(fields.first ?? ""))
        }
        for (prefix, domain) in [("+CREG:", RegistrationDomain.circuit), ("+CGREG:", .packet), ("+CEREG:", .eps)] where line.hasPrefix(prefix) {
            // The URC is "+CREG: <stat>[,<lac>,<ci>…]": its first field is the state.
            let fields = Modem.fields(line, prefix: prefix)
            if let stat = fields.first.flatMap({ Int($0) }), let status = NetworkRegistration(rawValue: stat) {
                return .registration(domain, status)
            }
            return .other(line)
        }
        if line.hasPrefix("+QTONEDET:") {
            // Quectel gives the key's ASCII code: 48…57 digits, 35 #, 42 *, 65…68 A…D.
            let code = Modem.fields(line, prefix: "+QTONEDET:").first.flatMap { Int($0) }
            if let code, let scalar = Unicode.Scalar(code), "0123456789*#ABCD".unicodeScalars.contains(scalar) {
                return .key(Character(scalar))
            }
            return .other(line)
        }
        for prefix in ["+RXDTMF:", "+DTMF:"] where line.hasPrefix(prefix) {
            let value = unquoted(Modem.fields(line, prefix: prefix).first ?? "")
            if value.count == 1, let key = value.first, "0123456789*#ABCD".contains(key) { return .key(key) }
            return .other(line)
        }
        return .other(line)
    }

    static func unquoted(_ text: String) -> String {
        var text = Substring(text)
        if text.hasPrefix("\"") { text = text.dropFirst() }
        if text.hasSuffix("\"") { text = text.dropLast() }
        return String(text)
    }
}

/// One received SMS, decoded.
public struct IncomingSMS: Equatable, Sendable {
    /// As the network gives it: "+8613800000001" (international), "10086", or the text of an
    /// alphanumeric sender.
    public var sender: String
    public var text: String
    /// Where a concatenated message's part belongs; nil for a single message.
    public var concatenation: SMSConcatenation?

    public init(sender: String, text: String, concatenation: SMSConcatenation? = nil) {
        self.sender = sender
        self.text = text
        self.concatenation = concatenation
    }
}
