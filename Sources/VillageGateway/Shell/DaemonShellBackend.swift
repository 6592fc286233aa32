// The running daemon as the shell sees it: the published status, the engine owner, the outputs,
// the outbox, the log ring, and the seams for the clock and reboot (never touched by tests).
import Dispatch
import Foundation
import Logging
import Synchronization
import TimeSeam
import WarningLogic

/// Sets the box's real clock, or says why not.
protocol BoxClockSetting: Sendable {
    func setClock(to time: Timestamp) -> String?
}

/// Restarts the box, or says why not.
protocol BoxRebooting: Sendable {
    func reboot() -> String?
}

/// The simulated board runs a scenario's clock: there is no real clock to set.
struct RefusingClockSetter: BoxClockSetting {
    var reason: String
    func setClock(to time: Timestamp) -> String? { reason }
}

/// Real boards: `clock_settime(CLOCK_REALTIME)`, only when the board has no RTC (with one, the
/// RTC and NTP keep the time and a hand-set clock would fight them).
struct SystemClockSetter: BoxClockSetting {
    static let rtcDevice = "/dev/rtc0"
    /// Earlier than this is a flat RTC battery's 1970 or a typo, not a time to set.
    static let earliestMilliseconds: Int64 = 1_577_836_800_000  // 2020-01-01T00:00:00Z

    func setClock(to time: Timestamp) -> String? {
        if access(Self.rtcDevice, F_OK) == 0 {
            return "this board has a real-time clock (\(Self.rtcDevice)); it and NTP keep the time (hwclock sets it)"
        }
        guard time.millisecondsSinceUnixEpoch >= Self.earliestMilliseconds else { return "the time must be after 2020-01-01" }
        var spec = timespec(tv_sec: Int(time.millisecondsSinceUnixEpoch / 1_000), tv_nsec: Int(time.millisecondsSinceUnixEpoch % 1_000) * 1_000_000)
        guard clock_settime(CLOCK_REALTIME, &spec) == 0 else { return "the system refused to set the clock: \(String(cString: strerror(errno)))" }
        return nil
    }
}

/// Reboots through systemd, and only when systemd runs us (a service's parent is PID 1 and
/// systemd sets INVOCATION_ID): started by hand or by a test, `reboot` is refused.
struct SystemdRebooter: BoxRebooting {
    static let systemctl = "/bin/systemctl"

    func reboot() -> String? {
        guard getppid() == 1, ProcessInfo.processInfo.environment["INVOCATION_ID"] != nil else {
            return "this village-gateway was not started by systemd; restart the box with its power switch or `systemctl reboot`"
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.systemctl)
        process.arguments = ["reboot"]
        do {
            try process.run()
        } catch {
            return "cannot run \(Self.systemctl) reboot: \(error.localizedDescription)"
        }
        return nil
    }
}

/// Waits on a thread for an async call (sessions run on their own threads, never on the
/// cooperative pool, so blocking one of them holds up nothing else).
func awaitOnThread<T: Sendable>(_ operation: @escaping @Sendable () async -> T) -> T {
    let box = AwaitedResult<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        let value = await operation()
        box.value.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return box.value.withLock { $0! }
}

private final class AwaitedResult<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

final class DaemonShellBackend: ShellBackend {
    let configurationPath: String
    private let published: PublishedStatus
    private let running: Mutex<GatewayConfiguration>
    private let sink: any EventSink
    private let owner: EngineOwner
    private let outputs: any GatewayOutputs
    private let reports: (any ReportSink)?
    private let logRing: LogRing
    private let clock: any GatewayClock
    private let clockSetter: any BoxClockSetting
    private let rebooter: any BoxRebooting
    private let logger: Logger

    init(
        configurationPath: String, configuration: GatewayConfiguration, published: PublishedStatus, sink: any EventSink, owner: EngineOwner,
        outputs: any GatewayOutputs, reports: (any ReportSink)?, logRing: LogRing, clock: any GatewayClock, clockSetter: any BoxClockSetting,
        rebooter: any BoxRebooting, logger: Logger
    ) {
        self.configurationPath = configurationPath
        self.running = Mutex(configuration)
        self.published = published
        self.sink = sink
        self.owner = owner
        self.outputs = outputs
        self.reports = reports
        self.logRing = logRing
        self.clock = clock
        self.clockSetter = clockSetter
        self.rebooter = rebooter
        self.logger = logger
    }

    func status() -> DaemonStatus { published.report() }

    func runningConfiguration() -> GatewayConfiguration { running.withLock { $0 } }

    func shellSettings() -> ShellConfiguration {
        (try? ConfigurationLoader.load(path: configurationPath))?.shell ?? runningConfiguration().shell
    }

    func apply(_ configuration: GatewayConfiguration) -> [String] {
        let old = runningConfiguration()
        let waiting = ConfigurationChange.restartReasons(from: old, to: configuration)
        guard waiting.isEmpty else {
            // All or nothing: half a configuration (new rules over old wiring) is no configuration
            // anyone checked. The shell settings are read per login, so they apply anyway.
            running.withLock { $0.shell = configuration.shell }
            return waiting
        }
        let owner = self.owner
        let engine = configuration.engine
        awaitOnThread { await owner.reconfigure(engine) }
        running.withLock { $0 = configuration }
        return []
    }

    func submit(_ kind: Event.Kind) {
        let sink = self.sink
        let event = Event(time: clock.now(), kind: kind)
        awaitOnThread { await sink.submit(event) }
    }

    func beginTest(_ test: OutputTest) -> String? {
        let outputs = self.outputs
        let time = clock.now()
        return awaitOnThread { await outputs.beginTest(test, at: time) }
    }

    func endTest() {
        let outputs = self.outputs
        awaitOnThread { await outputs.endTest() }
    }

    func audit(_ report: OutboxReport) {
        logger.notice("shell audit: \(report.payload)")
        guard let reports else { return }
        awaitOnThread { await reports.store([report]) }
    }

    func outboxBacklog() -> OutboxBacklog? {
        guard let reports else { return nil }
        return awaitOnThread { await reports.backlog() }
    }

    var outboxDescription: String {
        reports == nil ? "not connected to this daemon (audit records go to the log)" : "cannot be read: see log"
    }

    func logLines(_ count: Int) -> [String] { logRing.last(count) }

    func now() -> Timestamp { clock.now() }

    func setTime(_ time: Timestamp) -> String? { clockSetter.setClock(to: time) }

    func reboot() -> String? { rebooter.reboot() }
}
