// The one owner of the engine: takes events off the queue, makes them durable, decides, acts.
import Foundation
import Logging
import WarningLogic

/// Owns the `Engine`, the state store and the order of things. For each event:
/// journal it (fsync for tips, people and the county) → `handle` → snapshot when the decision
/// changes an output → hand the actions to the outputs → one log line. Never the other way
/// round: an output is only switched for a state that would survive a power cut.
///
/// One message at a time, to the end: events and commands (`reconfigure`) come off the one
/// queue and are handled by `run` in order, so nothing changes the engine while a decision's
/// outputs and reports are being carried out. The actor runs on a thread of its own
/// (`DedicatedThreadExecutor`), so its fsyncs never block the cooperative pool.
actor EngineOwner {
    /// The thread every owner's jobs run on (the program has one owner).
    static let executor = DedicatedThreadExecutor(name: "engine-owner")

    nonisolated var unownedExecutor: UnownedSerialExecutor { Self.executor.asUnownedSerialExecutor() }

    /// Whether the owner's code runs on its own thread (for the test that holds it off the pool).
    func runsOnItsOwnThread() -> Bool { Self.executor.isCurrentThread }

    /// A snapshot at least this often (box time), so a restart replays little journal.
    static let snapshotIntervalMilliseconds: Int64 = 10 * Milliseconds.minute
    /// And after this many journal records, so a long quiet spell of readings stays bounded.
    static let journalRecordsPerSnapshotMax = 2_000

    /// State write failures logged one by one; after that every `stateFailuresLogEvery`th.
    static let stateFailuresLoggedInARow = 3
    static let stateFailuresLogEvery = 1_000

    private var engine: Engine
    private let store: StateStore
    private let outputs: any GatewayOutputs
    private let queue: EventQueue
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let published: PublishedStatus
    private let utcOffsetMinutes: Int
    private var sequence: UInt64
    private var snapshotNumber: UInt64
    private var eventsAtLastTime: [Event]
    private var engineTime: Timestamp?
    private var lastSnapshotTime: Timestamp?
    private var lastWatchdogMilliseconds: Int64 = 0
    private var counters = RuntimeCounters()
    private var lastOutputs = OutputSnapshot.safe
    /// After each event: a reason to stop (the sim's scenario is over), or nil to go on.
    private let stopCondition: (@Sendable (StationStatus, _ queueDepth: Int) -> String?)?
    /// Where the decisions' reports go (the outbox service); nil when there is no outbox.
    private let reportSink: (any ReportSink)?
    /// Told the status after each event (the observation summariser); must not block.
    private var statusObserver: (@Sendable (StationStatus) -> Void)?

    init(
        recovery: Recovery, store: sending StateStore, outputs: any GatewayOutputs, queue: EventQueue, notifier: SystemdNotifier,
        published: PublishedStatus, logger: Logger,
        stopCondition: (@Sendable (StationStatus, Int) -> String?)? = nil, reportSink: (any ReportSink)? = nil
    ) {
        self.reportSink = reportSink
        self.engine = recovery.engine
        self.store = store
        self.outputs = outputs
        self.queue = queue
        self.notifier = notifier
        self.published = published
        self.logger = logger
        self.utcOffsetMinutes = recovery.engine.configuration.station.utcOffsetMinutes
        self.sequence = recovery.lastSequence
        self.snapshotNumber = recovery.snapshotNumber
        self.eventsAtLastTime = recovery.eventsAtLastTime
        let time = recovery.engine.status().time
        self.engineTime = time.millisecondsSinceUnixEpoch == 0 ? nil : time
        self.lastNotedTime = self.engineTime
        self.stopCondition = stopCondition
    }

    /// Brings the outputs to what the recovered state demands (relays come up off after a
    /// reboot: a restored red sounds again at once) and carries out what was decided but maybe
    /// not done before the stop. The state is saved first, like every decision.
    func start(recoveredActions: [Action], at now: Timestamp) async {
        let actions = engine.currentOutputs() + recoveredActions
        writeSnapshot(pendingActions: actions)
        let status = engine.status()
        logger.notice("""
            resumed at level \(status.level.name)\(status.causes.isEmpty ? "" : " (causes: \(status.causes.joined(separator: ", ")))")\
            \(status.latchedLevel.map { "; latched \($0.name)" } ?? ""); outputs set to match
            """)
        await perform(actions, at: max(engineTime ?? now, now))
        markPerformed()
        await publish(status)
    }

    /// Takes events until the queue is closed (shutdown) or the stop condition holds.
    func run() async -> String {
        while let queued = await queue.nextQueued() {
            if let command = queued.command {
                await handle(command)
            } else {
                await process(queued.event, enqueuedNanoseconds: queued.enqueuedNanoseconds)
            }
            pingWatchdogIfDue()
            let status = engine.status()
            let depth = await queue.depth
            await publish(status, queueDepth: depth)
            statusObserver?(status)
            if let reason = stopCondition?(status, depth) { return reason }
        }
        return "shutdown requested"
    }

    private func process(_ event: Event, enqueuedNanoseconds: Int64) async {
        if event.kind == .tick, let engineTime, event.time <= engineTime { return }
        // Time-based rules happen at their own instants, not at the next tick's: step through
        // every wake-up the engine asked for before this event (as `simulate` does).
        while let wakeup = engine.nextWakeup(), wakeup < event.time {
            await decide(Event(time: wakeup, kind: .tick), journaled: false)
        }
        await decide(event, journaled: event.kind != .tick, enqueuedNanoseconds: enqueuedNanoseconds)
    }

    /// Tips, people and the county are on the disk before they are acted on; readings are
    /// appended without fsync (the next reading supersedes a lost one, and an SD card lives
    /// longer without eight fsyncs a second).
    static func mustSync(_ event: Event) -> Bool {
        switch event.kind {
        case .tick, .reading, .readFailure: false
        case .tips, .manual, .countyWarning, .countyCancel, .acknowledge, .reply, .callEnded, .clearLatch, .drillStart, .drillStop: true
        }
    }

    /// Sound first, record after. The siren, lamps and broadcast are switched from the decision
    /// at once; then the event is journaled, the snapshot written, and only then are the SMS,
    /// the level record and the reports carried out. A power cut between the two loses the
    /// event (it was in flight either way) and a restart sets the outputs from the recovered
    /// level. SMS wait for the record on purpose: a restart may send one twice, never zero times.
    private func decide(_ event: Event, journaled: Bool, enqueuedNanoseconds: Int64? = nil) async {
        let actions = engine.handle(event)
        let time = max(engineTime ?? event.time, event.time)
        let immediate = actions.filter(Self.isImmediate)
        if !immediate.isEmpty {
            await outputs.perform(immediate, at: time)
            if let enqueuedNanoseconds, let latencyObserver, immediate.contains(where: Self.switchesSirenOn) {
                // Queue → decision → siren handed to its relay worker: what a villager waits for.
                await latencyObserver(monotonicNanoseconds() - enqueuedNanoseconds, event)
            }
        }
        if journaled {
            sequence += 1
            do {
                try store.append(.event(sequence: sequence, event: event), sync: Self.mustSync(event))
            } catch {
                storeFailed(error)
            }
        }
        engineTime = time
        StateStore.note(event, appliedAt: time, previousTime: &lastNotedTime, into: &eventsAtLastTime)
        counters.eventsHandled += 1
        let outward = actions.contains(where: RecordingOutputs.isOutward)
        let snapshotDue = lastSnapshotTime.map { time.milliseconds(since: $0) >= Self.snapshotIntervalMilliseconds } ?? true
            || store.journalRecords >= Self.journalRecordsPerSnapshotMax || store.journalBytes >= StateStore.journalBytesMax / 2
        var saved = false
        // The snapshot owes every action of the decision, the ones already switched included
        // (switching them again after a restart changes nothing).
        if outward || snapshotDue { saved = writeSnapshot(pendingActions: outward ? actions : []) }
        // The snapshot that owes this decision's actions: what "performed" must name.
        let owedBy = snapshotNumber
        guard !actions.isEmpty else { return }
        counters.decisions += 1
        // A decision that only repeats the broadcast (every few minutes while a level holds) is
        // routine; level changes, sirens, SMS and reports are what a technician looks for.
        let onlyBroadcasts = actions.allSatisfy { if case .broadcast = $0 { true } else { false } }
        logger.log(level: onlyBroadcasts ? .info : .notice, "\(decisionLine(event, actions, at: time))")
        let recorded = actions.filter { !Self.isImmediate($0) }
        if !recorded.isEmpty {
            await perform(recorded, at: time)
        } else if outward {
            lastOutputs = await outputs.snapshot()
        }
        if outward && saved { markPerformed(owedBy) }
    }

    /// What is switched from the decision before anything is written: the outputs that warn.
    static func isImmediate(_ action: Action) -> Bool {
        switch action {
        case .setSiren, .setLamp, .broadcast: true
        // A call, like an SMS, waits for the record: a restart may ring twice, never zero times.
        case .sendSMS, .call, .levelChanged, .enqueueReport: false
        }
    }

    static func switchesSirenOn(_ action: Action) -> Bool {
        if case .setSiren(let pattern, _) = action { return pattern != .off }
        return false
    }

    /// Told how long an input took from the queue to a siren switched on (for the benchmark).
    private var latencyObserver: (@Sendable (_ nanoseconds: Int64, _ event: Event) async -> Void)?

    func observeSirenLatency(_ observer: @escaping @Sendable (_ nanoseconds: Int64, _ event: Event) async -> Void) {
        latencyObserver = observer
    }

    private var lastNotedTime: Timestamp?

    /// Outputs first (the siren must not wait for SQLite), then the reports, on disk before the
    /// caller marks the decision performed; a repeat after a restart is ignored by origin key.
    private func perform(_ actions: [Action], at time: Timestamp) async {
        await outputs.perform(actions, at: time)
        if actions.contains(where: RecordingOutputs.isOutward) { lastOutputs = await outputs.snapshot() }
        if let reportSink {
            let reports = actions.compactMap { action -> OutboxReport? in
                if case .enqueueReport(let report) = action { return OutboxReport(report) }
                return nil
            }
            if !reports.isEmpty { await reportSink.store(reports) }
        }
    }

    func observeStatus(_ observer: @escaping @Sendable (StationStatus) -> Void) {
        statusObserver = observer
    }

    /// The actions owed by snapshot `number` are carried out (the latest snapshot, unless named).
    private func markPerformed(_ number: UInt64? = nil) {
        do {
            try store.append(.performed(snapshotNumber: number ?? snapshotNumber), sync: false)
        } catch {
            storeFailed(error)
        }
    }

    @discardableResult
    private func writeSnapshot(pendingActions: [Action]) -> Bool {
        snapshotNumber += 1
        let snapshot = Snapshot(
            formatVersion: Snapshot.currentFormatVersion, snapshotNumber: snapshotNumber, sequence: sequence, state: engine.state,
            eventsAtLastTime: eventsAtLastTime, pendingActions: pendingActions)
        do {
            try store.writeSnapshot(snapshot)
            lastSnapshotTime = engineTime
            counters.lastSnapshotTime = engineTime
            return true
        } catch {
            storeFailed(error)
            return false
        }
    }

    /// The box keeps warning without its disk; the technician must know what a restart would lose.
    private func storeFailed(_ error: StateError) {
        counters.stateWriteFailures += 1
        // A full or dead disk fails every event: say it at once, then now and then, not per tip.
        guard counters.stateWriteFailures <= Self.stateFailuresLoggedInARow || counters.stateWriteFailures % Self.stateFailuresLogEvery == 0 else { return }
        let since = counters.lastSnapshotTime.map { "since \(ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes))" } ?? "so far"
        logger.error("cannot write state to \(store.directory): \(error.description) — warnings continue, but a restart would lose the inputs \(since)")
    }

    /// A configuration committed from the shell, applied without a restart. The engine is
    /// rebuilt keeping what still applies (`Engine(configuration:restoring:)`: sensor histories
    /// by id, levels, latch, 叫应, drill; sensors no longer configured are dropped, new ones start
    /// empty). Levels stay as they were until the engine decides again, so it decides at once
    /// with the new rules; the outputs follow the new `[outputs]` of the level; and a snapshot
    /// is written right away, so a restart never replays earlier events under the new rules.
    nonisolated func reconfigure(_ configuration: EngineConfiguration) async {
        let reply = OwnerReply()
        if await queue.submit(command: .reconfigure(configuration, reply: reply), at: Timestamp(millisecondsSinceUnixEpoch: 0)) {
            await reply.wait()
        } else {
            // The loop has stopped (shutdown, or a test that drove it to the end): nothing else
            // is deciding, so the owner applies it itself.
            await applyReconfigure(configuration)
        }
    }

    private func handle(_ command: OwnerCommand) async {
        switch command {
        case .reconfigure(let configuration, let reply):
            await applyReconfigure(configuration)
            await reply.signal()
        }
    }

    private func applyReconfigure(_ configuration: EngineConfiguration) async {
        engine = Engine(configuration: configuration, restoring: engine.state)
        if let engineTime { await decide(Event(time: engineTime, kind: .tick), journaled: false) }
        let actions = engine.currentOutputs()
        writeSnapshot(pendingActions: actions)
        await perform(actions, at: engineTime ?? engine.status().time)
        markPerformed()
        let status = engine.status()
        logger.notice("configuration applied without a restart: level \(status.level.name), \(configuration.rules.count) rules, \(configuration.sensors.count) sensors")
        await publish(status, queueDepth: await queue.depth)
    }

    /// The final save on shutdown: the next start replays nothing.
    func finish() {
        writeSnapshot(pendingActions: [])
    }

    private func pingWatchdogIfDue() {
        guard let interval = notifier.watchdogIntervalMilliseconds else { return }
        let now = monotonicMilliseconds()
        if now - lastWatchdogMilliseconds >= interval {
            notifier.notify("WATCHDOG=1")
            lastWatchdogMilliseconds = now
        }
    }

    private func publish(_ status: StationStatus, queueDepth: Int = 0) async {
        // The outputs carry out a decision at their own pace (a broadcast over the voice
        // module's line, an SMS over the modem's): read what they do now, not what they did
        // when the last decision was handed over.
        lastOutputs = await outputs.snapshot()
        var counters = self.counters
        counters.queueDepth = queueDepth
        counters.queueDepthHighWater = await queue.depthHighWater
        counters.journalSequence = sequence
        counters.journalRecordsSinceSnapshot = store.journalRecords
        counters.journalBytesSinceSnapshot = store.journalBytes
        counters.snapshotsWritten = store.snapshotsWritten
        counters.lastSnapshotBytes = store.lastSnapshotBytes
        published.update(station: status, outputs: lastOutputs, counters: counters)
    }

    // MARK: The decision's log line

    private func decisionLine(_ event: Event, _ actions: [Action], at time: Timestamp) -> String {
        var parts: [String] = []
        var reports = 0
        var sms: [String] = []
        for action in actions {
            switch action {
            case .levelChanged(let change):
                parts.append("\(change.exercise ? "drill level" : "level") \(change.from.name) → \(change.to.name) (causes: \(change.causes.isEmpty ? "none" : change.causes.joined(separator: ", ")))")
            case .setSiren(let pattern, _): parts.append("siren \(pattern)")
            case .setLamp(let colour, _): parts.append("lamp \(colour?.rawValue ?? "off")")
            case .broadcast: parts.append("broadcast")
            case .sendSMS(let message): sms.append(message.contact.name)
            case .call(let call): parts.append("call \(call.contact.name)")
            case .enqueueReport: reports += 1
            }
        }
        if !sms.isEmpty { parts.append("SMS to \(sms.joined(separator: ", "))") }
        if reports > 0 { parts.append("\(reports) report\(reports == 1 ? "" : "s")") }
        return "decision at \(ISO8601.format(time, utcOffsetMinutes: utcOffsetMinutes)) on \(Self.describe(event.kind)): \(parts.joined(separator: "; "))"
    }

    static func describe(_ kind: Event.Kind) -> String {
        switch kind {
        case .tick: "time passing"
        case .tips(let sensor, let count): "\(count) tip\(count == 1 ? "" : "s") of \(sensor)"
        case .reading(let sensor, let value): "\(sensor) reading \(value)"
        case .readFailure(let sensor, let reason): "\(sensor) read failure (\(reason))"
        case .manual(let level, let by): "manual level \(level.name) by \(by)"
        case .countyWarning(let id, let level, _): "county warning \(id) at \(level.name)"
        case .countyCancel(let id): "county cancelling \(id)"
        case .acknowledge(let by, let channel): "acknowledgement by \(by)\(channel.map { " (\($0.rawValue))" } ?? "")"
        case .reply(let phone, let channel, let text): "\(channel.rawValue) answer from \(phone)\(text.isEmpty ? "" : ": \(text.prefix(40))")"
        case .callEnded(let phone, let reached, _): "call to \(phone) \(reached ? "picked up" : "not picked up")"
        case .clearLatch(let by): "latch cleared by \(by)"
        case .drillStart(let level, let by, let force): "\(level.name) drill started by \(by)\(force == true ? " (forced over a real blue)" : "")"
        case .drillStop(let by): "drill stopped by \(by)"
        }
    }
}

/// The daemon's own counters, for `status`.
struct RuntimeCounters: Codable, Equatable, Sendable {
    var eventsHandled = 0
    var decisions = 0
    var stateWriteFailures = 0
    var queueDepth = 0
    var queueDepthHighWater = 0
    var journalSequence: UInt64 = 0
    var journalRecordsSinceSnapshot = 0
    var journalBytesSinceSnapshot = 0
    var snapshotsWritten = 0
    var lastSnapshotBytes = 0
    var lastSnapshotTime: Timestamp?
}
