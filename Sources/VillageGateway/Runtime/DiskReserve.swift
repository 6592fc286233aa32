// Space held back on the state directory's file system for what the box must not forget: when
// the disk fills (a growing outbox, a log, anything), the engine's journal and snapshots still
// get written, so a restart resumes a latched red instead of `none`.
import Foundation
import Logging
import Synchronization

/// A file of allocated blocks (`STATE_DIR/space.reserve`). On a full disk the state store gives
/// back just what one write needs and writes again; the file is topped up again when there is
/// room. Never more than `bytesMax`, never a byte of data in it.
final class DiskReserve: Sendable {
    static let fileName = "space.reserve"
    /// Several snapshots of a stormy week (a snapshot is tens of KiB; a week of tips per gauge at
    /// most a few MiB) and thousands of journal records: 8 MiB of an SD card.
    static let bytesMaxDefault = 8 * 1024 * 1024
    /// Given back at least this much at a time: other writers (SQLite) may take some of it first.
    static let releaseBytesMin = 64 * 1024
    static let releasesLoggedInARow = 3
    static let releasesLogEvery = 100

    let path: String
    let bytesMax: Int
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var heldBytes = 0
        var releases = 0
        var bytesReleased = 0
    }

    init(directory: String, bytesMax: Int = DiskReserve.bytesMaxDefault, logger: Logger) {
        precondition(bytesMax >= 0)
        path = "\(directory)/\(Self.fileName)"
        self.bytesMax = bytesMax
        self.logger = logger
        var info = stat()
        if stat(path, &info) == 0 { state.withLock { $0.heldBytes = Int(info.st_blocks) * 512 } }
    }

    var heldBytes: Int { state.withLock { $0.heldBytes } }
    /// Times the reserve was drawn on since start, for `status`.
    var releases: Int { state.withLock { $0.releases } }

    /// Tops the reserve up to `bytesMax` if the disk has room; returns the bytes held. Cheap when
    /// full (one stat), and when the disk is full (posix_fallocate fails at once).
    @discardableResult
    func replenish() -> Int {
        state.withLock { state in
            guard state.heldBytes < bytesMax else { return state.heldBytes }
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { return state.heldBytes }
            defer { close(descriptor) }
            // All of it or, on a nearly full disk, as much as fits in 64 KiB steps: a part of
            // the reserve is worth more than none.
            var size = bytesMax
            while size >= Self.releaseBytesMin {
                if posix_fallocate(descriptor, 0, off_t(size)) == 0 { break }
                size /= 2
            }
            var info = stat()
            if fstat(descriptor, &info) == 0 {
                // Blocks really allocated, not the length: a failed fallocate may leave the file long.
                let allocated = Int(info.st_blocks) * 512
                if allocated > bytesMax { _ = ftruncate(descriptor, off_t(bytesMax)) }
                state.heldBytes = min(allocated, bytesMax)
                if Int(info.st_size) > state.heldBytes { _ = ftruncate(descriptor, off_t(state.heldBytes)) }
            }
            fsync(descriptor)
            return state.heldBytes
        }
    }

    /// Gives back at least `bytes` (rounded up to `releaseBytesMin`) for a write the full disk
    /// refused; returns how much was freed, 0 when the reserve is used up. Logged: a technician
    /// must free space before the reserve runs out.
    func release(atLeast bytes: Int, for what: String) -> Int {
        let freed: Int = state.withLock { state in
            guard state.heldBytes > 0 else { return 0 }
            let give = min(state.heldBytes, max(bytes, Self.releaseBytesMin))
            let keep = state.heldBytes - give
            guard truncate(path, off_t(keep)) == 0 else { return 0 }
            state.heldBytes = keep
            state.releases += 1
            state.bytesReleased += give
            return give
        }
        // Said at once, then now and then: on a full disk every tip may draw on it.
        let releases = self.releases
        if freed > 0, releases <= Self.releasesLoggedInARow || releases % Self.releasesLogEvery == 0 {
            logger.critical("""
                disk full: released \(freed / 1024) KiB of the state reserve \(path) to write \(what) (release \(releases)); \(heldBytes / 1024) KiB left. \
                Free space on this file system now (old logs, copies), or the box's state stops being saved.
                """)
        }
        return freed
    }
}

/// Write errors that mean "no space": the reserve can help with these, with nothing else.
func isNoSpace(_ errorNumber: Int32?) -> Bool {
    errorNumber == ENOSPC || errorNumber == EDQUOT
}
