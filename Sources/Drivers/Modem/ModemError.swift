// What can go wrong talking to the cellular modem, as typed errors a technician can act on.

public enum ModemError: Error, Equatable, Sendable, CustomStringConvertible {
    case transport(SerialError)
    /// No final result within the command's deadline (modem hung, wrong baud rate, cable off).
    case timedOut(command: String, timeoutMilliseconds: Int)
    /// A bare `ERROR`: the modem refused the command.
    case commandRejected(command: String)
    /// `+CMS ERROR: n`: the SMS layer failed (no SMSC, no network, SIM trouble).
    case smsFailed(command: String, code: Int)
    /// `+CME ERROR: n` (numeric with AT+CMEE=1) or its text (AT+CMEE=2).
    case equipmentFailed(command: String, code: Int?, text: String)
    /// Another failure result code (`NO CARRIER`, `BUSY` …) where a command expected OK.
    case otherFailure(command: String, resultCode: String)
    case unexpectedAnswer(command: String, lines: [String])
    /// The modem kept talking past the bound on one answer (noise on the line, wrong device).
    case answerTooLong(command: String, bytes: Int)
    case invalidPhoneNumber(String)
    case textTooLong(utf16Units: Int, partsMax: Int)
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .transport(let error):
            "modem: \(error)"
        case .timedOut(let command, let timeout):
            "modem did not finish \(command) within \(timeout) ms: check power, cable and baud rate"
        case .commandRejected(let command):
            "modem answered ERROR to \(command)"
        case .smsFailed(let command, let code):
            "modem SMS error \(code) on \(command): \(Self.smsErrorMeaning(code))"
        case .equipmentFailed(let command, let code, let text):
            "modem equipment error on \(command): \(code.map { "\($0) " } ?? "")\(code.map(Self.equipmentErrorMeaning) ?? text)"
        case .otherFailure(let command, let resultCode):
            "modem answered \(resultCode) to \(command)"
        case .unexpectedAnswer(let command, let lines):
            "modem gave an answer to \(command) that could not be read: \(lines.joined(separator: " | "))"
        case .answerTooLong(let command, let bytes):
            "modem answer to \(command) exceeded \(bytes) bytes: is this really the modem's port?"
        case .invalidPhoneNumber(let number):
            "invalid phone number \"\(number)\": use digits with an optional leading + (international format)"
        case .textTooLong(let units, let partsMax):
            "SMS text of \(units) UTF-16 units needs more than \(partsMax) parts"
        case .invalidSetting(let detail):
            "invalid modem setting: \(detail)"
        }
    }

    /// 3GPP TS 27.005 §3.2.5 codes a technician meets in the field.
    static func smsErrorMeaning(_ code: Int) -> String {
        switch code {
        case 304: "invalid PDU mode parameter"
        case 310: "no SIM card inserted"
        case 311: "SIM PIN required"
        case 313: "SIM failure"
        case 314: "SIM busy, try again"
        case 316: "SIM PUK required"
        case 322: "SIM memory full"
        case 330: "SMS centre address unknown: set it with AT+CSCA"
        case 331: "no network service: check antenna and coverage"
        case 332: "network timeout"
        case 500: "unknown error (often no credit or the network refused the message)"
        default: "see 3GPP TS 27.005 or the modem's manual"
        }
    }

    /// 3GPP TS 27.007 §9.2 codes.
    static func equipmentErrorMeaning(_ code: Int) -> String {
        switch code {
        case 3: "operation not allowed"
        case 4: "operation not supported"
        case 10: "no SIM card inserted"
        case 11: "SIM PIN required"
        case 13: "SIM failure"
        case 14: "SIM busy, try again"
        case 30: "no network service: check antenna and coverage"
        case 100: "unknown error"
        default: "see 3GPP TS 27.007 or the modem's manual"
        }
    }
}
