// Serves the technician shell on STATE_DIR/shell.sock and on the board's console UART, one
// thread per session (a session blocks on its terminal, never on the engine's threads).
import Drivers
import Foundation
import Logging
import Synchronization
import TimeSeam

/// Moves bytes between a terminal and a `ShellSession`: waits for input or the session's next
/// wake-up, whichever comes first, and writes what the session answers.
final class ShellServer: Sendable {
    static let socketFileName = "shell.sock"
    /// Sessions open at once over the socket; one more is told the shell is busy.
    static let socketSessionsMax = 4
    static let backlogMax: Int32 = 4
    static let readBytesMax = 256
    /// A terminal that stops reading (a frozen laptop) is dropped rather than blocking a thread.
    static let writeTimeoutMilliseconds = 5_000
    /// The loop wakes at least this often, so a closed socket or a stop is noticed.
    static let pollMillisecondsMax: Int64 = 1_000
    /// A console UART that fails (unplugged USB adapter) is reopened after this pause.
    static let consoleReopenMilliseconds: UInt32 = 5_000

    let socketPath: String
    private let listener: Int32
    private let backend: any ShellBackend
    private let loginGuard: LoginGuard
    private let logger: Logger
    private let socketSessions = Mutex(0)
    /// The open socket sessions' descriptors, so a stopping box can say goodbye to each.
    private let openClients = Mutex(Set<Int32>())
    private let stopping = Atomic(false)

    /// `loginGuard` nil: the wrong-PIN count is kept in the state directory, across restarts.
    init(stateDirectory: String, backend: any ShellBackend, loginGuard: LoginGuard? = nil, logger: Logger) throws(StateError) {
        socketPath = "\(stateDirectory)/\(Self.socketFileName)"
        self.backend = backend
        self.loginGuard = loginGuard ?? LoginGuard(stateDirectory: stateDirectory, nowMilliseconds: monotonicMilliseconds())
        self.logger = logger
        // Only root (the daemon's user) may open it: the PIN still guards it, but a socket is no
        // reason to let every local user try PINs.
        let descriptor = try listeningUnixSocket(path: socketPath, what: "shell", mode: 0o600, backlog: Self.backlogMax)
        listener = descriptor
    }

    func start() {
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "shell-socket"
        thread.start()
    }

    static let goodbye = "\r\nThe box is stopping (its service was stopped or restarted): this shell closes. "
        + "Connect again once it runs.\r\n"

    func stop() {
        stopping.store(true, ordering: .relaxed)
        // Said here, not by the sessions' threads: the process may end before they wake.
        openClients.withLock { clients in
            for client in clients {
                _ = Self.send(client, Array(Self.goodbye.utf8))
                shutdown(client, Int32(SHUT_RDWR))
            }
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(socketPath)
    }

    private func acceptLoop() {
        var backoff = AcceptBackoff()
        var shortagesLogged = 0
        while !stopping.load(ordering: .relaxed) {
            // Out of descriptors: wait and retry (logged once per run of shortages), never give up.
            guard let client = backoff.accept(listener) else { return }
            if backoff.shortages > shortagesLogged {
                logger.error("shell socket: ran out of file descriptors \(backoff.shortages - shortagesLogged) time(s); waited and accepted again")
                shortagesLogged = backoff.shortages
            }
            let admitted = socketSessions.withLock { count in
                guard count < Self.socketSessionsMax else { return false }
                count += 1
                return true
            }
            guard admitted else {
                _ = Self.send(client, Array("The shell is busy: \(Self.socketSessionsMax) sessions are open. Try again later.\r\n".utf8))
                close(client)
                continue
            }
            openClients.withLock { _ = $0.insert(client) }
            let thread = Thread { [self] in
                serveSocket(client)
                openClients.withLock { _ = $0.remove(client) }
                close(client)
                socketSessions.withLock { $0 -= 1 }
            }
            thread.name = "shell-session"
            thread.start()
        }
    }

    private func serveSocket(_ client: Int32) {
        var timeout = timeval(tv_sec: Self.writeTimeoutMilliseconds / 1_000, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let session = ShellSession(port: "socket", backend: backend, loginGuard: loginGuard, nowMilliseconds: monotonicMilliseconds())
        logger.info("shell session opened on the socket")
        defer {
            session.close()
            logger.info("shell session on the socket closed")
        }
        guard Self.send(client, session.start(nowMilliseconds: monotonicMilliseconds())) else { return }
        var buffer = [UInt8](repeating: 0, count: Self.readBytesMax)
        while !session.isClosed, !stopping.load(ordering: .relaxed) {
            let wait = max(min(session.nextWakeMilliseconds - monotonicMilliseconds(), Self.pollMillisecondsMax), 0)
            var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(wait))
            var out: [UInt8] = []
            if ready > 0 {
                let count = buffer.withUnsafeMutableBytes { read(client, $0.baseAddress!, $0.count) }
                if count <= 0 { return }
                out += session.receive(Array(buffer[..<count]), nowMilliseconds: monotonicMilliseconds())
            } else if ready < 0, errno != EINTR {
                return
            }
            out += session.tick(nowMilliseconds: monotonicMilliseconds())
            guard Self.send(client, out) else { return }
        }
    }

    private static func send(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }

    /// The console UART: a session starts at the first key and, after a logout, at the next.
    /// `open` opens the port (again after a failure); runs until the server stops.
    func startConsole(device: String, open: @escaping @Sendable () throws(SerialError) -> any SerialTransport) {
        let thread = Thread { [self] in
            while !stopping.load(ordering: .relaxed) {
                do {
                    let transport = try open()
                    logger.notice("technician shell on the console \(device)")
                    try serveConsole(transport, device: device)
                } catch {
                    logger.error("shell console \(device): \(error); trying again in \(Self.consoleReopenMilliseconds / 1_000) s")
                    // Real time by design: it waits for a technician's cable, at any scenario speed.
                    SystemMonotonicClock().sleepBlocking(milliseconds: Int64(Self.consoleReopenMilliseconds))
                }
            }
        }
        thread.name = "shell-console"
        thread.start()
    }

    private func serveConsole(_ transport: any SerialTransport, device: String) throws(SerialError) {
        while !stopping.load(ordering: .relaxed) {
            // Idle line: wait for a key, then greet (the cable may be plugged in hours later).
            let first = try transport.read(maxBytes: Self.readBytesMax, timeoutMilliseconds: Int(Self.pollMillisecondsMax))
            guard !first.isEmpty else { continue }
            let session = ShellSession(port: "console \(device)", backend: backend, loginGuard: loginGuard, nowMilliseconds: monotonicMilliseconds())
            defer { session.close() }
            try transport.write(session.start(nowMilliseconds: monotonicMilliseconds()), timeoutMilliseconds: Self.writeTimeoutMilliseconds)
            while !session.isClosed, !stopping.load(ordering: .relaxed) {
                let wait = max(min(session.nextWakeMilliseconds - monotonicMilliseconds(), Self.pollMillisecondsMax), 0)
                let bytes = try transport.read(maxBytes: Self.readBytesMax, timeoutMilliseconds: Int(wait))
                var out: [UInt8] = []
                if !bytes.isEmpty { out += session.receive(bytes, nowMilliseconds: monotonicMilliseconds()) }
                out += session.tick(nowMilliseconds: monotonicMilliseconds())
                if !out.isEmpty { try transport.write(out, timeoutMilliseconds: Self.writeTimeoutMilliseconds) }
            }
        }
    }
}

extension ShellServer {
    /// `run`'s one call: the socket always, the console UART when the board has a real one and
    /// `[shell] console` is on. A socket that cannot be made is logged; warnings go on.
    static func start(
        stateDirectory: String, configurationPath: String, configuration: GatewayConfiguration, wiring: RuntimeWiring,
        published: PublishedStatus, queue: EventQueue, owner: EngineOwner, outputs: any GatewayOutputs, reports: (any ReportSink)?,
        logRing: LogRing, logger: Logger
    ) -> ShellServer? {
        let simulated = wiring.console == nil
        let backend = DaemonShellBackend(
            configurationPath: configurationPath, configuration: configuration, published: published, sink: queue, owner: owner,
            outputs: outputs, reports: reports, logRing: logRing, clock: wiring.clock,
            clockSetter: simulated ? RefusingClockSetter(reason: "the simulated board runs the scenario's clock; there is no real clock to set")
                : SystemClockSetter(),
            rebooter: SystemdRebooter(), logger: logger)
        let server: ShellServer
        do {
            server = try ShellServer(stateDirectory: stateDirectory, backend: backend, logger: logger)
        } catch {
            logger.error("\(error.description); the shell is not served on the socket, warnings continue")
            return nil
        }
        server.start()
        if let console = wiring.console, configuration.shell.console {
            let settings = SerialSettings(baudRate: console.baudRate)
            server.startConsole(device: console.device) { () throws(SerialError) -> any SerialTransport in
                try SerialPorts.open(path: console.device, settings: settings, logger: logger)
            }
        }
        return server
    }
}
