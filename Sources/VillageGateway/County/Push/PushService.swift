// Pushes the outbox to the county when the link returns: HTTP JSON and/or SL 651 over TCP.
//
// Entry point for `run` (one call, wired by the lead):
//
//     let push = try PushService(outbox: outbox, configuration: county, station: engine.station,
//                                clock: SystemClock(), logger: logger,
//                                registration: hardwareOutputs,          // nil on a box without a modem
//                                sl651Frames: SL651ReportMapping.frame)  // county-api's mapping
//     group.addTask { await push.run() }   // returns when the task is cancelled
//
// `run` owns both transports (each its own loop, its own backoff) and never throws: a failure
// is logged, counted, retried with backoff; no report is deleted or skipped. With neither
// `[county.push]` nor `[county.sl651]` configured it returns at once.
//
// Decisions (issue 5, Deliver 3):
// - Link: with a modem, no data registration (+CREG/+CEREG, read by the SMS worker when it has
//   no SMS ready) means no attempt at all; unknown (no modem, stale read) falls through to the
//   transports' own bounded connects. After an HTTP failure a bounded TCP connect must succeed
//   before a batch is sent again.
// - Backoff: full jitter (`PushBackoffPolicy`), per transport; after `attemptsPerRoundMax`
//   failures a long rest; never gives up a report.
// - Window: outside `push_window` only alarm reports go (HTTP: the alarms at the head of the
//   queue; SL 651: the link is opened only for an alarm, and hung up when idle unless the centre
//   answered ESC).
// - HTTP: exactly the sent sequences the county names in `stored` are marked; a name it was not
//   sent is ignored (logged). Gaps are not repeated in pushes (the pull API carries them).
// - SL 651: stop-and-wait, one report frame in flight; serial = outbox sequence folded into
//   1…65535, so it survives restarts without a disk write and a resend repeats its serial.
//   ACK marks delivered and keeps the link; ESC marks and keeps the link at least 10 min even
//   outside the window; EOT marks and closes; ENQ / other serials / garbage are counted.
//   Reports without an SL 651 form are skipped by this transport only (remembered in memory),
//   never marked: the HTTP push and the pull still deliver them, retention still protects them.
// - Both transports configured: a report is delivered once either has it acknowledged; the
//   county may see it twice (once per transport) and deduplicates by sequence / serial.
import AsyncHTTPClient
import Logging
import NIOCore
import Synchronization
import WarningLogic

/// Why the push cannot start, said so the technician can fix gateway.toml or the key file.
struct PushSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String
}

/// Waits between attempts. The daemon sleeps; tests record the wait and go on at once.
protocol PushSleeper: Sendable {
    /// Returns after `milliseconds`, or early when cancelled.
    func sleep(milliseconds: Int64) async
}

struct TaskSleeper: PushSleeper {
    func sleep(milliseconds: Int64) async {
        try? await Task.sleep(nanoseconds: UInt64(max(0, milliseconds)) * 1_000_000)
    }
}

/// The loop's own timings (the transports have theirs).
struct PushTimings: Sendable, Equatable {
    /// With nothing to send, the outbox is looked at again after this.
    var idlePollMilliseconds: Int64 = 10_000
    /// With no network registration, the modem's answer is looked at again after this.
    var noNetworkRecheckMilliseconds: Int64 = 30_000
    /// The bounded connect attempt that tells whether the county is reachable.
    var reachabilityTimeoutMilliseconds: Int64 = 10_000
    var http = HTTPPushTimings.standard
    var sl651 = SL651PushTimings.standard
    static let standard = PushTimings()
}

/// What the push did, for the status page, the log and the tests.
enum PushEvent: Sendable, Equatable {
    case httpDelivered(sent: [Int64], marked: [Int64])
    case httpFailed(String, retryAfterMilliseconds: Int64)
    case sl651ConnectionEnded(SL651ConnectionEnd, retryAfterMilliseconds: Int64)
    case noNetwork(transport: String)
    case unreachable(String, retryAfterMilliseconds: Int64)
}

final class PushService: Sendable {
    let schedule: PushSchedule
    let timings: PushTimings
    let http: HTTPPushTransport?
    let sl651: SL651PushTransport?
    private let httpClient: HTTPClient?
    private let outbox: Outbox
    private let clock: any GatewayClock
    private let logger: Logger
    private let registration: (any NetworkRegistrationProbe)?
    private let sleeper: any PushSleeper
    private let backoffPolicy: PushBackoffPolicy
    private let random: Mutex<PushRandom>
    private let observer: (@Sendable (PushEvent) -> Void)?

    init(
        outbox: Outbox, configuration: CountyConfiguration, station: StationIdentity, clock: any GatewayClock, logger: Logger,
        registration: (any NetworkRegistrationProbe)? = nil, sl651Frames: SL651FrameBuilder? = nil, sl651Commands: SL651CommandSources = .none,
        timings: PushTimings = .standard, backoff: PushBackoffPolicy = .standard, sleeper: any PushSleeper = TaskSleeper(),
        random: PushRandom = PushRandom(), observer: (@Sendable (PushEvent) -> Void)? = nil
    ) throws(PushSetupError) {
        schedule = PushSchedule(window: configuration.pushWindow, utcOffsetMinutes: station.utcOffsetMinutes)
        self.timings = timings
        self.outbox = outbox
        self.clock = clock
        self.logger = logger
        self.registration = registration
        self.sleeper = sleeper
        self.backoffPolicy = backoff
        self.random = Mutex(random)
        self.observer = observer
        // SL 651 first: a refusal there must come before the HTTP client exists (a client
        // released without shutdown is a programming error in AsyncHTTPClient).
        if let sl651Configuration = configuration.sl651Push {
            guard let sl651Frames else {
                throw PushSetupError(description: "[county.sl651] is configured but this build has no SL 651 report mapping")
            }
            do {
                let identity = try SL651StationIdentity(
                    centreAddress: configuration.centreAddress, stationAddress: try SL651StationAddress(digits: station.id),
                    password: configuration.password)
                sl651 = try SL651PushTransport(
                    outbox: outbox, identity: identity, configuration: sl651Configuration, schedule: schedule, frames: sl651Frames,
                    clock: clock, timings: timings.sl651, logger: logger, mapping: configuration.sl651, commandSources: sl651Commands)
            } catch let error as PushLinkError {
                throw PushSetupError(description: "[county.sl651] \(error.description)")
            } catch {
                throw PushSetupError(description: "[county.sl651] \(error)")
            }
        } else {
            sl651 = nil
        }
        if let httpConfiguration = configuration.httpPush {
            let key: SigningKey
            do {
                key = try SigningKey.load(path: httpConfiguration.keyFile)
            } catch {
                throw PushSetupError(description: "[county.push] \(error.description)")
            }
            var clientConfiguration = HTTPClient.Configuration()
            clientConfiguration.timeout = .init(
                connect: .milliseconds(timings.http.connectTimeoutMilliseconds), read: .milliseconds(timings.http.requestTimeoutMilliseconds))
            // A redirect would send the body to a path it was not signed for.
            clientConfiguration.redirectConfiguration = .disallow
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
            do {
                http = try HTTPPushTransport(
                    outbox: outbox, configuration: httpConfiguration, key: key, station: station, clock: clock, client: client,
                    timings: timings.http, logger: logger)
            } catch {
                try? client.syncShutdown()
                throw PushSetupError(description: "[county.push] \(error.description)")
            }
            httpClient = client
        } else {
            http = nil
            httpClient = nil
        }
    }

    deinit {
        // Normally `run` has shut it down already; this covers a service never run.
        try? httpClient?.syncShutdown()
    }

    /// Runs both transports until the calling task is cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let http { group.addTask { await self.runHTTP(http) } }
            if let sl651 { group.addTask { await self.runSL651(sl651) } }
        }
        try? await httpClient?.shutdown()
    }

    private func draw(_ backoff: inout PushBackoff) -> Int64 {
        random.withLock { random in backoff.failed(using: &random) }
    }

    private func networkAbsent(_ transport: String) async -> Bool {
        guard registration?.dataNetworkAvailable() == false else { return false }
        observer?(.noNetwork(transport: transport))
        await sleeper.sleep(milliseconds: timings.noNetworkRecheckMilliseconds)
        return true
    }

    /// With nothing to send now: until the window opens (alarms are looked for every poll).
    private func idleMilliseconds() -> Int64 {
        let untilOpen = schedule.millisecondsUntilOpen(at: clock.now()) ?? timings.idlePollMilliseconds
        return untilOpen > 0 ? min(untilOpen, timings.idlePollMilliseconds) : timings.idlePollMilliseconds
    }

    func runHTTP(_ http: HTTPPushTransport) async {
        var backoff = PushBackoff(policy: backoffPolicy)
        // After a failure the link is suspect: a bounded connect tells whether it is back before
        // a whole batch is sent into it.
        var suspect = false
        while !Task.isCancelled {
            if await networkAbsent("http") { continue }
            if suspect, let unreachable = await TCPReachability.check(http.endpoint, timeoutMilliseconds: timings.reachabilityTimeoutMilliseconds) {
                let delay = draw(&backoff)
                observer?(.unreachable(unreachable.description, retryAfterMilliseconds: delay))
                logger.info("county push: county not reachable", metadata: ["reason": "\(unreachable)", "retry_ms": "\(delay)"])
                await sleeper.sleep(milliseconds: delay)
                continue
            }
            switch await http.pushOnce(allowRoutine: schedule.isOpen(at: clock.now())) {
            case .nothingToSend:
                await sleeper.sleep(milliseconds: idleMilliseconds())
            case .delivered(let sent, let marked) where !marked.isEmpty:
                backoff.succeeded()
                suspect = false
                observer?(.httpDelivered(sent: sent, marked: marked))
                logger.info("county push: delivered", metadata: ["sent": "\(sent.count)", "stored": "\(marked.count)"])
            case .delivered(let sent, _):
                // The county stored none of them: sending the same batch at once would loop.
                let delay = draw(&backoff)
                observer?(.httpFailed("the county stored none of \(sent.count) reports", retryAfterMilliseconds: delay))
                logger.warning("county push: the county stored none of the batch", metadata: ["sent": "\(sent.count)", "retry_ms": "\(delay)"])
                await sleeper.sleep(milliseconds: delay)
            case .failed(let reason):
                suspect = true
                let delay = draw(&backoff)
                observer?(.httpFailed(reason, retryAfterMilliseconds: delay))
                logger.warning("county push failed", metadata: ["reason": "\(reason)", "retry_ms": "\(delay)"])
                await sleeper.sleep(milliseconds: delay)
            }
        }
    }

    func runSL651(_ sl651: SL651PushTransport) async {
        var backoff = PushBackoff(policy: backoffPolicy)
        while !Task.isCancelled {
            if await networkAbsent("sl651") { continue }
            // Outside the window a costly link is only opened for an alarm.
            if !schedule.isOpen(at: clock.now()), (try? sl651.hasPendingAlarm()) != true {
                await sleeper.sleep(milliseconds: idleMilliseconds())
                continue
            }
            let end = await sl651.runConnection()
            if end.delivered > 0 { backoff.succeeded() }
            let delay: Int64
            switch end.reason {
            case .cancelled:
                return
            case .couldNotConnect(let reason), .failed(let reason):
                delay = draw(&backoff)
                logger.warning("county SL 651 link failed", metadata: ["reason": "\(reason)", "delivered": "\(end.delivered)", "retry_ms": "\(delay)"])
            case .closedByCentre, .windowClosed, .resynchronising:
                backoff.succeeded()
                delay = timings.idlePollMilliseconds
                logger.info("county SL 651 link closed", metadata: ["reason": "\(end.reason)", "delivered": "\(end.delivered)"])
            }
            observer?(.sl651ConnectionEnded(end, retryAfterMilliseconds: delay))
            await sleeper.sleep(milliseconds: delay)
        }
    }
}
