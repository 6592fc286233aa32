// The footprint floor: the least a Swift program of ours can be resident as, built three ways by
// Benchmarks/Footprint/run.py (-D FLOOR_FOUNDATION, -D FLOOR_ESSENTIALS, neither), each with the
// Swift runtime dynamic, static, and static with the box's release link flags (Package.swift).
// Once a second it encodes a JSON line of the time (the gateway's slowest loop) and sleeps on Swift
// Concurrency, so the runtime, the cooperative pool and the chosen Foundation are loaded and used,
// and nothing else.
// The Foundation build also formats the line's number with String(format:), a call that
// FoundationEssentials lacks, when started with `--format`; without it Foundation is linked but
// never called. (With the import alone the linker would keep nothing of Foundation.)
#if FLOOR_FOUNDATION
import Foundation
#elseif FLOOR_ESSENTIALS
import FoundationEssentials
#endif

#if FLOOR_FOUNDATION || FLOOR_ESSENTIALS
struct Tick: Encodable {
    let time: Date
    let linesWritten: Int
}
#endif

@main
enum Floor {
    static func main() async throws {
        #if FLOOR_FOUNDATION || FLOOR_ESSENTIALS
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        #if FLOOR_FOUNDATION
        let formatting = CommandLine.arguments.contains("--format")
        #endif
        #else
        let clock = ContinuousClock()
        let started = clock.now
        #endif
        var linesWritten = 0
        while true {
            #if FLOOR_FOUNDATION || FLOOR_ESSENTIALS
            let line = try encoder.encode(Tick(time: Date(), linesWritten: linesWritten))
            linesWritten += line.isEmpty ? 0 : 1
            #if FLOOR_FOUNDATION
            if formatting {
                linesWritten += String(format: "%.1f", Double(linesWritten)).isEmpty ? 1 : 0
            }
            #endif
            #else
            let line = "{\"seconds\":\(started.duration(to: clock.now).components.seconds),\"lines\":\(linesWritten)}"
            linesWritten += line.utf8.isEmpty ? 0 : 1
            #endif
            try await Task.sleep(for: .seconds(1))
        }
    }
}
