// sd_notify without libsystemd: READY=1, WATCHDOG=1 and STOPPING=1 as datagrams to $NOTIFY_SOCKET.
import Foundation

/// systemd's notification protocol is one datagram per message on a Unix socket whose path is in
/// `$NOTIFY_SOCKET` (a leading `@` names the abstract namespace). Outside systemd the variable is
/// unset and every call does nothing, so the same binary runs by hand, in tests and under systemd.
struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// Half of `$WATCHDOG_USEC`, as systemd recommends; nil when no watchdog is configured for us.
    let watchdogIntervalMilliseconds: Int64?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        var interval: Int64?
        if path != nil, let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 {
            // WATCHDOG_PID names the process the watchdog is for; a child we started must not ping.
            if let pid = environment["WATCHDOG_PID"].flatMap({ Int32($0) }), pid != getpid() {
                interval = nil
            } else {
                interval = max(microseconds / 2_000, 1)
            }
        }
        watchdogIntervalMilliseconds = interval
    }

    /// Sends one message; false when there is no socket or sending failed (systemd then restarts
    /// us for a missing READY or WATCHDOG, which is the right outcome for a box that cannot talk).
    @discardableResult
    func notify(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in pathBytes.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        // Never blocks: the owner's loop sends the watchdog pings, and a receiver that stopped
        // reading (a stalled PID 1, a test that holds the socket) must not stall the engine; a
        // ping dropped is a ping systemd did not get, which its watchdog handles.
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), socketAddress, length) }
            }
        }
        return sent == bytes.count
    }
}
