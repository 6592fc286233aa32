// The box's one ReportSink: appends reports durably to the outbox, survives a dead disk, keeps retention.
import CountyProtocol
import Foundation
import Logging
import Synchronization
import WarningLogic

/// The outbox writes that come from outside the engine's decisions: the county API's
/// acknowledgement, the push transports' deliveries and the push's outage report. They go through
/// the outbox's one writer (`OutboxService`, on its own thread), never straight to the store from
/// the cooperative pool: each is a SQLite commit with an fsync, and on a two-core board a thread of
/// the pool blocked on an SD card is half the program.
protocol OutboxWriting: Sendable {
    /// The county has every report through `through` (the pull API's acknowledgement).
    @discardableResult
    func acknowledge(through: Int64, at now: Timestamp) async throws(OutboxError) -> Int
    /// A push transport's county has stored exactly these reports.
    @discardableResult
    func markDelivered(sequences: [Int64], at now: Timestamp) async throws(OutboxError) -> Int
    /// One report from outside the engine (the push's outage report); its sequence once on disk.
    @discardableResult
    func append(_ report: OutboxReport) async throws(OutboxError) -> Int64
}

/// Wraps `Outbox` for the daemon. `store` returns once the reports are on disk, or once storing
/// has failed: then they wait in a bounded memory buffer and are retried on the next `store` or
/// `maintain`; what does not fit is counted and reported as lost once storing works again.
/// The warning logic never waits for more than one attempt.
actor OutboxService: ReportSink, OutboxWriting {
    /// The outbox's writer thread: the service's SQLite commits (an fsync each) block it, never
    /// a thread of the cooperative pool.
    static let executor = DedicatedThreadExecutor(name: "outbox-writer")

    nonisolated var unownedExecutor: UnownedSerialExecutor { Self.executor.asUnownedSerialExecutor() }

    /// Reports kept in memory while the disk refuses them: about a day of hourly summaries and a
    /// storm's alarms, a few hundred kilobytes.
    static let reportsBufferedMaxDefault = 512
    /// Failures logged one by one; after that every `failuresLogEvery`th, so a dead card does not
    /// fill the log with one line per report.
    static let failuresLoggedInARow = 3
    static let failuresLogEvery = 100

    /// The store, for reading (SQLite in WAL mode: a read takes no lock the writer waits for and
    /// fsyncs nothing). Writes go through this actor: the store's write guard checks it.
    nonisolated let outbox: Outbox
    /// Outside writes (`OutboxWriting`) waiting for the writer thread at most: the county API
    /// answers a request past it with 503, a push transport backs off. The engine owner's stores
    /// and the maintenance are one caller each and never counted. 64 is far more than the API's
    /// connections and the two transports can have waiting on a disk that works.
    static let outsideWritesWaitingMax = 64
    private nonisolated let outsideWritesWaiting = Mutex(0)
    let reportsBufferedMax: Int
    private let keepDeliveredMilliseconds: Int64
    private let logger: Logger
    private var buffer: [OutboxReport] = []
    private var failuresInARow = 0
    /// Reports that neither reached the disk nor fitted the buffer, by priority, since the last
    /// loss report; and when the first of them was dropped.
    private var lost: [OutboxPriority: Int64] = [:]
    private var firstLossTime: Timestamp?
    private(set) var lastError: OutboxError?

    init(outbox: Outbox, keepDeliveredMilliseconds: Int64, logger: Logger, reportsBufferedMax: Int = OutboxService.reportsBufferedMaxDefault) {
        precondition(reportsBufferedMax > 0)
        self.outbox = outbox
        self.keepDeliveredMilliseconds = keepDeliveredMilliseconds
        self.logger = logger
        self.reportsBufferedMax = reportsBufferedMax
    }

    /// Opens `STATE_DIR/outbox.sqlite` with the `[county]` limits; nil (logged critical, with what
    /// to do) when it cannot be opened: the warning logic runs on without an outbox.
    static func open(stateDirectory: String, county: CountyConfiguration, logger: Logger) -> OutboxService? {
        let bytesMax = Int64(county.outboxMegabytesMax) * 1024 * 1024
        // Thinning frees a tenth of the store at once, so it does not run at every append.
        let limits = OutboxLimits(
            outboxBytesMax: bytesMax, outboxBytesAfterThinning: bytesMax - bytesMax / 10,
            reportsPerPullMax: OutboxLimits.standard.reportsPerPullMax, payloadBytesMax: OutboxLimits.standard.payloadBytesMax)
        do {
            let outbox = try Outbox(path: "\(stateDirectory)/outbox.sqlite", limits: limits, writeGuard: writerThreadGuard)
            checkAtStart(outbox, logger: logger)
            return OutboxService(outbox: outbox, keepDeliveredMilliseconds: county.keepDeliveredMilliseconds, logger: logger)
        } catch {
            logger.critical("\(error.description) The county gets no reports until this is fixed and the daemon restarted.")
            return nil
        }
    }

    /// The box's write guard for its outbox: a write that does not run on the writer thread is a
    /// programming error (a side door onto the cooperative pool). `assert`, not `precondition`:
    /// the tests (debug builds) catch it, while a shipped box that missed one still warns, since
    /// a stalled pool thread costs latency, not a warning.
    static let writerThreadGuard: @Sendable () -> Void = {
        assert(executor.isCurrentThread, "an outbox write ran off the outbox-writer thread; route it through OutboxService")
    }

    /// Damaged rows named one by one in the start-up log; the rest are counted.
    static let damagedRowsLoggedMax = 10

    /// SQLite's `quick_check` and the rows that do not read back, said at start: what was found,
    /// and that the box goes on (a damaged row is served as damaged, never a crash).
    static func checkAtStart(_ outbox: Outbox, logger: Logger) {
        do {
            let integrity = try outbox.quickCheck()
            if integrity == ["ok"] {
                logger.notice("outbox \(outbox.path): quick_check ok")
            } else {
                logger.error("outbox \(outbox.path): quick_check found damage: \(integrity.joined(separator: "; ")). The box serves what it can still read; copy the file aside for repair when the storm is over.")
            }
            // The one whole-store check: from here on `backlog` keeps its damaged count up to
            // date without reading every payload (Outbox.DamagedRows).
            let damaged = try outbox.checkWholeStore().damaged
            if damaged > 0 {
                let named = try outbox.damagedRows(limit: damagedRowsLoggedMax).map { "#\($0.sequence) (\($0.damage ?? "damaged"))" }
                logger.error("outbox \(outbox.path): \(damaged) damaged row(s), served to the county as damaged: \(named.joined(separator: ", "))\(damaged > damagedRowsLoggedMax ? " and \(damaged - Int64(damagedRowsLoggedMax)) more" : "")")
            }
        } catch {
            logger.error("outbox \(outbox.path): the start-up check could not run: \(error.description)")
        }
    }

    /// Reports waiting in memory for the disk.
    var bufferedCount: Int { buffer.count }
    /// Reports lost since the last loss report.
    var lostCount: Int64 { lost.values.reduce(0, +) }

    func store(_ reports: [OutboxReport]) async {
        storeNow(reports)
    }

    func backlog() async -> OutboxBacklog? {
        try? outbox.backlog
    }

    // MARK: Writes from outside the engine (OutboxWriting)

    /// Counts an outside write in, unless `outsideWritesWaitingMax` already wait for the thread.
    private nonisolated func admitOutsideWrite(_ what: @autoclosure () -> String) throws(OutboxError) {
        let admitted = outsideWritesWaiting.withLock { waiting in
            guard waiting < Self.outsideWritesWaitingMax else { return false }
            waiting += 1
            return true
        }
        guard admitted else {
            throw OutboxError.database(
                path: outbox.path,
                detail: "\(Self.outsideWritesWaitingMax) writes already wait for the outbox writer (the disk is slow or stalled); \(what()) is refused, try again later")
        }
    }

    /// Outside writes admitted and not yet done (status and tests).
    nonisolated var outsideWritesWaitingCount: Int { outsideWritesWaiting.withLock { $0 } }

    private nonisolated func outsideWriteDone() {
        outsideWritesWaiting.withLock { $0 -= 1 }
    }

    @discardableResult
    nonisolated func acknowledge(through: Int64, at now: Timestamp) async throws(OutboxError) -> Int {
        try admitOutsideWrite("an acknowledgement")
        defer { outsideWriteDone() }
        return try await acknowledgeOnWriter(through: through, at: now)
    }

    @discardableResult
    nonisolated func markDelivered(sequences: [Int64], at now: Timestamp) async throws(OutboxError) -> Int {
        try admitOutsideWrite("marking \(sequences.count) report(s) delivered")
        defer { outsideWriteDone() }
        return try await markDeliveredOnWriter(sequences: sequences, at: now)
    }

    @discardableResult
    nonisolated func append(_ report: OutboxReport) async throws(OutboxError) -> Int64 {
        try admitOutsideWrite("a \(report.kind) report")
        defer { outsideWriteDone() }
        return try await appendOnWriter(report)
    }

    private func acknowledgeOnWriter(through: Int64, at now: Timestamp) throws(OutboxError) -> Int {
        try outbox.acknowledge(through: through, at: now)
    }

    private func markDeliveredOnWriter(sequences: [Int64], at now: Timestamp) throws(OutboxError) -> Int {
        try outbox.markDelivered(sequences: sequences, at: now)
    }

    private func appendOnWriter(_ report: OutboxReport) throws(OutboxError) -> Int64 {
        try outbox.append(report)
    }

    /// Synchronous for the actor's own callers: one attempt, buffer on failure.
    private func storeNow(_ reports: [OutboxReport], at now: Timestamp? = nil) {
        // Order is kept: what waited in the buffer goes first.
        let pending = buffer + reports
        guard !pending.isEmpty else { return }
        // A report the outbox can never take (too large, not JSON) would block the buffer forever:
        // store what can be stored, and count those as lost with a log line saying why.
        do {
            _ = try outbox.appendBatch(pending)
            buffer = []
            succeeded(at: now ?? pending.last?.time)
        } catch let error where error.isAboutOneReport {
            var kept: [OutboxReport] = []
            for report in pending {
                do {
                    _ = try outbox.append(report)
                } catch let single where single.isAboutOneReport {
                    logger.error("\(single.description) (a \(report.kind) report of \(ISO8601.format(report.time, utcOffsetMinutes: 0)))")
                    countLost(report)
                } catch {
                    kept.append(report)
                    failed(error)
                }
            }
            buffer = []
            keep(kept)
            if kept.isEmpty { succeeded(at: now ?? pending.last?.time) }
        } catch {
            buffer = []
            keep(pending)
            failed(error)
        }
    }

    /// Puts reports in the buffer; past its limit the least urgent, oldest go first, and are counted.
    private func keep(_ reports: [OutboxReport]) {
        buffer.append(contentsOf: reports)
        while buffer.count > reportsBufferedMax {
            // The least urgent priority present, its oldest report: alarms stay longest.
            let worst = buffer.map(\.priority).max() ?? .routine
            let index = buffer.firstIndex { $0.priority == worst } ?? 0
            countLost(buffer.remove(at: index))
        }
    }

    private func countLost(_ report: OutboxReport) {
        lost[report.priority, default: 0] += 1
        if firstLossTime == nil { firstLossTime = report.time }
    }

    private func failed(_ error: OutboxError) {
        failuresInARow += 1
        lastError = error
        guard failuresInARow <= Self.failuresLoggedInARow || failuresInARow % Self.failuresLogEvery == 0 else { return }
        logger.error("\(error.description) \(buffer.count) report(s) wait in memory (at most \(reportsBufferedMax)); \(lostCount) lost so far (failure \(failuresInARow) in a row)")
    }

    // MARK: Shutdown

    /// Where a loss report waits when even the outbox refused it at shutdown; stored first at
    /// the next start.
    static let pendingLossFileName = "outbox-lost.json"

    /// At SIGTERM: every report still waiting in memory is stored, or counted in an
    /// `outboxReportsLost` alarm, and logged; nothing goes silently. On a full disk the state
    /// reserve makes room first; if the store still refuses, the alarm waits in
    /// `STATE_DIR/outbox-lost.json` for the next start. Returns how many reports were lost.
    @discardableResult
    func finish(at now: Timestamp, stateDirectory: String, reserve: DiskReserve?) -> Int64 {
        storeNow([], at: now)
        if !buffer.isEmpty, let reserve {
            let bytes = buffer.reduce(0) { $0 + $1.payload.utf8.count + Int(Outbox.reportRowOverheadBytes) }
            if reserve.release(atLeast: 4 * bytes, for: "\(buffer.count) report(s) waiting for the outbox at shutdown") > 0 {
                storeNow([], at: now)
            }
        }
        for report in buffer { countLost(report) }
        let waited = buffer.count
        buffer = []
        guard lostCount > 0 else { return 0 }
        let lostNow = lostCount
        logger.error("""
            outbox: stopping with \(waited) report(s) the store would not take\(lastError.map { " (\($0.description))" } ?? ""); \
            \(lostNow) report(s) lost in all (\(lost[.alarm, default: 0]) alarms, \(lost[.event, default: 0]) events, \(lost[.routine, default: 0]) routine), \
            counted in an outboxReportsLost alarm
            """)
        succeeded(at: now)
        guard lostCount > 0, let report = lossReport(at: now) else { return lostNow }
        // The store refused even the alarm: keep it beside the state for the next start.
        let object: [String: Any] = ["time_ms": report.time.millisecondsSinceUnixEpoch, "payload": report.payload]
        guard let body = JSONValue.sortedText(object).map({ Array($0.utf8) }) else { return lostNow }
        let path = "\(stateDirectory)/\(Self.pendingLossFileName)"
        for attempt in 0..<2 {
            do {
                try writeFileAtomically(path: path, bytes: body + [0x0A])
                logger.error("outbox: the outboxReportsLost alarm waits in \(path); it is stored at the next start")
                return lostNow
            } catch {
                guard attempt == 0, isNoSpace(error.errorNumber), let reserve, reserve.release(atLeast: 4096, for: path) > 0 else {
                    logger.critical("outbox: cannot keep the outboxReportsLost alarm in \(path) either (\(error.description)); \(lostNow) report(s) lost, said only in this log")
                    return lostNow
                }
            }
        }
        return lostNow
    }

    /// A loss report left by the last shutdown, stored first (then its file removed).
    func storePendingLossReport(stateDirectory: String) {
        let path = "\(stateDirectory)/\(Self.pendingLossFileName)"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let time = (object["time_ms"] as? NSNumber)?.int64Value, let payload = object["payload"] as? String
        else {
            logger.error("outbox: \(path) is not a loss report; moved aside")
            rename(path, path + ".damaged")
            return
        }
        let report = OutboxReport(
            time: Timestamp(millisecondsSinceUnixEpoch: time), kind: Self.lossKind, priority: .alarm, exercise: false, payload: payload)
        do {
            _ = try outbox.append(report)
            unlink(path)
            logger.notice("outbox: stored the outboxReportsLost alarm the last shutdown left in \(path)")
        } catch {
            logger.error("outbox: cannot store the loss report from \(path) yet (\(error.description)); it stays there")
        }
    }

    static let lossKind = "outboxReportsLost"

    private func lossReport(at now: Timestamp) -> OutboxReport? {
        let payload: [String: Any] = [
            "alarms": lost[.alarm, default: 0], "events": lost[.event, default: 0], "routine": lost[.routine, default: 0],
            "firstLost_ms": firstLossTime?.millisecondsSinceUnixEpoch ?? now.millisecondsSinceUnixEpoch,
            "reason": "the outbox could not store them and the memory buffer (\(reportsBufferedMax) reports) was full, or the box stopped",
        ]
        guard let text = JSONValue.sortedText(payload) else { return nil }
        return OutboxReport(time: now, kind: Self.lossKind, priority: .alarm, exercise: false, payload: text)
    }

    /// Storing works: say so once, and put a health report of what was lost on disk.
    private func succeeded(at now: Timestamp?) {
        if failuresInARow > 0 {
            logger.notice("outbox \(outbox.path): storing works again after \(failuresInARow) failure(s)")
        }
        failuresInARow = 0
        lastError = nil
        guard lostCount > 0, let now, let report = lossReport(at: now) else { return }
        do {
            _ = try outbox.append(report)
            logger.error("outbox: \(lostCount) report(s) were lost while the store failed; the county is told in an outboxReportsLost alarm")
            lost = [:]
            firstLossTime = nil
        } catch {
            // Counted still; the next success tries again.
        }
    }

    /// Periodic care: retry the buffer, purge what the county has had for `keep_delivered`, and
    /// hold the size limit (appending its health alarm). `now` is box time.
    func maintain(at now: Timestamp) {
        storeNow([], at: now)
        guard buffer.isEmpty else { return }
        do {
            let purged = try outbox.purgeDelivered(olderThan: now.adding(milliseconds: -keepDeliveredMilliseconds))
            if purged > 0 { logger.info("outbox: purged \(purged) report(s) delivered more than \(formatDuration(keepDeliveredMilliseconds)) ago") }
            if let thinning = try outbox.enforceSizeLimit(at: now) {
                if thinning.routineThinned > 0 || thinning.overLimitWithProtectedReports {
                    logger.warning("outbox: at its size limit; \(thinning.routineThinned) routine report(s) thinned, \(thinning.deliveredPurged) delivered purged\(thinning.overLimitWithProtectedReports ? "; still over the limit with alarms and events only (kept)" : "")")
                }
                if let alarm = thinning.healthAlarm { storeNow([alarm], at: now) }
            }
        } catch {
            failed(error)
        }
    }
}

extension OutboxError {
    /// The report itself is wrong (no retry can help), as opposed to the store failing.
    var isAboutOneReport: Bool {
        switch self {
        case .payloadTooLarge, .payloadNotJSON: true
        default: false
        }
    }
}
