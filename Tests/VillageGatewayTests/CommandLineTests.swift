// The real binary, run as a technician or a county engineer would: exit codes, output, files.
import Foundation
import Testing

/// Runs the built `village-gateway` (it sits beside the test bundle in the build folder).
enum GatewayBinary {
    /// Runs one of tools/'s scripts to its end on a Dispatch thread, never on the cooperative pool
    /// (two threads on a 2-core machine), which other suites' in-process servers need meanwhile.
    static func runScriptOffThePool(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, text: String) {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(status: Int32, text: String), any Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/bin/bash")
                    process.arguments = arguments
                    process.currentDirectoryURL = repositoryRoot
                    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
                    let output = Pipe()
                    process.standardOutput = output
                    process.standardError = output
                    try process.run()
                    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    process.waitUntilExit()
                    return (process.terminationStatus, text)
                })
            }
        }
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var url: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("village-gateway")
    }

    /// The county's program, built beside the box's.
    static var countyURL: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("village-county")
    }

    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs to completion; the pipes are read on their own threads so a large output cannot
    /// fill a pipe and stall the child.
    static func run(_ arguments: [String], program: URL = url) throws -> Outcome {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        nonisolated(unsafe) var outputData = Data()
        nonisolated(unsafe) var errorData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outputData = output.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errorData = error.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.wait()
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus,
            standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }
}

@Suite(.serialized) struct CommandLineTests {
    @Test func theBinaryIsBuiltBesideTheTests() {
        #expect(FileManager.default.isExecutableFile(atPath: GatewayBinary.url.path), "build it with `swift build --build-tests`: \(GatewayBinary.url.path)")
    }

    @Test func theShippedTyphoonRisesToRedAndClearsWithTheChartWritten() throws {
        let chart = FileManager.default.temporaryDirectory.appendingPathComponent("typhoon-\(getpid()).svg")
        defer { try? FileManager.default.removeItem(at: chart) }
        let outcome = try GatewayBinary.run([
            "simulate", "--config", "config/example.toml", "--scenario", "scenarios/typhoon-hagupit.csv", "--chart", chart.path,
        ])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        #expect(outcome.standardOutput.contains("LEVEL  ▲ orange → red"))
        #expect(outcome.standardOutput.contains("LEVEL  ▼ red → none"))
        #expect(outcome.standardOutput.contains("SIREN  continuous"))
        #expect(outcome.standardOutput.contains("SMS    to 王建国"))
        #expect(outcome.standardOutput.contains("叫应 yellow unanswered: escalation 1: SMS to 王建国, 李秀英, 陈志强"))
        #expect(outcome.standardOutput.contains("叫应 yellow answered by 陈志强 (by sms, 960 s after the warning)"))
        #expect(outcome.standardOutput.contains("叫应 orange answered by 王建国 (by call, 240 s after the warning)"), "a call back to the box")
        #expect(outcome.standardOutput.contains("叫应 red answered by 李秀英 (by call, 120 s after the warning)"))
        #expect(outcome.standardOutput.contains("sms from +8613711112222 not taken as an answer: the number is not a [[contact]]"))
        #expect(outcome.standardOutput.contains("SPEAK  ↻ the same message"), "repeats of the red broadcast are folded")
        #expect(outcome.standardOutput.contains("Summary: ") && outcome.standardOutput.contains("peak level red"))
        let svg = try String(contentsOf: chart, encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("</svg>"))
        #expect(svg.contains("黄坑村"))
    }

    @Test func theCreepingSlopeReachesRedByTangentAngle() throws {
        let outcome = try GatewayBinary.run(["simulate", "--config", "config/example.toml", "--scenario", "scenarios/slope-creep.csv", "--format", "json"])
        #expect(outcome.status == 0, "\(outcome.standardError)")
        let objects = try outcome.standardOutput.split(separator: "\n").map { line in
            try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
        let levels = objects.filter { $0["type"] as? String == "level" }
        let toRed = try #require(levels.first { $0["to"] as? String == "red" })
        #expect((toRed["causes"] as? [String])?.contains("slope-angle") == true, "red must come from the tangent angle: \(toRed)")
        #expect(levels.contains { $0["to"] as? String == "orange" && ($0["causes"] as? [String]) == ["rain-and-slope"] })
        #expect(objects.last?["type"] as? String == "summary")
    }

    /// Real warnings pre-empt drills, seen in `simulate`'s JSON lines: the typhoon with drills
    /// (started in calm weather, refused over a real warning, forced over a real blue, stopped).
    @Test func realWarningsPreemptDrillsInTheReplay() throws {
        func objects(_ scenario: String) throws -> [[String: Any]] {
            let outcome = try GatewayBinary.run(["simulate", "--config", "config/example.toml", "--scenario", scenario, "--format", "json"])
            #expect(outcome.status == 0, "\(outcome.standardError)")
            return try outcome.standardOutput.split(separator: "\n").map { line in
                try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            }
        }
        let drilled = try objects("scenarios/typhoon-drills.csv")
        func minute(_ object: [String: Any]) -> Substring { (object["time"] as? String ?? "").prefix(16) }
        func exercise(_ object: [String: Any]) -> Bool { object["exercise"] as? Bool == true }
        func type(_ object: [String: Any]) -> String { object["type"] as? String ?? "" }
        func text(_ object: [String: Any]) -> String { object["text"] as? String ?? object["message"] as? String ?? "" }

        // No real level change without its real siren, lamp and broadcast at the same minute.
        let realChanges = drilled.filter { type($0) == "level" && !exercise($0) }
        #expect(realChanges.count == 5)
        for change in realChanges {
            let same = drilled.filter { minute($0) == minute(change) && !exercise($0) }
            for output in ["siren", "lamp", "broadcast"] {
                #expect(same.contains { type($0) == output }, "the real change at \(minute(change)) has no real \(output)")
            }
        }
        // No unmarked all-clear at a drill's end; the drill-end words, marked, at each.
        let drillEnds = drilled.filter { $0["report"] as? String == "drill" && !text($0).contains("started") }
        #expect(drillEnds.map(text) == [
            "drill at red ended: pre-empted by real level none → blue (rain-3h, rain-6h)",
            "drill at orange ended: pre-empted by real level blue → yellow (rain-3h, rain-6h)",
            "drill stopped by scenario",
        ])
        for end in drillEnds {
            let same = drilled.filter { minute($0) == minute(end) }
            #expect(same.contains { type($0) == "broadcast" && exercise($0) && text($0) == "【演练】演练结束。" })
            let realEnd = same.contains { type($0) == "level" && !exercise($0) && $0["to"] as? String == "none" }
            #expect(realEnd || !same.contains { type($0) == "broadcast" && !exercise($0) && text($0).contains("预警解除") },
                    "an all-clear at the drill's end at \(minute(end)) with no real warning ending")
        }
        let refusals = drilled.filter { $0["report"] as? String == "input_rejected" }.map(text)
        #expect(refusals.count == 2 && refusals[0].contains("needs force") && refusals[1].contains("real yellow warning is in force"))

        // And the village heard every real word of the same typhoon without drills, at the same times.
        func realWords(_ objects: [[String: Any]]) -> [String] {
            objects.filter { ["level", "broadcast", "sms"].contains(type($0)) && !exercise($0) }
                .map { "\(minute($0)) \(type($0)) \(text($0)) \($0["to"] as? String ?? "")" }
        }
        #expect(realWords(drilled) == realWords(try objects("scenarios/typhoon-hagupit.csv")))
    }

    @Test func theSameReplayTwiceGivesTheSameBytes() throws {
        let arguments = ["simulate", "--config", "config/example.toml", "--scenario", "scenarios/typhoon-hagupit.csv", "--format", "json"]
        let first = try GatewayBinary.run(arguments)
        let second = try GatewayBinary.run(arguments)
        #expect(first.status == 0)
        #expect(first.standardOutput == second.standardOutput)
    }

    @Test func aBadScenarioNamesItsLinesAndFails() throws {
        let scenario = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(getpid()).csv")
        defer { try? FileManager.default.removeItem(at: scenario) }
        try """
            time,sensor,value
            2020-08-04T03:00:00+08:00,rain1,1.0
            2020-08-04T02:00:00+08:00,rain1,1.0
            2020-08-04T03:10:00+08:00,rain9,1.0
            """.write(to: scenario, atomically: true, encoding: .utf8)
        let outcome = try GatewayBinary.run(["simulate", "--config", "config/example.toml", "--scenario", scenario.path])
        #expect(outcome.status == 1)
        #expect(outcome.standardOutput.isEmpty)
        #expect(outcome.standardError.contains("\(scenario.path):3: time 2020-08-04T02:00:00+08:00 is before the previous row's (line 2)"))
        #expect(outcome.standardError.contains("\(scenario.path):4: unknown sensor 'rain9'"))
        #expect(!outcome.standardError.contains("Fatal error"))
    }

    @Test func checkConfigAcceptsTheExampleAndNamesEveryMistakeOfABrokenFile() throws {
        let good = try GatewayBinary.run(["check-config", "config/example.toml"])
        #expect(good.status == 0, "\(good.standardError)")
        #expect(good.standardOutput.hasPrefix("config/example.toml: OK"))
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(getpid()).toml")
        defer { try? FileManager.default.removeItem(at: broken) }
        try ConfigurationFixtures.severalMistakes.write(to: broken, atomically: true, encoding: .utf8)
        let outcome = try GatewayBinary.run(["check-config", broken.path])
        #expect(outcome.status == 1)
        for line in [2, 8, 15, 22] {
            #expect(outcome.standardError.contains("\(broken.path):\(line): "), "line \(line) named: \(outcome.standardError)")
        }
        #expect(!outcome.standardError.contains("Fatal error"))
    }
}
