// How a serial line is framed (baud, data bits, parity, stop bits, flow control, RS-485
// direction control): one value the board file and the command line both fill in.

public struct SerialSettings: Sendable, Equatable, CustomStringConvertible {
    public enum Parity: String, Sendable, CaseIterable {
        case none, even, odd
    }

    public enum FlowControl: String, Sendable, CaseIterable {
        case none
        case rtsCts = "rts-cts"
        case xonXoff = "xon-xoff"
    }

    /// RS-485 direction control done by the kernel driver (`TIOCSRS485`): the UART raises RTS
    /// to drive the transceiver while it sends, and drops it to listen. Only for boards whose
    /// board file says the UART's RTS is wired to the transceiver's DE/RE pins; auto-direction
    /// transceivers and USB-RS485 adapters switch by themselves and need none.
    public struct RS485: Sendable, Equatable {
        /// RTS level while sending: true (high) for the usual DE-active-high transceivers.
        public var rtsHighWhileSending: Bool
        /// Time for the transceiver to turn on before the first bit leaves.
        public var delayBeforeSendMilliseconds: Int
        /// Time to hold the line after the last bit, before turning to listen.
        public var delayAfterSendMilliseconds: Int
        /// Whether we also hear our own frame (full-duplex wiring); normally false.
        public var receiveDuringSend: Bool

        /// The kernel takes the delays in milliseconds and keeps them under 100 ms; longer means a
        /// typo, and would make every Modbus transaction miss its reply window.
        public static let delayMillisecondsMax = 100

        public init(
            rtsHighWhileSending: Bool = true,
            delayBeforeSendMilliseconds: Int = 0,
            delayAfterSendMilliseconds: Int = 0,
            receiveDuringSend: Bool = false
        ) {
            self.rtsHighWhileSending = rtsHighWhileSending
            self.delayBeforeSendMilliseconds = delayBeforeSendMilliseconds
            self.delayAfterSendMilliseconds = delayAfterSendMilliseconds
            self.receiveDuringSend = receiveDuringSend
        }
    }

    public var baudRate: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    public var flowControl: FlowControl
    /// nil: leave direction control alone (the adapter or transceiver does it).
    public var rs485: RS485?

    /// Rates every Linux UART driver takes through termios, so a typo ("96000") is refused
    /// before the port is touched rather than silently rounded by a driver.
    public static let standardBaudRates = [
        300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
    ]
    public static let dataBitsAllowed = 5...8
    public static let stopBitsAllowed = 1...2

    public init(
        baudRate: Int = 9600,
        dataBits: Int = 8,
        parity: Parity = .none,
        stopBits: Int = 1,
        flowControl: FlowControl = .none,
        rs485: RS485? = nil
    ) {
        self.baudRate = baudRate
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
        self.flowControl = flowControl
        self.rs485 = rs485
    }

    /// Throws, in the technician's words, if any field is outside what a UART can do.
    public func validate() throws(SerialError) {
        guard Self.standardBaudRates.contains(baudRate) else {
            let allowed = Self.standardBaudRates.map(String.init).joined(separator: ", ")
            throw .invalidSetting("baud rate \(baudRate) is not supported: use one of \(allowed)")
        }
        guard Self.dataBitsAllowed.contains(dataBits) else {
            throw .invalidSetting("data bits \(dataBits): use 5, 6, 7 or 8 (Modbus RTU uses 8)")
        }
        guard Self.stopBitsAllowed.contains(stopBits) else {
            throw .invalidSetting("stop bits \(stopBits): use 1 or 2")
        }
        if let rs485 {
            let delays = [rs485.delayBeforeSendMilliseconds, rs485.delayAfterSendMilliseconds]
            guard delays.allSatisfy({ (0...RS485.delayMillisecondsMax).contains($0) }) else {
                throw .invalidSetting(
                    "RS-485 delays \(delays) ms: each must be 0...\(RS485.delayMillisecondsMax) ms")
            }
        }
    }

    /// Bits on the wire per character: start bit, data, parity, stop. Modbus timing (the
    /// 3.5-character silence) and line-rate figures are counted in these.
    public var bitsPerCharacter: Int {
        1 + dataBits + (parity == .none ? 0 : 1) + stopBits
    }

    /// "9600 8N1", the way technicians and device manuals write it.
    public var description: String {
        let parityLetter = switch parity {
        case .none: "N"
        case .even: "E"
        case .odd: "O"
        }
        var text = "\(baudRate) \(dataBits)\(parityLetter)\(stopBits)"
        if flowControl != .none { text += " flow \(flowControl.rawValue)" }
        if rs485 != nil { text += " rs485" }
        return text
    }
}
