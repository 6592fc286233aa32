// The dashboard overview's server time for a province (issue 17 goal: 2,000 stations under
// 200 ms): a county database made by the real `village-county pull` (its schema, its migration),
// filled with 72 hours of a storm per station (hourly summaries, level changes, 叫应 requests and
// answers, sensor faults, gaps), then the overview read, built and rendered as `serve` does.
//
// Usage: DashboardBenchmark PATH/TO/village-county [stations (2000)] [rounds (20)]
import CountyDashboard
import Foundation
import GRDB
import WarningLogic

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: DashboardBenchmark PATH/TO/village-county [stations] [rounds]\n".utf8))
    exit(64)
}
let countyBinary = arguments[1]
let stationCount = arguments.count > 2 ? Int(arguments[2]) ?? 2_000 : 2_000
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 20 : 20
let hours = 72

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }
let databasePath = folder + "/county.sqlite"

// The schema comes from the real program: a pull of one unreachable box creates and migrates it.
let stationsFile = folder + "/stations.toml"
try "[[station]]\nid = \"9999999999\"\nname = \"x\"\nurl = \"http://127.0.0.1:9\"\nkey_file = \"k.hex\"\n".write(toFile: stationsFile, atomically: true, encoding: .utf8)
try String(repeating: "5a", count: 32).write(toFile: folder + "/k.hex", atomically: true, encoding: .utf8)
let pull = Process()
pull.executableURL = URL(fileURLWithPath: countyBinary)
pull.arguments = ["pull", "--stations", stationsFile, "--db", databasePath, "--timeout", "1"]
pull.standardOutput = FileHandle.nullDevice
pull.standardError = FileHandle.nullDevice
try pull.run()
pull.waitUntilExit()
guard FileManager.default.fileExists(atPath: databasePath) else {
    FileHandle.standardError.write(Data("\(countyBinary) pull did not create \(databasePath)\n".utf8))
    exit(1)
}

// Fill it.
let fillStart = Date()
let queue = try DatabaseQueue(path: databasePath)
let end: Int64 = 1_596_484_800_000  // 2020-08-04T04:00+08:00
let hour: Int64 = 3_600_000
var totalReports = 0
try queue.write { db in
    try db.execute(sql: "DELETE FROM stations")
    let insert = try db.makeStatement(sql: """
        INSERT INTO reports (station, sequence, time_ms, time, kind, priority, exercise, payload, stored_at_ms)
        VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)
        """)
    for index in 0..<stationCount {
        let station = String(format: "%010d", 1_000_000 + index)
        var sequence: Int64 = 0
        func add(_ time: Int64, _ kind: String, _ priority: String, _ payload: String) throws {
            sequence += 1
            try insert.execute(arguments: [station, sequence, time, "2020-08-04T04:00:00+08:00", kind, priority, payload, end])
        }
        let peak: WarningLevel = [.none, .blue, .yellow, .orange, .red][index % 5]
        for h in 0..<hours {
            let time = end - Int64(hours - h) * hour
            try add(time, "observation_summary", "routine", """
                {"level":"none","observed_at_milliseconds":\(time),"period_milliseconds":3600000,"sensors":[\
                {"faulty":false,"id":"rain1","kind":"rain_gauge","rain_millimeters1h":\(Double(h % 17)),"rain_millimeters6h":\(Double(h % 40)),\
                "rain_millimeters_period":\(Double(h % 17)),"rain_millimeters_today":\(Double(h))},\
                {"faulty":\(index % 50 == 0),"id":"river1","kind":"water_level","water_level_meters":\(1.2 + Double(h) / 50)}]}
                """)
            if peak > .none, h >= hours - 12, h - (hours - 12) < Int(peak.rawValue) {
                let to = WarningLevel(rawValue: h - (hours - 12) + 1)!
                try add(time + 60_000, "level_changed", "alarm", #"{"causes":["rain-1h"],"from":"\#(WarningLevel(rawValue: to.rawValue - 1)!.name)","to":"\#(to.name)"}"#)
                try add(time + 61_000, "acknowledgement_requested", "event", #"{"contacts":["村长","网格员"],"deadline_ms":\#(time + 900_000),"level":"\#(to.name)"}"#)
                if index % 3 == 0 {
                    try add(time + 300_000, "acknowledged", "event", #"{"by":"村长","level":"\#(to.name)","requested_at_ms":\#(time + 61_000)}"#)
                }
            }
        }
        if index % 40 == 0 { try add(end, "sensor_health", "event", #"{"faulty":true,"reason":"no reading for 30 min","sensor_id":"river1"}"#) }
        try db.execute(
            sql: "INSERT INTO stations (station, name, url, pulled_through, acknowledged_through, box_last_sequence, last_pull_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [station, "村\(index)", "http://127.0.0.1:1", sequence, sequence, sequence + Int64(index % 7), end])
        if index % 100 == 0 {
            try db.execute(
                sql: "INSERT INTO gaps (station, from_sequence, through_sequence, count, reason, recorded_at, first_seen_at_ms) VALUES (?, 2, 5, 4, 'outbox full', '', 0)",
                arguments: [station])
        }
        totalReports += Int(sequence)
    }
}
print(String(format: "filled %d stations, %d reports in %.1f s", stationCount, totalReports, Date().timeIntervalSince(fillStart)))

let store = try SQLiteDashboardStore(path: databasePath)
func milliseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1_000 + Double(elapsed.components.attoseconds) / 1e15
}
var readTimes: [Double] = []
var totalTimes: [Double] = []
var bytes = 0
for _ in 0..<rounds {
    let start = ContinuousClock.now
    let snapshot = try await store.overview()
    readTimes.append(milliseconds(since: start))
    let states = OverviewPage.states(snapshot, configured: [], nowMilliseconds: end, silentAfterMilliseconds: 15 * 60_000)
    let page = OverviewPage.render(states, nowMilliseconds: end, silentAfterMilliseconds: 15 * 60_000, user: nil)
    totalTimes.append(milliseconds(since: start))
    bytes = page.utf8.count
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
print(String(
    format: "SQLite overview of %d stations: median %.1f ms (read %.1f ms, build and render %.1f ms), max %.1f ms over %d rounds; page %d KiB; goal < 200 ms",
    stationCount, median(totalTimes), median(readTimes), median(totalTimes) - median(readTimes), totalTimes.max() ?? 0, rounds, bytes / 1024))
