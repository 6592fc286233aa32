// The state's one writer: journal records and snapshots go to the disk on a thread of their own,
// in batches (group commit), so that no decision's outputs wait for an fsync.
import Foundation
import Logging
import WarningLogic

/// One write the engine owner hands over, in decision order.
enum StateWrite: Sendable {
    /// A journal record; `sync`: it must be on the disk before what waits for it is carried out.
    case record(JournalEntry, sync: Bool)
    /// A snapshot (it rotates the journal). A later snapshot in the same batch supersedes it: the
    /// owner puts every action still owed into each snapshot it takes, so skipping one loses
    /// nothing.
    case snapshot(Snapshot, engineTime: Timestamp?)
}

/// What `status` shows of the writer.
struct StateWriterCounters: Equatable, Sendable {
    var journalBytes = 0
    var journalRecords = 0
    var snapshotsWritten = 0
    var lastSnapshotBytes = 0
    var lastSnapshotTime: Timestamp?
    var stateWriteFailures = 0
    /// Writes waiting for the thread, and the most that ever waited.
    var writesQueued = 0
    var writesQueuedHighWater = 0
    /// Batches written, and writes they held: more than one write per batch is group commit at work.
    var batches = 0
    var batchedWrites = 0
}

/// Owns the `StateStore` on a dedicated thread. The owner submits writes without waiting (unless
/// `writesQueuedMax` are already waiting: then the disk has fallen far behind and the owner waits
/// for room); the thread takes everything waiting as one batch, writes the records, writes only
/// the batch's last snapshot, and fsyncs the journal once for the whole batch. Each submitted
/// write has a ticket; `durable(through:)` waits until the batch holding that ticket is on the
/// disk (or has failed: a dead disk must not stop an SMS).
///
/// `@unchecked Sendable`: a thread with a condition variable, not a value behind a lock. Every
/// field below `condition` is touched only with it held, and `store` only on the writer thread
/// (after `init` hands it over), so no two threads ever share it.
final class StateWriter: @unchecked Sendable {
    /// Writes waiting for the disk before the owner waits for room. A storm is a few events a
    /// second; 4096 is minutes of a stalled SD card. Beyond that the box has bigger problems than
    /// latency, and waiting keeps memory bounded.
    static let writesQueuedMax = 4_096
    /// State write failures logged one by one; after that every `failuresLogEvery`th.
    static let failuresLoggedInARow = 3
    static let failuresLogEvery = 1_000

    let directory: String
    private let store: StateStore
    private let logger: Logger
    private let utcOffsetMinutes: Int
    private let condition = NSCondition()
    private var pending: [(ticket: UInt64, write: StateWrite)] = []
    private var submittedTicket: UInt64 = 0
    private var durableTicket: UInt64 = 0
    private var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    private var counters = StateWriterCounters()
    /// Closed: the thread writes what is waiting and ends; later writes are dropped (only a
    /// performed marker can come that late, and without it a restart carries the actions out again).
    private var closed = false
    private var ended = false
    /// Called on the writer thread before each batch: the seam where a test makes the disk stall.
    private let beforeBatch: (@Sendable () -> Void)?

    init(store: sending StateStore, logger: Logger, utcOffsetMinutes: Int, beforeBatch: (@Sendable () -> Void)? = nil) {
        self.beforeBatch = beforeBatch
        self.store = store
        self.directory = store.directory
        self.logger = logger
        self.utcOffsetMinutes = utcOffsetMinutes
        counters.journalBytes = store.journalBytes
        counters.journalRecords = store.journalRecords
        let thread = Thread { [self] in writeForever() }
        thread.name = "state-writer"
        thread.start()
    }

    /// Hands over a write and returns its ticket at once, unless `writesQueuedMax` writes are
    /// waiting (`waitForRoom`; the owner's own thread waits, never the cooperative pool's).
    /// Markers of performed actions do not wait: their number is bounded by the owed decisions.
    @discardableResult
    func submit(_ write: StateWrite, waitForRoom: Bool = true) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        while waitForRoom && pending.count >= Self.writesQueuedMax && !ended { condition.wait() }
        guard !ended else { return submittedTicket }
        submittedTicket += 1
        pending.append((submittedTicket, write))
        counters.writesQueued = pending.count
        counters.writesQueuedHighWater = max(counters.writesQueuedHighWater, pending.count)
        condition.broadcast()
        return submittedTicket
    }

    /// The ticket of the last write handed over.
    var lastTicket: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return submittedTicket
    }

    /// Returns once the write with `ticket`, and every write before it, has been written (and
    /// fsynced when asked), or has failed (the failure is logged and counted).
    func durable(through ticket: UInt64) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if durableTicket >= ticket || ended {
                condition.unlock()
                continuation.resume()
                return
            }
            waiters.append((ticket, continuation))
            condition.unlock()
        }
    }

    /// Returns once everything handed over so far is written.
    func flush() async {
        await durable(through: lastTicket)
    }

    /// Ends the thread once what is waiting is written.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var currentCounters: StateWriterCounters {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    // MARK: The writer thread

    private func writeForever() {
        while true {
            condition.lock()
            while pending.isEmpty && !closed { condition.wait() }
            if pending.isEmpty {
                ended = true
                let left = waiters
                waiters.removeAll()
                condition.broadcast()
                condition.unlock()
                for waiter in left { waiter.continuation.resume() }
                return
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            counters.writesQueued = 0
            condition.broadcast()  // owners waiting for room
            condition.unlock()

            beforeBatch?()
            var written: (bytes: Int, time: Timestamp?)? = nil
            write(batch.map(\.write), snapshotWritten: &written)

            condition.lock()
            durableTicket = batch.last!.ticket
            counters.journalBytes = store.journalBytes
            counters.journalRecords = store.journalRecords
            counters.snapshotsWritten = store.snapshotsWritten
            if let written {
                counters.lastSnapshotBytes = written.bytes
                counters.lastSnapshotTime = written.time
            }
            counters.batches += 1
            counters.batchedWrites += batch.count
            let ready = waiters.filter { $0.ticket <= durableTicket }
            waiters.removeAll { $0.ticket <= durableTicket }
            condition.unlock()
            for waiter in ready { waiter.continuation.resume() }
        }
    }

    /// One batch: records appended in order, only the last snapshot written, one journal fsync.
    private func write(_ batch: [StateWrite], snapshotWritten: inout (bytes: Int, time: Timestamp?)?) {
        let lastSnapshotIndex = batch.lastIndex { if case .snapshot = $0 { true } else { false } }
        var unsynced = false
        for (index, write) in batch.enumerated() {
            switch write {
            case .record(let entry, let sync):
                do {
                    try store.append(entry, sync: false)
                    unsynced = unsynced || sync
                } catch {
                    failed(error)
                }
            case .snapshot(let snapshot, let engineTime):
                guard index == lastSnapshotIndex else { continue }
                // The records before the snapshot stay in the previous journal: with the previous
                // snapshot they rebuild the engine should this one read back damaged, so they are
                // made durable before the rotation.
                if unsynced { sync() }
                unsynced = false
                do {
                    try store.writeSnapshot(snapshot)
                    snapshotWritten = (store.lastSnapshotBytes, engineTime)
                } catch {
                    failed(error)
                }
            }
        }
        if unsynced { sync() }
    }

    private func sync() {
        do {
            try store.syncJournal()
        } catch {
            failed(error)
        }
    }

    /// The box keeps warning without its disk; the technician must know what a restart would lose.
    private func failed(_ error: StateError) {
        condition.lock()
        counters.stateWriteFailures += 1
        let failures = counters.stateWriteFailures
        let lastSnapshotTime = counters.lastSnapshotTime
        condition.unlock()
        // A full or dead disk fails every event: say it at once, then now and then, not per tip.
        guard failures <= Self.failuresLoggedInARow || failures % Self.failuresLogEvery == 0 else { return }
        let since = lastSnapshotTime.map { "since \(ISO8601.format($0, utcOffsetMinutes: utcOffsetMinutes))" } ?? "so far"
        logger.error("cannot write state to \(directory): \(error.description) — warnings continue, but a restart would lose the inputs \(since)")
    }
}
