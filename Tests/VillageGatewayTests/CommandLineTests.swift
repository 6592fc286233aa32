// The real binary, run as a technician or a county engineer would: exit codes, output, files.
import Foundation
import Testing

/// Runs the built `village-gateway` (it sits beside the test bundle in the build folder).
enum GatewayBinary {
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
        #expect(outcome.standardOutput.contains("叫应 yellow unanswered: escalation 1 to 陈志强"))
        #expect(outcome.standardOutput.contains("叫应 yellow answered by 陈志强"))
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
