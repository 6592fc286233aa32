// `village-gateway county pull`: the county side of the pull API (docs/county-api.md), collecting
// every box's reports into the county's own SQLite database.
import ArgumentParser
import Foundation
import WarningLogic

struct CountyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "county",
        abstract: "The county side: collect the boxes' reports.",
        subcommands: [CountyPullCommand.self, CountyBenchOutboxCommand.self]
    )
}

struct CountyPullCommand: AsyncParsableCommand {
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

    @Option(help: ArgumentHelp("The county database (SQLite); created if absent.", valueName: "file"))
    var db: String

    @Option(help: ArgumentHelp("Stations pulled at once, \(PullOptions.concurrencyAllowed.lowerBound)-\(PullOptions.concurrencyAllowed.upperBound).", valueName: "n"))
    var concurrency: Int = PullOptions().concurrency

    @Option(help: ArgumentHelp("Seconds each request may take, \(PullOptions.timeoutSecondsAllowed.lowerBound)-\(PullOptions.timeoutSecondsAllowed.upperBound).", valueName: "s"))
    var timeout: Int = Int(PullOptions().timeoutMilliseconds / 1_000)

    func validate() throws {
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
        let database: CountyDatabase
        do {
            database = try CountyDatabase(path: db)
        } catch {
            printError("\(error.description); nothing was pulled")
            throw Status.unusableInput
        }
        var options = PullOptions()
        options.concurrency = concurrency
        options.timeoutMilliseconds = Int64(timeout) * 1_000
        let results = await CountyPuller(database: database, options: options).pull(list)
        FileHandle.standardOutput.write(Data(PullSummary.render(results, databasePath: db).utf8))
        if results.contains(where: { $0.failure != nil || $0.stoppedAtPageLimit }) { throw Status.notAllPulled }
        if results.contains(where: { !$0.isComplete }) { throw Status.boxFault }
    }
}

/// `county bench-outbox` (hidden; run by Benchmarks/Outbox/run.sh): appends observation summaries
/// to an outbox file through the box's own `Outbox`, one transaction (one fsync) per `--batch`,
/// and prints durable reports stored per second. The filled file is the backlog the pull
/// benchmark collects.
struct CountyBenchOutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-outbox",
        abstract: "Benchmark: durable outbox appends per second (prints figures; fills FILE).",
        shouldDisplay: false
    )

    /// A benchmark that needs more than this is measuring the disk's size, not its speed.
    static let reportsAllowed = 1...10_000_000

    @Option(help: ArgumentHelp("The outbox file to fill (created if absent).", valueName: "file"))
    var outbox: String

    @Option(help: "Reports to append.")
    var reports: Int = 2_000

    @Option(help: "Reports per transaction: 1 is one fsync per report, as the engine's single reports are.")
    var batch: Int = 1

    func validate() throws {
        guard Self.reportsAllowed.contains(reports) else { throw ValidationError("--reports \(reports): allowed 1 to \(Self.reportsAllowed.upperBound)") }
        guard (1...OutboxLimits.standard.reportsPerPullMax).contains(batch) else {
            throw ValidationError("--batch \(batch): allowed 1 to \(OutboxLimits.standard.reportsPerPullMax)")
        }
    }

    func run() throws {
        let store: Outbox
        do {
            // The benchmark fills past the box's size limit on purpose: nothing is thinned here.
            var limits = OutboxLimits.standard
            limits.outboxBytesMax = .max / 2
            limits.outboxBytesAfterThinning = .max / 2
            store = try Outbox(path: outbox, limits: limits)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let startTime = Timestamp(millisecondsSinceUnixEpoch: 1_784_000_000_000)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func report(_ index: Int) -> OutboxReport {
            // An 8-sensor hourly summary, about the size a real box stores.
            let summary = ObservationSummary(
                observedAtMilliseconds: startTime.millisecondsSinceUnixEpoch + Int64(index) * 3_600_000, periodMilliseconds: 3_600_000,
                level: "none", supplyVolts: 12.6,
                sensors: (0..<8).map { sensor in
                    ObservedSensor(
                        id: "rain\(sensor)", kind: "rain_gauge", faulty: false, rainMillimetersPeriod: Double(index % 97) / 10,
                        rainMillimetersTotal: Double(index % 99_999) / 10, rainMillimeters1h: Double(index % 97) / 10,
                        rainMillimeters6h: Double(index % 300) / 10, rainMillimetersToday: Double(index % 500) / 10,
                        waterLevelMeters: nil, displacementMillimeters: nil)
                })
            let payload = String(decoding: try! encoder.encode(summary), as: UTF8.self)
            return OutboxReport(
                time: startTime.adding(milliseconds: Int64(index) * 3_600_000), kind: ObservationSummary.kind, priority: .routine,
                exercise: false, payload: payload)
        }
        let prepared = (0..<reports).map(report)
        let started = monotonicNanoseconds()
        do {
            var index = 0
            while index < prepared.count {
                let end = min(index + batch, prepared.count)
                _ = try store.appendBatch(Array(prepared[index..<end]))
                index = end
            }
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        let bytes = prepared.first.map { $0.payload.utf8.count } ?? 0
        print(String(
            format: "outbox appends, %d per transaction: %d reports (%d-byte payloads) in %.2f s = %.0f durable reports/s",
            batch, reports, bytes, seconds, Double(reports) / seconds))
    }
}
