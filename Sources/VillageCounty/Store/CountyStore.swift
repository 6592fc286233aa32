// The county's store behind one protocol: SQLite for a county (`--db FILE`), PostgreSQL for a
// province (`--db postgres://…`). Both keep the same tables and the same guarantees, so the pull,
// and the dashboard that reads what it stored, work with either.
import ConfigurationFiles
import CountyDashboard
import CountyProtocol
import Foundation

/// Where the county keeps every report of every box. Implementations promise what the pull relies
/// on: `store` writes a whole page in ONE transaction and returns only once it is committed
/// durably (so the caller may then acknowledge it to the box); a report already stored is never
/// stored twice; a number sent again with other content is kept aside in `conflicts`, never
/// overwritten.
protocol CountyStore: Sendable {
    /// The database as a technician names it (a path, or a URL without its password).
    var location: String { get }
    /// Registers (or renames) the stations, all in one transaction (no write for one known as it
    /// is), and returns where each one's collection stands, in their order.
    func begin(_ stations: [PullStation]) async throws(CountyDatabaseError) -> [StationProgress]
    func progress(station: String) async throws(CountyDatabaseError) -> StationProgress
    /// Stores one checked page in one durable transaction (see above).
    func store(_ page: CheckedPage, station: String, atMilliseconds now: Int64) async throws(CountyDatabaseError) -> StoredPage
    /// The box confirmed the acknowledgement through `through`.
    func recordAcknowledged(station: String, through: Int64) async throws(CountyDatabaseError)
    /// A box answered with a last sequence below what was collected from it; nothing was pulled.
    func recordSeen(station: String, boxLastSequence: Int64, atMilliseconds now: Int64) async throws(CountyDatabaseError)
    /// How many reports are stored for a station.
    func reportCount(station: String) async throws(CountyDatabaseError) -> Int64
    /// Every station with where its collection stands, by id (for the dashboard and `stations`).
    func stations() async throws(CountyDatabaseError) -> [StoredStation]
    /// A station's reports after `after`, in sequence order, at most `limit`.
    func reports(station: String, after: Int64, limit: Int) async throws(CountyDatabaseError) -> [CountyReport]
    /// Lets go of connections; the store is not used after.
    func close() async
}

extension CountyStore {
    /// Registers (or renames) one station and returns where its collection stands.
    func begin(_ station: PullStation) async throws(CountyDatabaseError) -> StationProgress {
        try await begin([station])[0]
    }
}

/// One row of `stations`.
struct StoredStation: Sendable, Equatable {
    var id: String
    var name: String
    var url: String
    var progress: StationProgress
    var lastPullAtMilliseconds: Int64?
}

/// Opens the store `--db` names: a `postgres://` (or `postgresql://`) URL, or a SQLite path.
enum CountyStores {
    static func isPostgres(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    static func open(_ location: String) async throws(CountyDatabaseError) -> any CountyStore {
        if isPostgres(location) {
            return try await PostgresCountyStore.open(url: location)
        }
        return try CountyDatabase(path: location)
    }
}
