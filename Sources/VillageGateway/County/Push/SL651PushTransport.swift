// SL 651-2014 over TCP to the county centre: one report frame at a time, answered by the centre's
// ACK / ESC / EOT; keep-alive 2F while idle; garbage counted and skipped by the reassembler.
import Logging
import Synchronization
import TimeSeam
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
    /// While idle, the outbox is looked at this often for new reports (a new alarm goes within it).
    var idlePollMilliseconds: Int64 = 1_000
    /// ESC: SL 651-2014 asks the station to stay online this long for the centre's commands.
    var stayOnlineAfterEscapeMilliseconds: Int64 = 10 * 60_000
    /// SL 651 mode M2: a report unanswered is sent again at most twice, then waits in the outbox.
    var resendsPerReportMax = 2
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
        /// An answer without a serial number came to a frame sent more than once: the next answer on
        /// this link could be the other copy's, so the link is opened anew (no backoff).
        case resynchronising(String)
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
    /// A report frame sent again on the same link after an answer timeout (M2).
    var resends = 0
    /// Acknowledgements that carried no serial number (empty body), matched by function code.
    var answersWithoutSerial = 0
    /// Centre commands (M4) answered, and refused with a logged reason.
    var commandsAnswered = 0
    var commandsRefused = 0
    /// The centre's acknowledgements of those answers (same code, not ENQ): taken, never answered.
    var commandAnswersAcknowledged = 0
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

    /// Read here; deliveries are marked through `writer` (the outbox's one writer thread).
    let outbox: Outbox
    let writer: any OutboxWriting
    let identity: SL651StationIdentity
    let endpoint: PushEndpoint
    let keepAliveEveryMilliseconds: Int64
    let schedule: PushSchedule
    let timings: SL651PushTimings
    private let frames: SL651FrameBuilder
    let commands: SL651CommandResponder
    private let clock: any GatewayClock
    private let logger: Logger
    private struct State {
        var counters = SL651PushCounters()
        var withoutForm: Set<Int64> = []
        var scanCursor: Int64 = 0
    }
    private let state = Mutex(State())

    init(
        outbox: Outbox, writer: any OutboxWriting, identity: SL651StationIdentity, configuration: SL651PushConfiguration, schedule: PushSchedule,
        frames: @escaping SL651FrameBuilder, clock: any GatewayClock, timings: SL651PushTimings = .standard, logger: Logger,
        mapping: SL651MappingConfiguration = SL651MappingConfiguration(), commandSources: SL651CommandSources = .none
    ) throws(PushLinkError) {
        guard (1...65_535).contains(configuration.port), !configuration.host.isEmpty else {
            throw PushLinkError(description: "sl651 centre \"\(configuration.host):\(configuration.port)\" needs a host and a port 1-65535")
        }
        guard configuration.keepAliveEveryMilliseconds > 0 else {
            throw PushLinkError(description: "sl651 keep_alive_every must be positive")
        }
        self.outbox = outbox
        self.writer = writer
        self.identity = identity
        self.endpoint = PushEndpoint(host: configuration.host, port: configuration.port)
        self.keepAliveEveryMilliseconds = configuration.keepAliveEveryMilliseconds
        self.schedule = schedule
        self.frames = frames
        self.commands = SL651CommandResponder(identity: identity, utcOffsetMinutes: schedule.utcOffsetMinutes, mapping: mapping, sources: commandSources)
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

    /// One connection: connect within the bound, then `session` until it ends. `onDelivered` is
    /// told of each acknowledged report as it happens (the push marks the link up on the first).
    func runConnection(onDelivered: (@Sendable (Int) async -> Void)? = nil) async -> SL651ConnectionEnd {
        do {
            return try await TCPByteLink.withConnection(to: endpoint, connectTimeoutMilliseconds: timings.connectTimeoutMilliseconds) { link in
                await self.session(link, onDelivered: onDelivered)
            }
        } catch {
            return SL651ConnectionEnd(reason: .couldNotConnect(error.description), delivered: 0)
        }
    }

    /// What one connection has learnt about the centre, and what it owes it.
    private struct ConnectionState {
        var reassembler: SL651DownlinkReassembler
        var stayOnlineUntil: Timestamp?
        /// Logged once per connection: the centre answers without serial numbers.
        var toldSerialLess = false
    }

    /// The report in flight: its serial and function code are what an answer must match.
    private struct InFlight {
        var serial: UInt16
        var functionCode: SL651FunctionCode
    }

    /// The conversation over an open link, stop-and-wait: one report frame, its answer, the next.
    /// Frames from the centre that are commands (37H…) are answered whenever they arrive.
    func session(_ link: some ByteLink, onDelivered: (@Sendable (Int) async -> Void)? = nil) async -> SL651ConnectionEnd {
        var connection = ConnectionState(reassembler: SL651DownlinkReassembler(station: identity.stationAddress))
        var delivered = 0
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
                // Idle: hang up outside the window unless the centre asked us to stay (ESC, a command).
                if !schedule.isOpen(at: now), connection.stayOnlineUntil.map({ now >= $0 }) ?? true {
                    return end(.windowClosed)
                }
                if now.milliseconds(since: lastSentAt) >= keepAliveEveryMilliseconds {
                    guard let sendTime = sendTime(at: now) else { return end(.failed("the clock is outside 2000-2099")) }
                    // Keep-alives reuse the newest report's serial: centres do not answer them
                    // (SL 651 6.6.4.2, and the centres seen), and none is waited for.
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
                    for event in connection.reassembler.append(bytes) {
                        guard case .frame(let frame) = event else { count(event); continue }
                        if SL651CommandResponder.isCommand(frame) {
                            try await answerCommand(frame, link: link, connection: &connection)
                        } else if SL651CommandResponder.isCommandCode(frame.functionCode) {
                            countAnswerAcknowledged(frame)
                        } else if frame.end == .endOfTransmission {
                            return end(.closedByCentre)
                        } else {
                            count(event)
                        }
                    }
                } catch {
                    return end(.failed("the centre's link broke while idle: \(error)"))
                }
                continue
            }

            // M2: the frame is sent, and sent again when no answer comes, at most `resendsPerReportMax`
            // times on this link. An answer that comes late, while a resend waits, still counts.
            let inFlight = InFlight(serial: next.serial, functionCode: SL651FunctionCode(rawValue: next.frame[10]))
            var answer: (end: SL651DownlinkEnd, serialLess: Bool)?
            var sends = 0
            while answer == nil && sends <= timings.resendsPerReportMax && !Task.isCancelled {
                do {
                    try await link.send(next.frame)
                } catch {
                    return end(.failed("report \(next.report.sequence) could not be sent: \(error)"))
                }
                sends += 1
                lastSentAt = clock.now()
                state.withLock { state in
                    state.counters.reportFramesSent += 1
                    if sends > 1 { state.counters.resends += 1 }
                }
                let deadline = clock.now().adding(milliseconds: timings.answerTimeoutMilliseconds)
                while answer == nil {
                    let remaining = deadline.milliseconds(since: clock.now())
                    guard remaining > 0, !Task.isCancelled else { break }
                    let bytes: [UInt8]
                    do {
                        bytes = try await link.receive(timeoutMilliseconds: remaining)
                    } catch {
                        return end(.failed("the centre's link broke waiting for the answer to serial \(next.serial): \(error)"))
                    }
                    for event in connection.reassembler.append(bytes) {
                        guard case .frame(let frame) = event else { count(event); continue }
                        if SL651CommandResponder.isCommand(frame) {
                            do {
                                try await answerCommand(frame, link: link, connection: &connection)
                            } catch {
                                return end(.failed("the answer to the centre's command could not be sent: \(error)"))
                            }
                        } else if SL651CommandResponder.isCommandCode(frame.functionCode) {
                            countAnswerAcknowledged(frame)
                        } else if answer == nil, let serialLess = answers(frame, inFlight) {
                            answer = (frame.end, serialLess)
                            if serialLess && !connection.toldSerialLess {
                                connection.toldSerialLess = true
                                logger.notice("the SL 651 centre answers without serial numbers; each such answer is taken for the frame in flight with the same function code",
                                              metadata: ["function": "\(frame.functionCode)", "end": "\(frame.end)"])
                            }
                        } else {
                            count(event)
                        }
                    }
                }
                if answer == nil { state.withLock { $0.counters.answerTimeouts += 1 } }
            }
            if Task.isCancelled { return end(.cancelled) }
            guard let answer else {
                return end(.failed("no answer to serial \(next.serial) (report \(next.report.sequence)) after \(sends) sends, \(timings.answerTimeoutMilliseconds) ms each"))
            }
            do {
                try await writer.markDelivered(sequences: [next.report.sequence], at: clock.now())
            } catch {
                // The centre has it; it is sent again later with the same serial, a repetition.
                return end(.failed("the centre acknowledged report \(next.report.sequence) but marking it failed: \(error)"))
            }
            delivered += 1
            await onDelivered?(1)
            state.withLock { state in
                state.counters.acknowledged += 1
                if answer.serialLess { state.counters.answersWithoutSerial += 1 }
            }
            switch answer.end {
            case .endOfTransmission:
                return end(.closedByCentre)
            case .escapeStayOnline:
                connection.stayOnlineUntil = clock.now().adding(milliseconds: timings.stayOnlineAfterEscapeMilliseconds)
            case .acknowledge, .enquiry:
                break
            }
            if answer.serialLess && sends > 1 {
                // The centre may still answer the other copies, and an answer without a serial
                // cannot say which: on this link it would be taken for the next report. A new
                // connection starts with no answer in the pipe.
                return end(.resynchronising("report \(next.report.sequence) was sent \(sends) times and answered without a serial number"))
            }
        }
        return end(.cancelled)
    }

    /// Whether `frame` answers the report in flight: nil when not; else whether it did so without
    /// a serial number. With a serial it must be the in-flight one (an old serial is an old
    /// answer); without one, the function code must be the in-flight frame's. ENQ asks, never answers.
    private func answers(_ frame: SL651DownlinkFrame, _ inFlight: InFlight) -> Bool? {
        guard frame.end != .enquiry else { return nil }
        if let serial = frame.serialNumber { return serial == inFlight.serial ? false : nil }
        return frame.functionCode == inFlight.functionCode ? true : nil
    }

    /// The centre acknowledged the box's answer to a command (never answered in turn).
    private func countAnswerAcknowledged(_ frame: SL651DownlinkFrame) {
        state.withLock { $0.counters.commandAnswersAcknowledged += 1 }
        logger.debug("the centre acknowledged the box's answer to \(frame.functionCode)", metadata: ["end": "\(frame.end)"])
    }

    /// Answers (or refuses, logged) one command of the centre, and keeps the link up for its next.
    private func answerCommand(_ frame: SL651DownlinkFrame, link: some ByteLink, connection: inout ConnectionState) async throws(PushLinkError) {
        let now = clock.now()
        // The centre is talking to the box: stay for its next command as ESC would ask.
        connection.stayOnlineUntil = now.adding(milliseconds: timings.stayOnlineAfterEscapeMilliseconds)
        let serial = frame.serialNumber ?? Self.serialNumber(forSequence: max(1, (try? outbox.lastSequence()) ?? 1))
        switch commands.respond(to: frame, serial: serial, now: now) {
        case .answer(let bytes, let note):
            do {
                try await link.send(bytes)
            } catch {
                throw PushLinkError(description: "\(error)")
            }
            state.withLock { $0.counters.commandsAnswered += 1 }
            logger.notice("\(note)")
        case .refused(let reason):
            state.withLock { $0.counters.commandsRefused += 1 }
            logger.warning("\(reason)")
        }
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
