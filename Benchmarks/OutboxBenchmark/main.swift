// OutboxBenchmark (run by Benchmarks/Outbox/run.py): appends observation summaries to an outbox
// file through the box's own `Outbox`, one transaction (one fsync) per `--batch`, and prints
// durable reports stored per second. The filled file is the backlog the pull benchmark collects.
import ArgumentParser
import CountyProtocol
import Foundation
import OutboxStore
import WarningLogic

@main
struct OutboxBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "OutboxBenchmark",
        abstract: "Benchmark: durable outbox appends per second (prints figures; fills FILE)."
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
        func report(_ index: Int) -> OutboxReport {
            // An 8-sensor hourly summary with the box's field names, about the size a real box stores.
            let summary: [String: Any] = [
                "observedAtMilliseconds": startTime.millisecondsSinceUnixEpoch + Int64(index) * 3_600_000,
                "periodMilliseconds": 3_600_000, "level": "none", "supplyVolts": 12.6,
                "sensors": (0..<8).map { sensor -> [String: Any] in
                    [
                        "id": "rain\(sensor)", "kind": "rain_gauge", "faulty": false, "rainMillimetersPeriod": Double(index % 97) / 10,
                        "rainMillimetersTotal": Double(index % 99_999) / 10, "rainMillimeters1h": Double(index % 97) / 10,
                        "rainMillimeters6h": Double(index % 300) / 10, "rainMillimetersToday": Double(index % 500) / 10,
                    ]
                },
            ]
            // A dictionary of strings, numbers and arrays always serializes.
            let payload = String(decoding: try! JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self)
            return OutboxReport(
                time: startTime.adding(milliseconds: Int64(index) * 3_600_000), kind: "observationSummary", priority: .routine,
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

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}
