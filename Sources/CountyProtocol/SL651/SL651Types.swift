// SL 651-2014 HEX/BCD mode: the addresses, codes, times and limits shared by the uplink encoder and the downlink parser.

/// Limits and control characters fixed by SL 651-2014, named once so every buffer can point at them.
package enum SL651 {
    /// The two start bytes of every HEX/BCD frame, uplink and downlink.
    package static let startByte: UInt8 = 0x7E
    /// STX: the body follows (single-packet frames; multi-packet SYN 0x16 frames are not supported).
    package static let startOfText: UInt8 = 0x02
    /// `7E 7E` + address (5) + address (1) + password (2) + function (1) + direction/length (2).
    package static let headerBytes = 13
    /// The header, STX, end character and 2 CRC bytes: everything a frame carries besides its body.
    package static let frameOverheadBytes = headerBytes + 1 + 1 + 2
    /// The length field has 12 bits, so no body is longer than this.
    package static let bodyBytesMax = 4095
    /// The longest frame the standard can express: no buffer of ours needs to hold more than this.
    package static let frameBytesMax = frameOverheadBytes + bodyBytesMax
    /// High nibble of the direction/length field.
    package static let directionUplink: UInt8 = 0x0
    package static let directionDownlink: UInt8 = 0x8
}

/// The 10-digit station id, sent as 5 BCD bytes.
package struct SL651StationAddress: Hashable, Sendable, CustomStringConvertible {
    package let bytes: [UInt8]

    /// `digits` must be exactly 10 decimal digits, as printed on the station's registration ("0011223344").
    package init(digits: String) throws(SL651EncodingError) {
        let characters = Array(digits.utf8)
        guard characters.count == 10, characters.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw .invalidStationAddress(digits)
        }
        var packed: [UInt8] = []
        packed.reserveCapacity(5)
        for pairStart in stride(from: 0, to: 10, by: 2) {
            packed.append((characters[pairStart] - 0x30) << 4 | (characters[pairStart + 1] - 0x30))
        }
        bytes = packed
    }

    /// Reads 5 bytes off the wire; nil when they are not BCD (so they cannot be a station id).
    package init?(wireBytes: ArraySlice<UInt8>) {
        guard wireBytes.count == 5, wireBytes.allSatisfy({ ($0 >> 4) <= 9 && ($0 & 0x0F) <= 9 }) else { return nil }
        bytes = Array(wireBytes)
    }

    package var description: String { bytes.map { String($0 >> 4) + String($0 & 0x0F) }.joined() }
}

/// The function code byte: which kind of message a frame is.
package struct SL651FunctionCode: Hashable, Sendable, CustomStringConvertible {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    /// 2F: link keep-alive; the body is only the serial number and the send time.
    package static let keepAlive = SL651FunctionCode(rawValue: 0x2F)
    package static let testReport = SL651FunctionCode(rawValue: 0x30)
    package static let uniformIntervalReport = SL651FunctionCode(rawValue: 0x31)
    package static let timedReport = SL651FunctionCode(rawValue: 0x32)
    /// 33: sent at once when something happens (an alarm, a threshold crossed), not on a schedule.
    package static let addReport = SL651FunctionCode(rawValue: 0x33)
    package static let hourlyReport = SL651FunctionCode(rawValue: 0x34)
    package static let manualReport = SL651FunctionCode(rawValue: 0x35)
    /// Commands from the centre (mode M4); the station answers with the same code.
    package static let realTimeQuery = SL651FunctionCode(rawValue: 0x37)
    package static let periodQuery = SL651FunctionCode(rawValue: 0x38)
    package static let softwareVersion = SL651FunctionCode(rawValue: 0x45)
    package static let setClock = SL651FunctionCode(rawValue: 0x4A)

    /// The report kinds whose body is serial · send time · F1F1 station · F0F0 observation time ·
    /// elements (the answers to 37H and 38H have that layout too).
    package static let reportCodesWithElementBody: Set<SL651FunctionCode> = [
        .testReport, .timedReport, .addReport, .hourlyReport, .manualReport, .realTimeQuery, .periodQuery,
    ]

    package var description: String {
        let name: String
        switch self {
        case .keepAlive: name = "keep-alive"
        case .testReport: name = "test report"
        case .uniformIntervalReport: name = "uniform-interval report"
        case .timedReport: name = "timed report"
        case .addReport: name = "add (event) report"
        case .hourlyReport: name = "hourly report"
        case .manualReport: name = "manual report"
        case .realTimeQuery: name = "real-time query"
        case .periodQuery: name = "time-range query"
        case .softwareVersion: name = "version query"
        case .setClock: name = "set clock"
        default: name = rawValue >= 0xE0 ? "user-defined" : "function"
        }
        return "\(name) \(SL651.hexByte(rawValue))"
    }
}

/// The uplink end character: whether the centre should expect more packets of the same message.
package enum SL651UplinkEnd: UInt8, Sendable {
    /// ETX: this frame ends the message.
    case endOfText = 0x03
    /// ETB: more packets of this message follow.
    case endOfTransmissionBlock = 0x17
}

/// The downlink end character: what the centre asks the station to do next.
package enum SL651DownlinkEnd: UInt8, Sendable, CustomStringConvertible {
    /// ENQ: the centre asks a question and waits for the answer.
    case enquiry = 0x05
    /// ACK: received, more may follow; the station keeps the link.
    case acknowledge = 0x06
    /// EOT: received, the station may drop the link.
    case endOfTransmission = 0x04
    /// ESC: received, and the station must stay online for 10 minutes (the centre has commands).
    case escapeStayOnline = 0x1B

    package var description: String {
        switch self {
        case .enquiry: "ENQ (question)"
        case .acknowledge: "ACK (received, keep the link)"
        case .endOfTransmission: "EOT (received, link may close)"
        case .escapeStayOnline: "ESC (stay online 10 minutes)"
        }
    }
}

/// The station class sent after `F1 F1` in every report.
package struct SL651StationClass: Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }

    /// 50 'P': rain gauge station.
    package static let rainfall = SL651StationClass(rawValue: 0x50)
    /// 48 'H': river station.
    package static let river = SL651StationClass(rawValue: 0x48)
    /// 4B 'K': reservoir or lake station.
    package static let reservoir = SL651StationClass(rawValue: 0x4B)
}

/// Who the station is to the centre: the first three fields of every uplink header.
package struct SL651StationIdentity: Sendable, Equatable {
    package let centreAddress: UInt8
    package let stationAddress: SL651StationAddress
    /// Sent as 2 bytes, high byte first, exactly as configured at the centre (1000 is `03 E8`).
    package let password: UInt16

    /// The centre address 0 is not allowed: the standard numbers centres 1–255.
    package init(centreAddress: Int, stationAddress: SL651StationAddress, password: UInt16) throws(SL651EncodingError) {
        guard (1...255).contains(centreAddress) else { throw .invalidCentreAddress(centreAddress) }
        self.centreAddress = UInt8(centreAddress)
        self.stationAddress = stationAddress
        self.password = password
    }
}

/// A station-local wall-clock time as SL 651 sends it (two-digit year, so 2000–2099); no time zone on the wire.
package struct SL651LocalTime: Hashable, Sendable, CustomStringConvertible {
    package let year: Int
    package let month: Int
    package let day: Int
    package let hour: Int
    package let minute: Int
    package let second: Int

    package init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int = 0) throws(SL651EncodingError) {
        let text = "\(year)-\(twoDigits(month))-\(twoDigits(day)) \(twoDigits(hour)):\(twoDigits(minute)):\(twoDigits(second))"
        guard (2000...2099).contains(year), (1...12).contains(month),
              (1...daysInMonth(year: year, month: month)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { throw .invalidTime(text) }
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    /// YYMMDDhhmmss, the send time's 6 BCD bytes.
    package var sendTimeBytes: [UInt8] { [year % 100, month, day, hour, minute, second].map(SL651.bcdByte) }
    /// YYMMDDhhmm, the observation time's 5 BCD bytes (observations are whole minutes).
    package var observationTimeBytes: [UInt8] { [year % 100, month, day, hour, minute].map(SL651.bcdByte) }

    /// Reads YYMMDDhhmmss off the wire; nil when a byte is not BCD or the date does not exist.
    package init?(sendTimeWireBytes bytes: ArraySlice<UInt8>) {
        guard bytes.count == 6 else { return nil }
        var fields: [Int] = []
        for byte in bytes {
            guard let value = SL651.bcdValue(byte) else { return nil }
            fields.append(value)
        }
        guard let time = try? SL651LocalTime(year: 2000 + fields[0], month: fields[1], day: fields[2],
                                              hour: fields[3], minute: fields[4], second: fields[5])
        else { return nil }
        self = time
    }

    package var description: String {
        "\(year)-\(twoDigits(month))-\(twoDigits(day)) \(twoDigits(hour)):\(twoDigits(minute)):\(twoDigits(second))"
    }
}

private func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

private func twoDigits(_ value: Int) -> String { value < 10 && value >= 0 ? "0\(value)" : "\(value)" }

extension SL651 {
    /// Packs 0–99 into one BCD byte; callers have already checked the range.
    package static func bcdByte(_ value: Int) -> UInt8 {
        precondition((0...99).contains(value), "BCD byte out of range: \(value)")
        return UInt8(value / 10) << 4 | UInt8(value % 10)
    }

    /// One BCD byte's value, or nil when either nibble is above 9.
    package static func bcdValue(_ byte: UInt8) -> Int? {
        let high = byte >> 4, low = byte & 0x0F
        guard high <= 9, low <= 9 else { return nil }
        return Int(high) * 10 + Int(low)
    }

    package static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    package static func hexString<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        bytes.map(SL651.hexByte).joined(separator: " ")
    }
}
