// SL 651-2014 over TCP to the county centre: one report frame at a time, answered by the centre's
// ACK / ESC / EOT; keep-alive 2F while idle; garbage counted and skipped by the reassembler.
import Logging
import Synchronization
import WarningLogic

/// Turns a stored report into its SL 651 uplink frame with the given serial number and send
/// time; nil when the report has no SL 651 form (it then goes by HTTP push or pull only).
/// `SL651ReportMapping` (county-api) provides the real one.
typealias SL651FrameBuilder = @Sendable (StoredOutboxReport, _ serialNumber: UInt16, _ sendTime: SL651LocalTime) -> [UInt8]?

/// Bounds of the SL 651 link.
struct SL651PushTimings: Sendable, Equatable {
    var connectTimeoutMilliseconds: Int64 = 20_000
    /// The centre answers a report within this, or the link is taken as broken: reconnect with backoff.
    var answerTimeoutMilliseconds: Int64 = 30_000
    /// While idle, the outbox is looked at this often for new reports.
    var idlePollMilliseconds: Int64 = 5_000
    /// ESC: SL 651-2014 asks the station to stay online this long for the centre's commands.
    var stayOnlineAfterEscapeMilliseconds: Int64 = 10 * 60_000
    static let standard = SL651PushTimings()
}

/// How one connection ended, and how many reports the centre acknowledged on it.
struct SL651ConnectionEnd: Sendable, Equatable {
    enum Reason: Sendable, Equatable {
        case couldNotConnect(String)
        /// No answer in time, the connection broke, or the outbox failed: back off, reconnect.
        case failed(String)
        /// EOT: the centre has what it wanted and lets the link go.
        case closedByCentre
        /// Outside the push window with only routine/event reports left (costly link): hang up.
        case windowClosed
        case cancelled
    }
    var reason: Reason
    var delivered: Int
}

/// Counters for the status page and the tests.
struct SL651PushCounters: Sendable, Equatable {
    var reportFramesSent = 0
    var keepAlivesSent = 0
    var acknowledged = 0
    /// Downlink bytes that were not a good frame for this station (CRC, garbage): counted, skipped.
    var downlinkFramesRejected = 0
    /// Good frames that answer no report in flight (an old serial, an ENQ we do not serve).
    var downlinkFramesUnmatched = 0
    var answerTimeouts = 0
    /// Reports seen that have no SL 651 form (left for HTTP push / pull).
    var reportsWithoutSL651Form = 0
}

final class SL651PushTransport: Sendable {
    /// Remembered "no SL 651 form" sequences; past this the memory is dropped and rebuilt
    /// (costs a re-mapping, never a report).
    static let withoutFormRememberedMax = 10_000
    /// Pages of `reports(after:)` one pick may scan when the undelivered page holds nothing with
    /// an SL 651 form (hundreds of non-SL 651 alarms ahead of an observation).
    static let scanPagesPerPickMax = 4

    let outbox: Outbox
    let identity: SL651StationIdentity
    let endpoint: PushEndpoint
    let keepAliveEveryMilliseconds: Int64
    let schedule: PushSchedule
    let timings: SL651PushTimings
    private let frames: SL651FrameBuilder
    private let clock: any GatewayClock
    private let logger: Logger
    private struct State {
        var counters = SL651PushCounters()
        var withoutForm: Set<Int64> = []
        var scanCursor: Int64 = 0
    }
    private let state = Mutex(State())

    init(
        outbox: Outbox, identity: SL651StationIdentity, configuration: SL651PushConfiguration, schedule: PushSchedule,
        frames: @escaping SL651FrameBuilder, clock: any GatewayClock, timings: SL651PushTimings = .standard, logger: Logger
    ) throws(PushLinkError) {
        guard (1...65_535).contains(configuration.port), !configuration.host.isEmpty else {
            throw PushLinkError(description: "sl651 centre \"\(configuration.host):\(configuration.port)\" needs a host and a port 1-65535")
        }
        guard configuration.keepAliveEveryMilliseconds > 0 else {
            throw PushLinkError(description: "sl651 keep_alive_every must be positive")
        }
        self.outbox = outbox
        self.identity = identity
        self.endpoint = PushEndpoint(host: configuration.host, port: configuration.port)
        self.keepAliveEveryMilliseconds = configuration.keepAliveEveryMilliseconds
        self.schedule = schedule
        self.frames = frames
        self.clock = clock
        self.timings = timings
        self.logger = logger
    }

    var counters: SL651PushCounters { state.withLock { $0.counters } }

    /// The serial number of a report's frame: the one rule the pull API uses too.
    static func serialNumber(forSequence sequence: Int64) -> UInt16 {
        SL651FrameMaker.serialNumber(forSequence: sequence)
    }

    /// SL 651 sends station-local wall time; seconds matter for the send time.
    func sendTime(at time: Timestamp) -> SL651LocalTime? {
        let fields = ISO8601.localFields(time, utcOffsetMinutes: schedule.utcOffsetMinutes)
        let local = time.millisecondsSinceUnixEpoch + Int64(schedule.utcOffsetMinutes) * Milliseconds.minute
        let second = Int(((local % Milliseconds.minute) + Milliseconds.minute) % Milliseconds.minute / 1_000)
        return try? SL651LocalTime(year: fields.year, month: fields.month, day: fields.day, hour: fields.hour, minute: fields.minute, second: second)
    }

    /// Whether an undelivered alarm with an SL 651 form is waiting (worth connecting outside the window).
    func hasPendingAlarm() throws(OutboxError) -> Bool {
        try pick(allowRoutine: false) != nil
    }

    /// One connection: connect within the bound, then `session` until it ends.
    func runConnection() async -> SL651ConnectionEnd {
        do {
            return try await TCPByteLink.withConnection(to: endpoint, connectTimeoutMilliseconds: timings.connectTimeoutMilliseconds) { link in
                await self.session(link)
            }
        } catch {
            return SL651ConnectionEnd(reason: .couldNotConnect(error.description), delivered: 0)
        }
    }

    /// The conversation over an open link, stop-and-wait: one report frame, its answer, the next.
    func session(_ link: some ByteLink) async -> SL651ConnectionEnd {
        var reassembler = SL651DownlinkReassembler(station: identity.stationAddress)
        var delivered = 0
        var stayOnlineUntil: Timestamp?
        var lastSentAt = clock.now()
        func end(_ reason: SL651ConnectionEnd.Reason) -> SL651ConnectionEnd { SL651ConnectionEnd(reason: reason, delivered: delivered) }

        while !Task.isCancelled {
            let now = clock.now()
            let next: (report: StoredOutboxReport, serial: UInt16, frame: [UInt8])?
            do {
                next = try pick(allowRoutine: schedule.isOpen(at: now))
            } catch {
                return end(.failed("the outbox could not be read: \(error)"))
            }

            guard let next else {
                // Idle: hang up outside the window unless the centre asked us to stay (ESC).
                if !schedule.isOpen(at: now), stayOnlineUntil.map({ now >= $0 }) ?? true {
                    return end(.windowClosed)
                }
                if now.milliseconds(since: lastSentAt) >= keepAliveEveryMilliseconds {
                    guard let sendTime = sendTime(at: now) else { return end(.failed("the clock is outside 2000-2099")) }
                    // Keep-alives reuse the newest report's serial: they expect no answer, and
                    // one never matches a report in flight (none is, while idle).
                    let serial = Self.serialNumber(forSequence: max(1, (try? outbox.lastSequence()) ?? 1))
                    do {
                        try await link.send(SL651UplinkEncoder.keepAlive(identity: identity, serialNumber: serial, sendTime: sendTime))
                    } catch {
                        return end(.failed("keep-alive could not be sent: \(error)"))
                    }
                    lastSentAt = now
                    state.withLock { $0.counters.keepAlivesSent += 1 }
                }
                let untilKeepAlive = keepAliveEveryMilliseconds - clock.now().milliseconds(since: lastSentAt)
                let wait = max(1, min(timings.idlePollMilliseconds, untilKeepAlive))
                do {
                    let bytes = try await link.receive(timeoutMilliseconds: wait)
                    for event in reassembler.append(bytes) {
                        if case .frame(let frame) = event, frame.end == .endOfTransmission { return end(.closedByCentre) }
                        count(event)
                    }
                } catch {
                    return end(.failed("the centre's link broke while idle: \(error)"))
                }
                continue
            }

            do {
                try await link.send(next.frame)
            } catch {
                return end(.failed("report \(next.report.sequence) could not be sent: \(error)"))
            }
            lastSentAt = clock.now()
            state.withLock { $0.counters.reportFramesSent += 1 }

            // Wait for the answer to this serial; anything else is counted and skipped.
            let deadline = clock.now().adding(milliseconds: timings.answerTimeoutMilliseconds)
            var answer: SL651DownlinkEnd?
            while answer == nil {
                let remaining = deadline.milliseconds(since: clock.now())
                guard remaining > 0, !Task.isCancelled else { break }
                let bytes: [UInt8]
                do {
                    bytes = try await link.receive(timeoutMilliseconds: remaining)
                } catch {
                    return end(.failed("the centre's link broke waiting for the answer to serial \(next.serial): \(error)"))
                }
                for event in reassembler.append(bytes) {
                    if answer == nil, case .frame(let frame) = event, frame.serialNumber == next.serial, frame.end != .enquiry {
                        answer = frame.end
                    } else {
                        count(event)
                    }
                }
            }
            if Task.isCancelled { return end(.cancelled) }
            guard let answer else {
                state.withLock { $0.counters.answerTimeouts += 1 }
                return end(.failed("no answer to serial \(next.serial) (report \(next.report.sequence)) within \(timings.answerTimeoutMilliseconds) ms"))
            }
            do {
                try outbox.markDelivered(sequences: [next.report.sequence], at: clock.now())
            } catch {
                // The centre has it; it is sent again later with the same serial, a repetition.
                return end(.failed("the centre acknowledged report \(next.report.sequence) but marking it failed: \(error)"))
            }
            delivered += 1
            state.withLock { $0.counters.acknowledged += 1 }
            switch answer {
            case .endOfTransmission:
                return end(.closedByCentre)
            case .escapeStayOnline:
                stayOnlineUntil = clock.now().adding(milliseconds: timings.stayOnlineAfterEscapeMilliseconds)
            case .acknowledge, .enquiry:
                break
            }
        }
        return end(.cancelled)
    }

    private func count(_ event: SL651DownlinkReassembler.Event) {
        state.withLock { state in
            switch event {
            case .rejected: state.counters.downlinkFramesRejected += 1
            case .frame: state.counters.downlinkFramesUnmatched += 1
            }
        }
    }

    /// The next report to send with its frame: undelivered, by priority, that has an SL 651
    /// form; with `allowRoutine` false only alarms. Reports without a form are remembered in
    /// memory only: their rows stay undelivered, so the HTTP push and the county's pull still
    /// deliver them and retention still protects them.
    private func pick(allowRoutine: Bool) throws(OutboxError) -> (report: StoredOutboxReport, serial: UInt16, frame: [UInt8])? {
        guard let sendTime = sendTime(at: clock.now()) else { return nil }
        let limit = outbox.limits.reportsPerPullMax
        let page = try outbox.undelivered(limit: limit)
        for stored in page {
            guard allowRoutine || stored.report.priority == .alarm else { return nil }
            if let picked = frame(for: stored, sendTime: sendTime) { return picked }
        }
        guard page.count == limit else { return nil }
        // The whole page had no SL 651 form: look further, in sequence order, a few pages per pick.
        for _ in 0..<Self.scanPagesPerPickMax {
            let cursor = state.withLock { $0.scanCursor }
            let pull = try outbox.reports(after: cursor, limit: limit)
            guard let last = pull.reports.last else {
                state.withLock { $0.scanCursor = 0 }
                return nil
            }
            state.withLock { $0.scanCursor = last.sequence }
            for stored in pull.reports where stored.deliveredAt == nil && (allowRoutine || stored.report.priority == .alarm) {
                if let picked = frame(for: stored, sendTime: sendTime) { return picked }
            }
        }
        return nil
    }

    private func frame(for stored: StoredOutboxReport, sendTime: SL651LocalTime) -> (report: StoredOutboxReport, serial: UInt16, frame: [UInt8])? {
        if state.withLock({ $0.withoutForm.contains(stored.sequence) }) { return nil }
        let serial = Self.serialNumber(forSequence: stored.sequence)
        if let bytes = frames(stored, serial, sendTime) { return (stored, serial, bytes) }
        state.withLock { state in
            if state.withoutForm.count >= Self.withoutFormRememberedMax { state.withoutForm.removeAll() }
            state.withoutForm.insert(stored.sequence)
            state.counters.reportsWithoutSL651Form += 1
        }
        return nil
    }
}
