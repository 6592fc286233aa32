// Outbox failures as typed errors a technician can read; the engine owner keeps warning on any of them.
import GRDB

package enum OutboxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened at all (missing folder, a directory in its place, no permission).
    case cannotOpen(path: String, detail: String)
    /// SQLITE_FULL or no space left on the device.
    case diskFull(path: String)
    /// The file or its folder is read-only.
    case readOnly(path: String)
    /// The file is damaged or is not an outbox database.
    case corrupt(path: String, detail: String)
    case payloadTooLarge(bytes: Int, bytesMax: Int)
    case payloadNotJSON(kind: String)
    /// Any other SQLite failure, with SQLite's own words.
    case database(path: String, detail: String)

    package var description: String {
        switch self {
        case .cannotOpen(let path, let detail):
            "outbox \(path): cannot open the report store (\(detail)); check that the folder exists, "
                + "is not replaced by something else, and is writable. Warnings continue; reports are not being kept."
        case .diskFull(let path):
            "outbox \(path): the disk is full; new reports cannot be stored. Free space on the storage card. "
                + "Warnings continue; reports are not being kept."
        case .readOnly(let path):
            "outbox \(path): the report store is read-only (the card may have been remounted read-only after an error). "
                + "Warnings continue; reports are not being kept."
        case .corrupt(let path, let detail):
            "outbox \(path): the report store is damaged (\(detail)); move the file aside so a new one is made, "
                + "and keep the old one for recovery. Warnings continue."
        case .payloadTooLarge(let bytes, let bytesMax):
            "outbox: a report payload of \(bytes) bytes exceeds payloadBytesMax (\(bytesMax) bytes); it was not stored."
        case .payloadNotJSON(let kind):
            "outbox: the payload of a \(kind) report is not valid JSON of its kind's shape; it was not stored."
        case .database(let path, let detail):
            "outbox \(path): the report store failed (\(detail)). Warnings continue."
        }
    }

    /// Maps SQLite's result codes onto what a technician can act on.
    package static func from(_ error: any Error, path: String, opening: Bool) -> OutboxError {
        if let error = error as? OutboxError { return error }
        guard let databaseError = error as? DatabaseError else {
            return opening ? .cannotOpen(path: path, detail: "\(error)") : .database(path: path, detail: "\(error)")
        }
        let detail = databaseError.message ?? "\(databaseError.resultCode)"
        switch databaseError.resultCode {
        case .SQLITE_FULL: return .diskFull(path: path)
        case .SQLITE_READONLY: return .readOnly(path: path)
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: return .corrupt(path: path, detail: detail)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH: return .cannotOpen(path: path, detail: detail)
        case .SQLITE_IOERR:
            return opening ? .cannotOpen(path: path, detail: detail) : .database(path: path, detail: detail)
        default:
            return opening ? .cannotOpen(path: path, detail: detail) : .database(path: path, detail: detail)
        }
    }
}
