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
import TimeSeam
import WarningLogic

/// Why the push cannot start, said so the technician can fix gateway.toml or the key file.
struct PushSetupError: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String
}

/// The loop's own timings (the transports have theirs).
struct PushTimings: Sendable, Equatable {
    /// With nothing to send, the outbox is looked at again after this: a new alarm waits at most
    /// this long for an idle push (issue 18: alarms within a second). One indexed query a second.
    var idlePollMilliseconds: Int64 = 1_000
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
    /// A link signal ended the wait (`transport`'s backoff is reset).
    case woken(transport: String, by: String)
    /// The link returned after an outage: the outage report was stored as `sequence`.
    case outageReported(sequence: Int64, waiting: Int64)
}

final class PushService: Sendable {
    let schedule: PushSchedule
    let timings: PushTimings
    let http: HTTPPushTransport?
    let sl651: SL651PushTransport?
    private let httpClient: HTTPClient?
    private let outbox: Outbox
    private let writer: any OutboxWriting
    private let clock: any GatewayClock
    private let logger: Logger
    private let registration: (any NetworkRegistrationProbe)?
    /// Where the push's rests are waited: the box's clock (scenario time on `--board sim`); a
    /// test's records the waits and returns at once.
    private let sleeper: any GatewayClock
    private let backoffPolicy: PushBackoffPolicy
    private let random: Mutex<PushRandom>
    private let observer: (@Sendable (PushEvent) -> Void)?
    /// Link signals end a backoff at once; the uplink's state for `status`.
    let signals: LinkSignals
    /// Outages shorter than this are a failed attempt, not worth a report to the county.
    static let outageReportedAfterMilliseconds: Int64 = 60_000
    /// `[county] link_probe_every`.
    let linkProbeEveryMilliseconds: Int64
    /// The probe's own pace: a test's sleeper that returns at once must not make it spin.
    private let probeSleeper: any GatewayClock

    init(
        outbox: Outbox, writer: any OutboxWriting, configuration: CountyConfiguration, station: StationIdentity, clock: any GatewayClock, logger: Logger,
        registration: (any NetworkRegistrationProbe)? = nil, sl651Frames: SL651FrameBuilder? = nil, sl651Commands: SL651CommandSources = .none,
        timings: PushTimings = .standard, backoff: PushBackoffPolicy = .standard, sleeper: (any GatewayClock)? = nil,
        random: PushRandom = PushRandom(), observer: (@Sendable (PushEvent) -> Void)? = nil, signals: LinkSignals = LinkSignals(),
        probeSleeper: any GatewayClock = SystemClock()
    ) throws(PushSetupError) {
        self.signals = signals
        linkProbeEveryMilliseconds = configuration.linkProbeEveryMilliseconds
        self.probeSleeper = probeSleeper
        schedule = PushSchedule(window: configuration.pushWindow, utcOffsetMinutes: station.utcOffsetMinutes)
        self.timings = timings
        self.outbox = outbox
        self.writer = writer
        self.clock = clock
        self.logger = logger
        self.registration = registration
        self.sleeper = sleeper ?? clock
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
                    outbox: outbox, writer: writer, identity: identity, configuration: sl651Configuration, schedule: schedule, frames: sl651Frames,
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
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPPushTransport.clientConfiguration(timings.http))
            do {
                http = try HTTPPushTransport(
                    outbox: outbox, writer: writer, configuration: httpConfiguration, key: key, station: station, clock: clock, client: client,
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
            let endpoints = self.endpoints
            if !endpoints.isEmpty {
                group.addTask {
                    await LinkProbe.run(
                        endpoints: endpoints, everyMilliseconds: self.linkProbeEveryMilliseconds,
                        // A probe never outlives its period: behind a firewall that drops, a connect
                        // waits for its SYN's retransmission (1, 3, 7 s…); a fresh one each period
                        // notices the link's return within the period.
                        timeoutMilliseconds: min(self.timings.reachabilityTimeoutMilliseconds, self.linkProbeEveryMilliseconds), signals: self.signals, clock: self.clock, sleeper: self.probeSleeper)
                }
            }
        }
        try? await httpClient?.shutdown()
    }

    private func draw(_ backoff: inout PushBackoff) -> Int64 {
        random.withLock { random in backoff.failed(using: &random) }
    }

    private func networkAbsent(_ transport: String, generation: UInt64) async -> Bool {
        guard registration?.dataNetworkAvailable() == false else { return false }
        observer?(.noNetwork(transport: transport))
        signals.markDown(reason: "the modem has no data network", at: clock.now())
        _ = await rest(transport, milliseconds: timings.noNetworkRecheckMilliseconds, generation: generation)
        return true
    }

    /// The endpoints the reachability probe tries while the link is down.
    var endpoints: [PushEndpoint] { [http?.endpoint, sl651?.endpoint].compactMap { $0 } }

    /// Waits `milliseconds`, or less when a link signal comes (raised after `generation`, so one
    /// that came during the failed attempt counts): then the backoff is reset and the caller
    /// tries again at once. True when a signal ended the wait.
    private func rest(_ transport: String, milliseconds: Int64, generation: UInt64) async -> Bool {
        signals.scheduleNextAttempt(at: clock.now().adding(milliseconds: milliseconds))
        let woken = await signals.sleep(milliseconds: milliseconds, sleeper: sleeper, afterGeneration: generation)
        signals.scheduleNextAttempt(at: nil)
        guard woken, !Task.isCancelled else { return false }
        let by = signals.uplink.lastSignal?.description ?? "a link signal"
        observer?(.woken(transport: transport, by: by))
        logger.info("county push: link signal, trying now", metadata: ["transport": "\(transport)", "signal": "\(by)"])
        return true
    }

    /// After a failure the link is suspect: a bounded TCP connect tells whether it is back before a
    /// batch (HTTP) or a session (SL 651) goes into it. A link signal during the connect abandons
    /// it and the caller checks again at once (a fresh connect sees a returned link at once). True
    /// when the endpoint accepted a connection; otherwise the transport has backed off.
    private func checkReachable(
        _ transport: String, _ endpoint: PushEndpoint, backoff: inout PushBackoff, generation: UInt64
    ) async -> Bool {
        let timeout = timings.reachabilityTimeoutMilliseconds
        guard let checked = await signals.unlessSignalled(afterGeneration: generation, { await TCPReachability.check(endpoint, timeoutMilliseconds: timeout) }) else {
            backoff.succeeded()
            return false
        }
        guard let unreachable = checked else { return true }
        let delay = draw(&backoff)
        signals.markDown(reason: unreachable.description, at: clock.now())
        observer?(.unreachable(unreachable.description, retryAfterMilliseconds: delay))
        logger.info("county push: county not reachable", metadata: ["transport": "\(transport)", "reason": "\(unreachable)", "retry_ms": "\(delay)"])
        if await rest(transport, milliseconds: delay, generation: generation) { backoff.succeeded() }
        return false
    }

    /// The push delivered: the link is up. After an outage the county gets a report of it.
    private func delivered(count: Int) async {
        let now = clock.now()
        guard let outage = signals.markUp(at: now), outage.through.milliseconds(since: outage.from) >= Self.outageReportedAfterMilliseconds else { return }
        // Counted from the outbox, not from this delivery: the other transport may have delivered
        // (and marked) some already.
        let waiting = (try? outbox.undeliveredOrDelivered(since: outage.from)) ?? Int64(count)
        let report = LinkOutageReport.report(outage, reportsWaiting: waiting, utcOffsetMinutes: schedule.utcOffsetMinutes)
        do {
            let sequence = try await writer.append(report)
            observer?(.outageReported(sequence: sequence, waiting: waiting))
            logger.notice("county link back after an outage", metadata: [
                "from": "\(ISO8601.format(outage.from, utcOffsetMinutes: schedule.utcOffsetMinutes))",
                "ended_by": "\(outage.endedBy)", "waiting": "\(waiting)"])
        } catch {
            logger.error("the outage report could not be stored: \(error)")
        }
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
        // Read before each attempt: a signal raised while the attempt fails still ends its wait.
        var generation = signals.generation
        func failedRest(_ delay: Int64) async {
            if await rest("http", milliseconds: delay, generation: generation) {
                backoff.succeeded()
                suspect = false
            }
        }
        while !Task.isCancelled {
            generation = signals.generation
            if await networkAbsent("http", generation: generation) { continue }
            if suspect, !(await checkReachable("http", http.endpoint, backoff: &backoff, generation: generation)) { continue }
            switch await http.pushOnce(allowRoutine: schedule.isOpen(at: clock.now())) {
            case .nothingToSend:
                await sleeper.sleep(milliseconds: idleMilliseconds())
            case .delivered(let sent, let marked) where !marked.isEmpty:
                backoff.succeeded()
                suspect = false
                observer?(.httpDelivered(sent: sent, marked: marked))
                logger.info("county push: delivered", metadata: ["sent": "\(sent.count)", "stored": "\(marked.count)"])
                await delivered(count: marked.count)
            case .delivered(let sent, _):
                // The county stored none of them: sending the same batch at once would loop.
                let delay = draw(&backoff)
                observer?(.httpFailed("the county stored none of \(sent.count) reports", retryAfterMilliseconds: delay))
                logger.warning("county push: the county stored none of the batch", metadata: ["sent": "\(sent.count)", "retry_ms": "\(delay)"])
                await sleeper.sleep(milliseconds: delay)
            case .failed(let reason):
                suspect = true
                let delay = draw(&backoff)
                signals.markDown(reason: reason, at: clock.now())
                observer?(.httpFailed(reason, retryAfterMilliseconds: delay))
                logger.warning("county push failed", metadata: ["reason": "\(reason)", "retry_ms": "\(delay)"])
                await failedRest(delay)
            }
        }
    }

    func runSL651(_ sl651: SL651PushTransport) async {
        var backoff = PushBackoff(policy: backoffPolicy)
        // As for HTTP: after a failed link a bare connect must succeed before a session is opened.
        var suspect = false
        while !Task.isCancelled {
            let generation = signals.generation
            if await networkAbsent("sl651", generation: generation) { continue }
            if suspect {
                guard await checkReachable("sl651", sl651.endpoint, backoff: &backoff, generation: generation) else { continue }
                suspect = false
            }
            // Outside the window a costly link is only opened for an alarm.
            if !schedule.isOpen(at: clock.now()), (try? sl651.hasPendingAlarm()) != true {
                await sleeper.sleep(milliseconds: idleMilliseconds())
                continue
            }
            let end = await sl651.runConnection(onDelivered: { count in await self.delivered(count: count) })
            if end.delivered > 0 { backoff.succeeded() }
            let delay: Int64
            var linkFailed = false
            switch end.reason {
            case .cancelled:
                return
            case .couldNotConnect(let reason), .failed(let reason):
                delay = draw(&backoff)
                linkFailed = true
                suspect = true
                signals.markDown(reason: reason, at: clock.now())
                logger.warning("county SL 651 link failed", metadata: ["reason": "\(reason)", "delivered": "\(end.delivered)", "retry_ms": "\(delay)"])
            case .closedByCentre, .windowClosed, .resynchronising:
                backoff.succeeded()
                delay = timings.idlePollMilliseconds
                logger.info("county SL 651 link closed", metadata: ["reason": "\(end.reason)", "delivered": "\(end.delivered)"])
            }
            observer?(.sl651ConnectionEnded(end, retryAfterMilliseconds: delay))
            if linkFailed {
                if await rest("sl651", milliseconds: delay, generation: generation) { backoff.succeeded() }
            } else {
                await sleeper.sleep(milliseconds: delay)
            }
        }
    }
}
