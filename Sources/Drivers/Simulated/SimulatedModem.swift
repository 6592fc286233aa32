// A modem twin that answers AT commands like a SIMCom/Quectel module would, scriptable for tests.
import Synchronization

/// Answers AT, ATE0, AT+CMEE, AT+CMGF, AT+CREG/CGREG/CEREG (read, and =n to report changes as
/// a real module does), AT+CSQ and AT+CMGS (prompt, PDU, Ctrl-Z);
/// for 叫应 also AT+CLIP, AT+CNMI, AT+CMGL/CMGR/CMGD (a SIM that stores replies), ATD/AT+CLCC/ATH
/// (calls picked up or not), and Quectel's AT+QTTS/AT+QTONEDET (speech and keys in a call).
/// Tests and `--board sim` can change the network, make SMS fail, slip unsolicited lines into
/// answers, script any command's exact bytes, and, from any thread, deliver an SMS or ring the box.
///
/// `@unchecked Sendable`: the modem's world is in a Mutex; `speaksInCalls` and
/// `refusesRegistrationReports` are plain settings a test makes before the box opens the port.
public final class SimulatedModem: SimulatedSerialDevice, @unchecked Sendable {
    /// A SIM's message storage.
    public static let storedMessagesMax = 30

    /// What the far end of a call the box makes does.
    public enum CallBehaviour: Equatable, Sendable {
        /// It rings until the box hangs up.
        case noAnswer
        case busy
        /// Picked up at the second AT+CLCC; when the box speaks, `key` is pressed (nil: none).
        case pickUp(key: Character?)
    }

    /// What the outside world does to the modem; shared between the port owner's thread and the
    /// thread that delivers SMS or rings (a scenario, a test).
    struct World {
        var stored: [Int: String] = [:]
        var unsolicited: [UInt8] = []
        var incomingCaller: String?
        var messagesLostSIMFull = 0
        var callBehaviours: [String: CallBehaviour] = [:]
        var outgoing: (number: String, behaviour: CallBehaviour, polls: Int)?
        var callerIDEnabled = false
        var newMessageIndications = false
        var keyDetection = false
        var rejectedCallers: [String] = []
        var dialled: [String] = []
        var spokenInCalls: [String] = []
        var unplugged = false
        var messagesDeleted = 0
        var callsHungUp = 0
        /// The network as the module sees it: <stat> per domain (nil: the module has no such
        /// domain and answers ERROR), and the <n> the box set with AT+CREG=n etc.
        var registrations: [RegistrationDomain: Int] = [.circuit: 1, .packet: 1, .eps: 1]
        var reportModes: [RegistrationDomain: Int] = [:]
        /// Counts cell changes, for the cell id the module reports.
        var cell = 0
    }

    private let world = Mutex(World())
    /// The USB cable is out: set by the tests and `--board sim`; the port is failed separately.
    public var unplugged: Bool {
        get { world.withLock { $0.unplugged } }
        set { world.withLock { $0.unplugged = newValue } }
    }
    /// False: a module without speech (AT+QTTS and AT+QTONEDET answer ERROR).
    public var speaksInCalls = true
    /// True: an old module that cannot report registration changes (AT+CREG=n etc. answer
    /// ERROR); the box then reads it every minute.
    public var refusesRegistrationReports = false

    /// The network delivers an SMS from `sender`: stored on the SIM and announced with +CMTI
    /// (once the box asked for announcements with AT+CNMI). A full SIM loses it, as a real one does.
    public func deliverSMS(from sender: String, text: String) throws(ModemError) {
        try deliverPDU(SMSDeliverEncoder.hex(sender: sender, text: text))
    }

    /// As `deliverSMS`, with the PDU's exact hex.
    public func deliverPDU(_ hex: String) {
        world.withLock { world in
            guard let index = (1...Self.storedMessagesMax).first(where: { world.stored[$0] == nil }) else {
                world.messagesLostSIMFull += 1
                return
            }
            world.stored[index] = hex
            if world.newMessageIndications { world.unsolicited += Array("\r\n+CMTI: \"SM\",\(index)\r\n".utf8) }
        }
    }

    /// Someone calls the box: RING, and their number when caller id is on.
    public func ring(from caller: String) {
        world.withLock { world in
            world.incomingCaller = caller
            world.unsolicited += Array("\r\nRING\r\n".utf8)
            if world.callerIDEnabled { world.unsolicited += Array("\r\n+CLIP: \"\(caller)\",\(caller.hasPrefix("+") ? 145 : 129),,,,0\r\n".utf8) }
        }
    }

    /// How the far end answers when the box calls `number` (default: no answer).
    public func setCallBehaviour(_ behaviour: CallBehaviour, for number: String) {
        world.withLock { $0.callBehaviours[number] = behaviour }
    }

    /// Messages the box deleted from the SIM (AT+CMGD) so far.
    public var messagesDeleted: Int { world.withLock { $0.messagesDeleted } }
    public var storedMessageCount: Int { world.withLock { $0.stored.count } }
    public var messagesLostSIMFull: Int { world.withLock { $0.messagesLostSIMFull } }
    /// Calls to the box it hung up on, all told.
    public var callsHungUp: Int { world.withLock { $0.callsHungUp } }
    /// Callers the box hung up on (their number, in order; the last `commandLogMax`).
    public var rejectedCallers: [String] { world.withLock { $0.rejectedCallers } }
    public var dialled: [String] { world.withLock { $0.dialled } }
    public var spokenInCalls: [String] { world.withLock { $0.spokenInCalls } }
    public var callInProgress: Bool { world.withLock { $0.outgoing != nil || $0.incomingCaller != nil } }

    public func takeUnsolicitedBytes() -> [UInt8] {
        world.withLock { world in
            defer { world.unsolicited.removeAll() }
            return world.unsolicited
        }
    }
    /// Bounds of what the twin keeps.
    public static let commandLogMax = 1024
    public static let receivedPDUsMax = 1024
    public static let inputLineBytesMax = 4096

    /// The +CREG <stat> (circuit: SMS and calls). Settable from any thread (a test, a scenario):
    /// once the box asked for reports (AT+CREG=1 or 2) a change is announced with a +CREG line.
    public var registration: Int {
        get { world.withLock { $0.registrations[.circuit] ?? 0 } }
        set { setRegistration(newValue, domain: .circuit) }
    }
    /// The +CGREG <stat> (GPRS/UMTS packet data attach); nil answers ERROR.
    public var packetRegistration: Int? {
        get { world.withLock { $0.registrations[.packet] } }
        set { setRegistration(newValue, domain: .packet) }
    }
    /// The +CEREG <stat>; nil answers ERROR, as a 2G/3G-only module does.
    public var epsRegistration: Int? {
        get { world.withLock { $0.registrations[.eps] } }
        set { setRegistration(newValue, domain: .eps) }
    }

    /// The <n> the box asked for with AT+CREG=n (0: no reports), per domain.
    public func registrationReportMode(_ domain: RegistrationDomain) -> Int { world.withLock { $0.reportModes[domain] ?? 0 } }

    /// The network changes under the module: with reports on, it says so unasked, as
    /// `+CEREG: 1,"1A2B","01C3D4E5",7` (n = 2, registered) or `+CEREG: 2` (n = 1, or not registered).
    public func setRegistration(_ stat: Int?, domain: RegistrationDomain) {
        world.withLock { world in
            let before = world.registrations[domain]
            world.registrations[domain] = stat
            guard let stat, stat != before, let mode = world.reportModes[domain], mode > 0 else { return }
            world.unsolicited += Array("\r\n\(Self.registrationPrefix(domain)) \(Self.registrationFields(stat: stat, mode: mode, domain: domain, cell: world.cell))\r\n".utf8)
        }
    }

    /// The module moves to another cell of the same network: with n = 2 it reports each
    /// registered domain again, same state, new cell.
    public func changeCell() {
        world.withLock { world in
            world.cell += 1
            for domain in [RegistrationDomain.circuit, .packet, .eps] {
                guard let stat = world.registrations[domain], stat == 1 || stat == 5, world.reportModes[domain] == 2 else { continue }
                world.unsolicited += Array("\r\n\(Self.registrationPrefix(domain)) \(Self.registrationFields(stat: stat, mode: 2, domain: domain, cell: world.cell))\r\n".utf8)
            }
        }
    }

    static func registrationPrefix(_ domain: RegistrationDomain) -> String {
        switch domain {
        case .circuit: "+CREG:"
        case .packet: "+CGREG:"
        case .eps: "+CEREG:"
        }
    }

    /// `<stat>[,"<lac>","<ci>",<AcT>]`: the location only with n = 2 and a cell to be on.
    static func registrationFields(stat: Int, mode: Int, domain: RegistrationDomain, cell: Int) -> String {
        guard mode >= 2, stat == 1 || stat == 5 else { return "\(stat)" }
        let cellHex = String(0x01C3_D4E5 + cell, radix: 16, uppercase: true)
        return "\(stat),\"1A2B\",\"\(String(repeating: "0", count: max(0, 8 - cellHex.count)) + cellHex)\",\(domain == .eps ? 7 : 2)"
    }

    private func respondForRegistration(upper: String) -> [UInt8]? {
        for domain in [RegistrationDomain.circuit, .packet, .eps] {
            let command = "AT" + Self.registrationPrefix(domain).dropLast()
            if upper == command + "?" {
                let (stat, mode, cell) = world.withLock { ($0.registrations[domain], $0.reportModes[domain] ?? 0, $0.cell) }
                guard let stat else { return final([], result: "ERROR") }
                return final(["\(Self.registrationPrefix(domain)) \(mode),\(Self.registrationFields(stat: stat, mode: mode, domain: domain, cell: cell))"])
            }
            if upper.hasPrefix(command + "="), let mode = Int(upper.dropFirst(command.count + 1)), (0...2).contains(mode) {
                guard !refusesRegistrationReports else { return final([], result: "ERROR") }
                let known = world.withLock { world -> Bool in
                    guard world.registrations[domain] != nil else { return false }
                    world.reportModes[domain] = mode
                    return true
                }
                return final([], result: known ? "OK" : "ERROR")
            }
        }
        return nil
    }
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
        case "AT+CSQ": return final(["+CSQ: \(rssi),\(bitErrorRate)"])
        default: break
        }
        if let answer = respondForRegistration(upper: upper) { return answer }
        if let answer = respondForAnswers(command: command, upper: upper) { return answer }
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

    private func respondForAnswers(command: String, upper: String) -> [UInt8]? {
        switch upper {
        case "AT+CLIP=1": world.withLock { $0.callerIDEnabled = true }; return final([])
        case "AT+CLIP=0": world.withLock { $0.callerIDEnabled = false }; return final([])
        case "ATH", "AT+CHUP":
            world.withLock { world in
                if let caller = world.incomingCaller {
                    world.rejectedCallers.append(caller)
                    if world.rejectedCallers.count > Self.commandLogMax { world.rejectedCallers.removeFirst() }
                    world.callsHungUp += 1
                }
                world.incomingCaller = nil
                world.outgoing = nil
            }
            return final([])
        case "AT+CLCC":
            let lines: [String] = world.withLock { world in
                var lines: [String] = []
                if let caller = world.incomingCaller { lines.append("+CLCC: 1,1,4,0,0,\"\(caller)\",\(caller.hasPrefix("+") ? 145 : 129)") }
                if var call = world.outgoing {
                    call.polls += 1
                    world.outgoing = call
                    let state = if case .pickUp = call.behaviour, call.polls >= 2 { 0 } else { 3 }
                    lines.append("+CLCC: 2,0,\(state),0,0,\"\(call.number)\",\(call.number.hasPrefix("+") ? 145 : 129)")
                }
                return lines
            }
            return final(lines)
        case "AT+QTONEDET=1", "AT+QTONEDET=0":
            guard speaksInCalls else { return final([], result: "ERROR") }
            world.withLock { $0.keyDetection = upper.hasSuffix("1") }
            return final([])
        default: break
        }
        if upper.hasPrefix("AT+CNMI=") {
            world.withLock { $0.newMessageIndications = !upper.hasPrefix("AT+CNMI=0") && upper.dropFirst("AT+CNMI=".count).split(separator: ",").dropFirst().first != "0" }
            return final([])
        }
        if upper == "AT+CMGL=4" {
            guard pduMode else { return final([], result: "+CMS ERROR: 302") }
            let stored = world.withLock { $0.stored }
            var lines: [String] = []
            for index in stored.keys.sorted() {
                let hex = stored[index] ?? ""
                lines += ["+CMGL: \(index),1,,\(Self.tpduLength(hex))", hex]
            }
            return final(lines)
        }
        if upper.hasPrefix("AT+CMGR="), let index = Int(upper.dropFirst("AT+CMGR=".count)) {
            guard pduMode else { return final([], result: "+CMS ERROR: 302") }
            guard let hex = world.withLock({ $0.stored[index] }) else { return final([], result: "+CMS ERROR: 321") }
            return final(["+CMGR: 1,,\(Self.tpduLength(hex))", hex])
        }
        if upper.hasPrefix("AT+CMGD="), let index = Int(upper.dropFirst("AT+CMGD=".count).split(separator: ",").first ?? "") {
            world.withLock { world in
                if world.stored.removeValue(forKey: index) != nil { world.messagesDeleted += 1 }
            }
            return final([])
        }
        if upper.hasPrefix("ATD"), upper.hasSuffix(";") {
            let number = String(command.dropFirst(3).dropLast())
            world.withLock { world in
                world.dialled.append(number)
                let behaviour = world.callBehaviours[number] ?? .noAnswer
                // A busy line answers OK to the dial, then BUSY on its own.
                if behaviour == .busy {
                    world.unsolicited += Array("\r\nBUSY\r\n".utf8)
                } else {
                    world.outgoing = (number, behaviour, 0)
                }
            }
            return final([])
        }
        if upper.hasPrefix("AT+QTTS=1,") {
            guard speaksInCalls else { return final([], result: "ERROR") }
            let hex = command.dropFirst("AT+QTTS=1,".count).filter { $0 != "\"" }
            var units: [UInt16] = []
            var index = hex.startIndex
            while let end = hex.index(index, offsetBy: 4, limitedBy: hex.endIndex), index != end {
                if let unit = UInt16(hex[index..<end], radix: 16) { units.append(unit) }
                index = end
            }
            let text = String(decoding: units, as: UTF16.self)
            let spoken: Bool = world.withLock { world in
                guard let call = world.outgoing, case .pickUp(let key) = call.behaviour, call.polls >= 2 else { return false }
                world.spokenInCalls.append(text)
                if world.keyDetection, let key, let code = key.asciiValue {
                    world.unsolicited += Array("\r\n+QTTS: 0\r\n\r\n+QTONEDET: \(code)\r\n".utf8)
                }
                return true
            }
            return spoken ? final([]) : final([], result: "+CME ERROR: 3")
        }
        return nil
    }

    /// AT+CMGL/CMGR's length: the TPDU without the service centre field.
    static func tpduLength(_ hex: String) -> Int {
        let smscLength = Int(hex.prefix(2), radix: 16) ?? 0
        return hex.count / 2 - 1 - smscLength
    }
}
