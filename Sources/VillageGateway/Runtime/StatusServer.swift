// Serves the daemon's status as JSON on a Unix socket in the state directory, one client at a time.
import Foundation
import TimeSeam

/// A client connects, writes a line ("status"), and reads one JSON document until the daemon
/// closes. Served on its own thread from the published status, so nothing here waits for the
/// engine. One client at a time with a short timeout: a stuck client cannot pile up threads.
final class StatusServer: Sendable {
    static let socketFileName = "status.sock"
    static let requestBytesMax = 256
    static let replyBytesMax = 1024 * 1024
    static let clientTimeoutMilliseconds = 1_000
    /// Connections waiting while one is served; more are refused by the kernel.
    static let backlogMax: Int32 = 4

    let path: String
    private let descriptor: Int32
    private let published: PublishedStatus

    init(stateDirectory: String, published: PublishedStatus) throws(StateError) {
        path = "\(stateDirectory)/\(Self.socketFileName)"
        self.published = published
        let descriptor = try listeningUnixSocket(path: path, what: "status", mode: nil, backlog: Self.backlogMax)
        self.descriptor = descriptor
    }

    func start() {
        let descriptor = self.descriptor
        let published = self.published
        let thread = Thread {
            var backoff = AcceptBackoff()
            while true {
                // A shortage of descriptors (idle API connections, a leak) is waited out: the
                // status must answer again once they are back.
                guard let client = backoff.accept(descriptor) else { return }
                Self.serve(client: client, published: published)
                close(client)
            }
        }
        thread.name = "status-server"
        thread.start()
    }

    private static func serve(client: Int32, published: PublishedStatus) {
        var timeout = timeval(tv_sec: clientTimeoutMilliseconds / 1_000, tv_usec: Int((clientTimeoutMilliseconds % 1_000) * 1_000))
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: requestBytesMax)
        var received = 0
        while received < requestBytesMax {
            let count = request.withUnsafeMutableBytes { read(client, $0.baseAddress! + received, requestBytesMax - received) }
            if count <= 0 { break }
            received += count
            if request[..<received].contains(UInt8(ascii: "\n")) { break }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard var reply = try? encoder.encode(published.report()) else { return }
        reply.append(UInt8(ascii: "\n"))
        guard reply.count <= replyBytesMax else { return }
        let bytes = [UInt8](reply)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(client, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            sent += count
        }
    }

    func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
        unlink(path)
    }

    /// Asks the daemon with state directory `stateDirectory` for its status (the `status` command).
    static func request(stateDirectory: String) throws(StateError) -> Data {
        let path = "\(stateDirectory)/\(socketFileName)"
        guard access(path, F_OK) == 0 else {
            throw StateError(description: "no village-gateway is running with state directory \(stateDirectory) (no \(socketFileName) there); start it with `village-gateway run`, or give --state-dir")
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0, var address = unixAddress(path) else { throw StateError(description: "cannot create a socket to reach \(path)") }
        defer { close(descriptor) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            throw StateError(description: "cannot reach the daemon at \(path): \(reason) (is it still running? `systemctl status village-gateway`)")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("status\n".utf8)
        _ = request.withUnsafeBytes { send(descriptor, $0.baseAddress!, request.count, Int32(MSG_NOSIGNAL)) }
        var reply = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while reply.count <= replyBytesMax {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 { throw StateError(description: "the daemon did not answer within 5 s: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            reply += buffer[..<count]
        }
        return Data(reply)
    }
}

/// An accept loop's answer to running out of descriptors (EMFILE, ENFILE) or kernel memory
/// (ENOBUFS, ENOMEM): wait and try again, 10 ms doubling to 1 s, rather than end the loop; the
/// shortage passes when the connections holding them close. `accept` and `sleep` are injected
/// by the tests.
struct AcceptBackoff {
    static let waitMillisecondsMin: Int64 = 10
    static let waitMillisecondsMax: Int64 = 1_000

    private(set) var waitMilliseconds: Int64 = 0
    /// Shortages met so far (each one waited out).
    private(set) var shortages = 0
    private let acceptClient: (Int32) -> (descriptor: Int32, error: Int32)
    private let sleep: (Int64) -> Void

    init(
        accept: @escaping (Int32) -> (descriptor: Int32, error: Int32) = { listener in
            let client = Glibc.accept(listener, nil, nil)
            if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
            return (client, client < 0 ? errno : 0)
        },
        // The pause after a descriptor shortage is real time by design: it waits for the kernel.
        sleep: @escaping (Int64) -> Void = { SystemMonotonicClock().sleepBlocking(milliseconds: $0) }
    ) {
        acceptClient = accept
        self.sleep = sleep
    }

    static func isShortage(_ error: Int32) -> Bool {
        error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM
    }

    /// The next client, or nil when the listener is closed or broken (the server is stopping).
    mutating func accept(_ listener: Int32) -> Int32? {
        while true {
            let (client, error) = acceptClient(listener)
            if client >= 0 {
                waitMilliseconds = 0
                return client
            }
            if error == EINTR || error == ECONNABORTED || error == EAGAIN { continue }
            guard Self.isShortage(error) else { return nil }
            shortages += 1
            waitMilliseconds = min(max(waitMilliseconds * 2, Self.waitMillisecondsMin), Self.waitMillisecondsMax)
            sleep(waitMilliseconds)
        }
    }
}

/// A Unix stream socket listening on `path` (the status and the shell sockets). A socket file
/// left by a killed daemon (kill -9 leaves it) is removed first, or bind would fail. `mode`
/// restricts who may connect.
func listeningUnixSocket(path: String, what: String, mode: mode_t?, backlog: Int32) throws(StateError) -> Int32 {
    unlink(path)
    let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { throw StateError(description: "cannot create the \(what) socket: \(String(cString: strerror(errno)))") }
    guard var address = unixAddress(path) else {
        close(descriptor)
        throw StateError(description: "the \(what) socket path \(path) is too long for a Unix socket; use a shorter --state-dir")
    }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, mode.map({ chmod(path, $0) == 0 }) ?? true, listen(descriptor, backlog) == 0 else {
        let reason = String(cString: strerror(errno))
        close(descriptor)
        throw StateError(description: "cannot listen on \(path): \(reason)")
    }
    return descriptor
}

/// A filesystem Unix socket address, or nil when the path does not fit (108 bytes on Linux).
func unixAddress(_ path: String) -> sockaddr_un? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (index, byte) in bytes.enumerated() { buffer[index] = byte }
    }
    return address
}
