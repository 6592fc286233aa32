// `village-county pull`: the county side of the pull API (docs/county-api.md), collecting every
// box's reports into the county's own database.
import ArgumentParser
import ConfigurationFiles
import Foundation
import WarningLogic

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Pull every box's new reports into the county database and acknowledge them.",
        discussion: """
            Each station is pulled from the last sequence stored for it, page by page; each page \
            is committed to the database (SQLite, WAL, synchronous=FULL) before it is acknowledged \
            to the box, so a pull killed at any moment loses nothing and stores nothing twice. \
            Gaps the box declares (routine reports it thinned when full) are recorded; numbers \
            missing without a gap are recorded and reported as a fault on the box.

            The stations file lists one [[station]] block per box:
              [[station]]
              id = "0011223344"               # the box's [station] id
              name = "黄坑村"
              url = "http://10.0.0.7:8651"    # its [county.api] listen
              key_file = "keys/0011223344.hex"  # its [county.api] key

            Exit status: 0 every station pulled and acknowledged, nothing unexplained; 1 a station \
            could not be pulled (unreachable, refused, bad answer, not stored or not acknowledged; \
            the others were pulled); 2 the stations file or the database is unusable, nothing \
            pulled; 3 all pulled, but a box has numbers missing without a gap or sent a number \
            twice with different content; 64 bad arguments.
            """
    )

    enum Status {
        static let notAllPulled = ExitCode(1)
        static let unusableInput = ExitCode(2)
        static let boxFault = ExitCode(3)
    }

    @Option(help: ArgumentHelp("The stations file (TOML, [[station]] blocks).", valueName: "file"))
    var stations: String

    @Option(help: ArgumentHelp(
        "The county database: a SQLite file (created if absent), or a PostgreSQL URL postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (postgres://USER@/DATABASE?host=/run/postgresql on a socket; the tables are created if absent).",
        valueName: "file|url"))
    var db: String

    @Option(help: ArgumentHelp("Stations pulled at once, \(PullOptions.concurrencyAllowed.lowerBound)-\(PullOptions.concurrencyAllowed.upperBound).", valueName: "n"))
    var concurrency: Int = PullOptions().concurrency

    @Option(help: ArgumentHelp("Seconds each request may take, \(PullOptions.timeoutSecondsAllowed.lowerBound)-\(PullOptions.timeoutSecondsAllowed.upperBound).", valueName: "s"))
    var timeout: Int = Int(PullOptions().timeoutMilliseconds / 1_000)

    @Option(help: ArgumentHelp("Reports asked per page, \(PullOptions.reportsPerPageAllowed.lowerBound)-\(PullOptions.reportsPerPageAllowed.upperBound).", valueName: "n"))
    var pageSize: Int = PullOptions().reportsPerPage

    func validate() throws {
        guard PullOptions.reportsPerPageAllowed.contains(pageSize) else {
            throw ValidationError("--page-size \(pageSize): allowed \(PullOptions.reportsPerPageAllowed.lowerBound) to \(PullOptions.reportsPerPageAllowed.upperBound) reports")
        }
        guard PullOptions.concurrencyAllowed.contains(concurrency) else {
            throw ValidationError("--concurrency \(concurrency): allowed \(PullOptions.concurrencyAllowed.lowerBound) to \(PullOptions.concurrencyAllowed.upperBound) stations at once")
        }
        guard PullOptions.timeoutSecondsAllowed.contains(timeout) else {
            throw ValidationError("--timeout \(timeout): allowed \(PullOptions.timeoutSecondsAllowed.lowerBound) to \(PullOptions.timeoutSecondsAllowed.upperBound) seconds")
        }
    }

    func run() async throws {
        let list: [PullStation]
        do {
            list = try StationsFile.load(path: stations)
        } catch {
            printError(error.description)
            printError("\(stations): not accepted; nothing was pulled")
            throw Status.unusableInput
        }
        let database: any CountyStore
        do {
            database = try await CountyStores.open(db)
        } catch {
            printError("\(error.description); nothing was pulled")
            throw Status.unusableInput
        }
        var options = PullOptions()
        options.concurrency = concurrency
        options.timeoutMilliseconds = Int64(timeout) * 1_000
        options.reportsPerPage = pageSize
        let results = await CountyPuller(database: database, options: options).pull(list)
        await database.close()
        FileHandle.standardOutput.write(Data(PullSummary.render(results, databasePath: database.location).utf8))
        if results.contains(where: { $0.failure != nil || $0.stoppedAtPageLimit }) { throw Status.notAllPulled }
        if results.contains(where: { !$0.isComplete }) { throw Status.boxFault }
    }
}
