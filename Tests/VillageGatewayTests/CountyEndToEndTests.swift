// The real binary with [county.api] on 127.0.0.1 port 0: the storm's reports reach a signed GET.
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import TimeSeam
import WarningLogic
@testable import VillageGateway

@Suite(.serialized) struct CountyEndToEndTests {
    /// How long the daemon may take to write STATE_DIR/api.port after starting.
    static let portWaitSecondsMax = 60.0

    @Test func aSignedGetReturnsTheStormsLevelChanges() async throws {
        let state = DaemonProcess.temporaryStateDirectory()
        let directory = state + "-config"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            for path in [state, state + ".log", directory] { try? FileManager.default.removeItem(atPath: path) }
        }
        try CountyAPIFixture.keyHex.write(toFile: directory + "/api.key", atomically: true, encoding: .utf8)
        let example = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        // A relative key_file is found beside the configuration file.
        let config = directory + "/gateway.toml"
        try (example + "\n[county.api]\nlisten = \"127.0.0.1:0\"\nkey_file = \"api.key\"\n").write(toFile: config, atomically: true, encoding: .utf8)

        // The storm, to its end.
        let storm = try DaemonProcess([
            "run", "--config", config, "--board", "sim", "--scenario", "scenarios/typhoon-hagupit.csv", "--speed", "17280", "--exit-after-scenario",
        ], stateDirectory: state)
        #expect(storm.waitForExit() == 0, "\(storm.log.suffix(2000))")

        // The box again (nothing left to play), serving what it stored.
        try? FileManager.default.removeItem(atPath: state + "/" + CountyAPIServer.portFileName)
        let daemon = try DaemonProcess([
            "run", "--config", config, "--board", "sim", "--scenario", "scenarios/typhoon-hagupit.csv", "--speed", "1",
        ], stateDirectory: state)
        defer { if daemon.process.isRunning { daemon.process.terminate(); _ = daemon.waitForExit() } }
        let deadline = Date().addingTimeInterval(Self.portWaitSecondsMax)
        var port: Int?
        while port == nil && Date() < deadline && daemon.process.isRunning {
            port = (try? String(contentsOfFile: state + "/" + CountyAPIServer.portFileName, encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if port == nil { usleep(50_000) }
        }
        let boundPort = try #require(port, "no \(CountyAPIServer.portFileName): \(daemon.log.suffix(2000))")
        // The port file is written just before the line is logged, and the log reaches the test
        // through a pipe: wait for the line (bounded) rather than expect it at once.
        let listening = "county API listening on 127.0.0.1:\(boundPort)"
        while !daemon.log.contains(listening) && Date() < deadline && daemon.process.isRunning { usleep(50_000) }
        #expect(daemon.log.contains(listening))

        let key = try SigningKey(hex: CountyAPIFixture.keyHex)
        let client = TestClient(host: "127.0.0.1", port: boundPort)
        client.connect()
        var levelChanges: [String] = []
        var summaries = 0
        var after: Int64 = 0
        var more = true
        while more {
            let path = "/v1/reports?after=\(after)&limit=500"
            var headers = HTTPFields()
            for (name, value) in RequestSignature.headers(
                key: key, method: "GET", pathAndQuery: path, station: "0011223344", timestampMilliseconds: SystemClock().now().millisecondsSinceUnixEpoch,
                body: [])
            {
                headers[HTTPField.Name(name)!] = value
            }
            let response = try await client.execute(.init(path, method: .get, headers: headers))
            #expect(response.status == .ok)
            let document = try JSONDecoder().decode(ReportsDocument.self, from: Data(buffer: try #require(response.body)))
            for report in document.reports {
                if report.kind == "levelChanged", case .object(let payload) = report.payload,
                    case .object(let change)? = payload["levelChanged"], case .number(let to)? = change["to"],
                    let level = WarningLevel(rawValue: Int(to))
                {
                    // The engine's encoding: levels as numbers, 0 none … 4 red.
                    levelChanges.append(level.name)
                }
                if report.kind == "observationSummary" { summaries += 1 }
            }
            #expect(document.reports.map(\.sequence) == document.reports.map(\.sequence).sorted())
            after = document.reports.last?.sequence ?? after
            more = document.more
        }
        try await client.shutdown()
        // The typhoon raises the level step by step to red, and it clears.
        #expect(Array(levelChanges.prefix(4)) == ["blue", "yellow", "orange", "red"], "\(levelChanges)")
        #expect(levelChanges.last == "none")
        // 72 h of storm at one summary an hour.
        #expect(summaries >= 60, "\(summaries) summaries")

        // An unsigned request is refused by the real server too.
        let stranger = TestClient(host: "127.0.0.1", port: boundPort)
        stranger.connect()
        let refused = try await stranger.execute(.init("/v1/status", method: .get))
        #expect(refused.status == .unauthorized)
        try await stranger.shutdown()

        kill(daemon.process.processIdentifier, SIGTERM)
        #expect(daemon.waitForExit() == 0, "\(daemon.log.suffix(2000))")
    }
    /// How long the daemon may take to push the storm's reports once started (it tries at once).
    static let pushWaitSecondsMax = 120.0

    @Test func theBoxPushesTheStormToTheCountyOverHTTP() async throws {
        let state = DaemonProcess.temporaryStateDirectory()
        let directory = state + "-config"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            for path in [state, state + ".log", directory] { try? FileManager.default.removeItem(atPath: path) }
        }
        try String(repeating: "5a", count: 32).write(toFile: directory + "/push.key", atomically: true, encoding: .utf8)
        let example = try String(contentsOfFile: ConfigurationFixtures.examplePath, encoding: .utf8)
        // The storm first, with no county: its reports wait in the outbox.
        let storm = try DaemonProcess([
            "run", "--config", ConfigurationFixtures.examplePath, "--board", "sim", "--scenario", "scenarios/typhoon-hagupit.csv", "--speed", "17280",
            "--exit-after-scenario",
        ], stateDirectory: state)
        #expect(storm.waitForExit() == 0, "\(storm.log.suffix(2000))")
        let outbox = try Outbox(path: state + "/outbox.sqlite")
        let stored = try outbox.lastSequence()
        #expect(stored > 60)

        // The link returns: the box pushes everything, signed, and marks what the county stored.
        let county = TestCounty()
        try await county.serve { port in
            let config = directory + "/gateway.toml"
            try (example + "\n[county.push]\nurl = \"http://127.0.0.1:\(port)/v1/push\"\nkey_file = \"push.key\"\nbatch_max = 50\n")
                .write(toFile: config, atomically: true, encoding: .utf8)
            let daemon = try DaemonProcess([
                "run", "--config", config, "--board", "sim", "--scenario", "scenarios/typhoon-hagupit.csv", "--speed", "1",
            ], stateDirectory: state)
            defer { if daemon.process.isRunning { daemon.process.terminate(); _ = daemon.waitForExit() } }
            let deadline = Date().addingTimeInterval(Self.pushWaitSecondsMax)
            while Date() < deadline, daemon.process.isRunning, (try? outbox.backlog.undelivered) != 0 {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try outbox.backlog.undelivered == 0, "\(daemon.log.suffix(2000))")
            kill(daemon.process.processIdentifier, SIGTERM)
            #expect(daemon.waitForExit() == 0, "\(daemon.log.suffix(2000))")
        }
        // Every stored report reached the county, none was refused, the alarms went first.
        #expect(county.storedSequences == Set(1...stored))
        #expect(county.state.withLock { $0.refusals }.isEmpty)
        let first = try #require(county.bodies.first)
        #expect(first.reports.first?.priority == "alarm")
    }
}
