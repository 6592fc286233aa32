// The box's memory across restarts: a write-ahead journal of inputs and engine-state snapshots.
//
// Files in the state directory:
//   journal.log, journal.previous.log            input events, appended before they are acted on
//   engine-state.json, engine-state.previous.json  the engine state after some decision
// A snapshot rotates the journal: the current snapshot plus the journals since the previous one
// always rebuild the engine, and the previous snapshot with both journals rebuilds it when the
// current snapshot is damaged. So the disk holds at most two snapshots and two journals.
import Foundation
import WarningLogic

struct StateError: Error, CustomStringConvertible {
    var description: String
    /// The errno of the failed write, when there was one (ENOSPC: the disk is full).
    var errorNumber: Int32? = nil
}

/// One record of the journal.
enum JournalEntry: Codable, Equatable, Sendable {
    /// An input, numbered from 1 over the life of the state directory.
    case event(sequence: UInt64, event: Event)
    /// The actions of the decision saved with snapshot `snapshotNumber` were handed to the outputs.
    case performed(snapshotNumber: UInt64)
}

/// The engine state after one decision, and what that decision asked the outputs to do.
struct Snapshot: Codable, Equatable, Sendable {
    static let currentFormatVersion = 1
    var formatVersion: Int
    /// Counts snapshots; the journal's "performed" marker names one.
    var snapshotNumber: UInt64
    /// The last journal sequence the state includes.
    var sequence: UInt64
    var state: EngineState
    /// The inputs handled at the engine's last event time, so an input replaying a world
    /// (`--board sim`) knows which of the rows at that instant were already counted.
    var eventsAtLastTime: [Event]
    /// The actions of the decision that caused this snapshot; carried out again on start unless
    /// the journal says they were (a duplicate SMS is better than a missing one).
    var pendingActions: [Action]
}

/// What the start-up found on disk and rebuilt.
struct Recovery {
    var engine: Engine
    var lastSequence: UInt64
    var snapshotNumber: UInt64
    var eventsAtLastTime: [Event]
    /// Actions decided before the stop but maybe never carried out.
    var actionsToPerform: [Action]
    var replayedEvents: Int
    /// Where the state came from, for the start-up log line.
    var source: String
    /// Damage a technician must hear about (a corrupt snapshot, a gap in the journal).
    var problems: [String]
    /// Normal findings worth a log line (a torn last record after a power cut).
    var notes: [String]
}

final class StateStore {
    static let snapshotFileName = "engine-state.json"
    static let previousSnapshotFileName = "engine-state.previous.json"
    static let journalFileName = "journal.log"
    static let previousJournalFileName = "journal.previous.log"
    /// One event is well under 1 KiB (a county text is at most 500 characters); a record claiming
    /// more is damage, not data.
    static let journalRecordBytesMax = 8 * 1024
    /// A journal is rotated by a snapshot long before this; reading refuses more than twice it.
    static let journalBytesMax = 4 * 1024 * 1024
    /// A snapshot holds a week of tips per gauge at most; far more is damage.
    static let snapshotBytesMax = 16 * 1024 * 1024
    /// More inputs than this at one instant are not tracked for sim's resume (see Snapshot).
    static let eventsAtLastTimeMax = 1_024
    static let recordHeaderBytes = 8

    let directory: String
    /// Space kept back for the journal and snapshots on a full disk; nil: none (tools, tests).
    let reserve: DiskReserve?
    /// A write refused for lack of space is retried after drawing on the reserve, this often.
    static let noSpaceRetriesMax = 4
    private var journalDescriptor: Int32 = -1
    private(set) var journalBytes = 0
    private(set) var journalRecords = 0
    private(set) var snapshotsWritten = 0
    private(set) var lastSnapshotBytes = 0

    init(directory: String, reserve: DiskReserve? = nil) {
        self.directory = directory
        self.reserve = reserve
    }

    deinit {
        if journalDescriptor >= 0 { close(journalDescriptor) }
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    // MARK: Start-up

    /// Reads what the disk holds and rebuilds the engine. Never throws for damaged files: they are
    /// reported and the best remaining record is used, because a box that refuses to start during
    /// a storm warns nobody.
    func recover(configuration: EngineConfiguration) -> Recovery {
        var problems: [String] = []
        var notes: [String] = []
        var snapshot: Snapshot?
        var source = "a fresh engine (no saved state)"
        for name in [Self.snapshotFileName, Self.previousSnapshotFileName] {
            switch readSnapshot(path: path(name)) {
            case .missing:
                continue
            case .damaged(let reason):
                // The wall clock by design: the name tells a technician when it was found.
                let aside = path("\(name).corrupt-\(Int(Date().timeIntervalSince1970))")
                rename(path(name), aside)
                problems.append("the saved engine state \(path(name)) is damaged (\(reason)); moved it to \(aside)")
            case .valid(let found):
                if snapshot == nil {
                    snapshot = found
                    source = "\(path(name)) (snapshot \(found.snapshotNumber), journal sequence \(found.sequence))"
                }
            }
            if snapshot != nil { break }
        }
        var entries: [JournalEntry] = []
        for name in [Self.previousJournalFileName, Self.journalFileName] {
            let read = readJournal(path: path(name))
            entries += read.entries
            if let damage = read.damage {
                if name == Self.journalFileName && read.trailingBytes <= Self.journalRecordBytesMax + Self.recordHeaderBytes {
                    notes.append("dropped a torn last record in \(path(name)) (\(read.trailingBytes) bytes: the box stopped while writing it)")
                } else {
                    problems.append("\(path(name)) is damaged after \(read.entries.count) records (\(damage)); \(read.trailingBytes) bytes after it are not used")
                }
            }
        }

        var engine = snapshot.map { Engine(configuration: configuration, restoring: $0.state) } ?? Engine(configuration: configuration)
        if snapshot == nil && !entries.isEmpty {
            if problems.isEmpty {
                source = "the journal alone (no snapshot yet)"
            } else {
                source = "the journal alone: the engine is re-derived from the rain and readings on record"
            }
        }
        let baseSequence = snapshot?.sequence ?? 0
        var performedMarkers = Set<UInt64>()
        var events: [(UInt64, Event)] = []
        var seen = Set<UInt64>()
        for entry in entries {
            switch entry {
            case .performed(let number): performedMarkers.insert(number)
            case .event(let sequence, let event):
                if sequence > baseSequence, seen.insert(sequence).inserted { events.append((sequence, event)) }
            }
        }
        events.sort { $0.0 < $1.0 }
        var expected = baseSequence + 1
        var eventsAtLastTime = snapshot?.eventsAtLastTime ?? []
        var lastTime = snapshot.map { Engine(configuration: configuration, restoring: $0.state).status().time }
        var actions: [Action] = []
        if let snapshot, !performedMarkers.contains(snapshot.snapshotNumber) {
            actions += snapshot.pendingActions
        }
        for (sequence, event) in events {
            if sequence != expected {
                problems.append("journal records \(expected)…\(sequence - 1) are missing: inputs in that stretch are not counted")
            }
            expected = sequence + 1
            actions += engine.handle(event)
            Self.note(event, appliedAt: engine.status().time, previousTime: &lastTime, into: &eventsAtLastTime)
        }
        return Recovery(
            engine: engine, lastSequence: max(baseSequence, events.last?.0 ?? 0), snapshotNumber: snapshot?.snapshotNumber ?? 0,
            eventsAtLastTime: eventsAtLastTime, actionsToPerform: actions, replayedEvents: events.count,
            source: source, problems: problems, notes: notes)
    }

    /// Keeps the list of inputs handled at the engine's latest instant.
    static func note(_ event: Event, appliedAt time: Timestamp, previousTime: inout Timestamp?, into list: inout [Event]) {
        if previousTime.map({ time > $0 }) ?? true {
            list.removeAll()
            previousTime = time
        }
        if event.kind != .tick, list.count < eventsAtLastTimeMax { list.append(event) }
    }

    enum SnapshotRead {
        case missing
        case damaged(String)
        case valid(Snapshot)
    }

    /// A snapshot file: one header line `village-gateway-state <version> <length> <crc32 hex>`,
    /// then `length` bytes of JSON. The checksum is checked before the JSON is trusted.
    func readSnapshot(path: String) -> SnapshotRead {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return FileManager.default.fileExists(atPath: path) ? .damaged("cannot be opened: check its permissions") : .missing
        }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: Self.snapshotBytesMax + 256) else { return .damaged("cannot be read") }
        let bytes = [UInt8](data)
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return .damaged("no header line (empty or truncated file)") }
        let header = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard header.count == 4, header[0] == "village-gateway-state", let version = Int(header[1]),
            let length = Int(header[2]), let crc = UInt32(header[3], radix: 16)
        else { return .damaged("the header line is not a state header") }
        guard version == Snapshot.currentFormatVersion else { return .damaged("format version \(version); this program reads \(Snapshot.currentFormatVersion)") }
        let body = bytes[(newline + 1)...]
        guard body.count == length else { return .damaged("\(body.count) bytes of state where the header says \(length) (truncated)") }
        guard CRC32.checksum(body) == crc else { return .damaged("checksum mismatch") }
        do {
            let snapshot = try JSONDecoder().decode(Snapshot.self, from: Data(body))
            guard snapshot.formatVersion == Snapshot.currentFormatVersion else { return .damaged("format version mismatch inside the file") }
            return .valid(snapshot)
        } catch {
            return .damaged("the state does not decode: \(error)")
        }
    }

    struct JournalRead {
        var entries: [JournalEntry]
        var damage: String?
        var trailingBytes: Int
    }

    /// Records are `[length: UInt32 LE][crc32: UInt32 LE][JSON]`; reading stops at the first
    /// record that is short, oversized or fails its checksum (a torn tail after a power cut).
    func readJournal(path: String) -> JournalRead {
        guard let handle = FileHandle(forReadingAtPath: path) else { return JournalRead(entries: [], damage: nil, trailingBytes: 0) }
        defer { try? handle.close() }
        let bytes = [UInt8]((try? handle.read(upToCount: 2 * Self.journalBytesMax)) ?? Data())
        var entries: [JournalEntry] = []
        var offset = 0
        let decoder = JSONDecoder()
        while offset < bytes.count {
            func fail(_ reason: String) -> JournalRead {
                JournalRead(entries: entries, damage: reason, trailingBytes: bytes.count - offset)
            }
            guard bytes.count - offset >= Self.recordHeaderBytes else { return fail("a record header is cut short") }
            let length = Int(Self.readUInt32(bytes, at: offset))
            let crc = Self.readUInt32(bytes, at: offset + 4)
            guard length > 0, length <= Self.journalRecordBytesMax else { return fail("a record claims \(length) bytes") }
            let start = offset + Self.recordHeaderBytes
            guard bytes.count - start >= length else { return fail("a record is cut short") }
            let body = bytes[start..<(start + length)]
            guard CRC32.checksum(body) == crc else { return fail("a record fails its checksum") }
            guard let entry = try? decoder.decode(JournalEntry.self, from: Data(body)) else { return fail("a record does not decode") }
            entries.append(entry)
            offset = start + length
        }
        return JournalRead(entries: entries, damage: nil, trailingBytes: 0)
    }

    static func readUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    // MARK: Writing

    /// Opens the journal for appending (after recovery, which read it whole).
    func openJournal() throws(StateError) {
        if journalDescriptor >= 0 { return }
        let journal = path(Self.journalFileName)
        let descriptor = open(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StateError(description: "cannot open the journal \(journal): \(String(cString: strerror(errno)))")
        }
        journalDescriptor = descriptor
        var info = stat()
        fstat(descriptor, &info)
        journalBytes = Int(info.st_size)
        syncDirectory()
    }

    /// Appends one record; with `sync`, it is on the disk when this returns (tips, people, county).
    func append(_ entry: JournalEntry, sync: Bool) throws(StateError) {
        try openJournal()
        let body: [UInt8]
        do {
            body = [UInt8](try JSONEncoder().encode(entry))
        } catch {
            preconditionFailure("a journal entry always encodes: \(error)")
        }
        // Checked before it is written: a record the reader would refuse must never reach the disk.
        precondition(body.count <= Self.journalRecordBytesMax, "journal record of \(body.count) bytes exceeds journalRecordBytesMax")
        var record = [UInt8]()
        record.reserveCapacity(body.count + Self.recordHeaderBytes)
        for value in [UInt32(body.count), CRC32.checksum(body)] {
            record += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
        }
        record += body
        try withReserve(needing: record.count, for: "a journal record") { () throws(StateError) in
            do throws(StateError) {
                try writeAll(journalDescriptor, record, what: "the journal \(path(Self.journalFileName))")
            } catch {
                // A record cut short by a full disk must not stay: every record after it would be
                // unreadable at recovery. Back to the last whole record (O_APPEND writes at the end).
                _ = ftruncate(journalDescriptor, off_t(journalBytes))
                throw error
            }
            if sync, fsync(journalDescriptor) != 0 {
                let number = errno
                throw StateError(
                    description: "fsync of the journal \(path(Self.journalFileName)) failed: \(String(cString: strerror(number)))", errorNumber: number)
            }
        }
        journalBytes += record.count
        journalRecords += 1
    }

    /// Makes every record appended so far durable: the state writer's one fsync for a batch of
    /// records (group commit), instead of one per record.
    func syncJournal() throws(StateError) {
        guard journalDescriptor >= 0 else { return }
        if fsync(journalDescriptor) != 0 {
            let number = errno
            throw StateError(
                description: "fsync of the journal \(path(Self.journalFileName)) failed: \(String(cString: strerror(number)))", errorNumber: number)
        }
    }

    /// Saves `snapshot` and rotates the journal (see the file comment for why this order is safe).
    func writeSnapshot(_ snapshot: Snapshot) throws(StateError) {
        let body: [UInt8]
        do {
            body = [UInt8](try JSONEncoder().encode(snapshot))
        } catch {
            preconditionFailure("the engine state always encodes: \(error)")
        }
        precondition(body.count <= Self.snapshotBytesMax, "a snapshot of \(body.count) bytes exceeds snapshotBytesMax")
        // Checked right before writing: what goes to disk must read back as this very state.
        guard let decoded = try? JSONDecoder().decode(Snapshot.self, from: Data(body)), decoded == snapshot else {
            throw StateError(description: "the engine state does not read back as written; the snapshot is not saved (the journal still holds every input)")
        }
        let header = Array("village-gateway-state \(Snapshot.currentFormatVersion) \(body.count) \(String(CRC32.checksum(body), radix: 16))\n".utf8)
        let current = path(Self.snapshotFileName)
        let previous = path(Self.previousSnapshotFileName)
        try withReserve(needing: header.count + body.count, for: "a snapshot of the engine state", replenishing: true) { () throws(StateError) in
            do throws(FileWriteError) {
                // Keep the snapshot before this one: with the journal before it, it rebuilds the
                // engine should this new one ever read back damaged.
                try writeFileAtomically(path: current, bytes: header + body) {
                    if access(current, F_OK) == 0 { rename(current, previous) }
                }
            } catch {
                throw StateError(description: error.description, errorNumber: error.errorNumber)
            }
        }
        if journalDescriptor >= 0 {
            close(journalDescriptor)
            journalDescriptor = -1
        }
        rename(path(Self.journalFileName), path(Self.previousJournalFileName))
        journalBytes = 0
        journalRecords = 0
        syncDirectory()
        try openJournal()
        snapshotsWritten += 1
        lastSnapshotBytes = header.count + body.count
    }

    /// Runs `write`; when the disk is full, draws what it needs from the reserve and runs it
    /// again.    /// After a snapshot (every few minutes, not every tip) the reserve is topped up again if
    /// the disk has room.
    private func withReserve(
        needing bytes: Int, for what: String, replenishing: Bool = false, _ write: () throws(StateError) -> Void
    ) throws(StateError) {
        var attempt = 0
        while true {
            do {
                try write()
                if replenishing, let reserve, reserve.heldBytes < reserve.bytesMax { reserve.replenish() }
                return
            } catch {
                attempt += 1
                guard isNoSpace(error.errorNumber), attempt <= Self.noSpaceRetriesMax, let reserve,
                    reserve.release(atLeast: 2 * bytes, for: what) > 0
                else { throw error }
            }
        }
    }

    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8], what: String) throws(StateError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + written, bytes.count - written)
            }
            if result < 0 {
                let number = errno
                if number == EINTR { continue }
                throw StateError(description: "writing \(what) failed: \(String(cString: strerror(number)))", errorNumber: number)
            }
            written += result
        }
    }

    private func syncDirectory() {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }
}
