// The seam every serial device driver (Modbus RTU, modem, voice module) is written against, so
// the same driver runs on a real UART, a pseudo-terminal, or an in-memory simulated twin.

/// A byte stream with deadlines. One owner at a time: a transport is not shared between threads
/// (one owner per bus polls its slaves in turn), so implementations need no locking.
public protocol SerialTransport: AnyObject {
    /// Writes every byte, or throws. Waits at most `timeoutMilliseconds` for the line to take them.
    func write(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialError)
    /// Returns as soon as at least one byte is available (up to `maxBytes`), or an empty array
    /// once `timeoutMilliseconds` pass with nothing. Never busy-waits.
    func read(maxBytes: Int, timeoutMilliseconds: Int) throws(SerialError) -> [UInt8]
    /// Drops whatever is waiting in the input buffer (stale bytes before a new request).
    func discardInput() throws(SerialError)
    /// Says which device this is and how it was opened, for logs and error messages.
    var portDescription: String { get }
}

/// What can go wrong with a serial device, in words a technician can act on.
public enum SerialError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case permissionDenied(path: String)
    case busy(path: String)
    case invalidSetting(String)
    /// The device went away mid-use (a USB adapter unplugged).
    case disconnected(path: String)
    case io(path: String, operation: String, detail: String)
    case timedOut(path: String, operation: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            "no serial device \(path): is the adapter plugged in and is this the right board file?"
        case .permissionDenied(let path):
            "permission denied opening \(path): run as root or add the user to the 'dialout' group"
        case .busy(let path):
            "\(path) is in use by another program (a terminal or modem manager?)"
        case .invalidSetting(let detail):
            "invalid serial setting: \(detail)"
        case .disconnected(let path):
            "\(path) disappeared (USB adapter unplugged or cable fault)"
        case .io(let path, let operation, let detail):
            "\(operation) on \(path) failed: \(detail)"
        case .timedOut(let path, let operation):
            "\(operation) on \(path) timed out"
        }
    }
}
