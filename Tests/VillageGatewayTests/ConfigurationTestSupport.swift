// Shared pieces for the configuration tests: the shipped example and a small valid file to break.
import Foundation
import Testing
@testable import VillageGateway

enum ConfigurationFixtures {
    /// config/example.toml in this checkout (tests run from anywhere).
    static let examplePath: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/example.toml").path

    /// The 1-based number of the first line of config/example.toml that starts with `text`,
    /// after the first line that contains `anchor`. Tests that quote the shell's numbered diff
    /// find the line by its content, so a key added higher up in the example does not break them.
    static func exampleLineNumber(of text: String, after anchor: String) -> Int {
        let lines = ((try? String(contentsOfFile: examplePath, encoding: .utf8)) ?? "").components(separatedBy: "\n")
        guard let anchorIndex = lines.firstIndex(where: { $0.contains(anchor) }),
              let index = lines[anchorIndex...].firstIndex(where: { $0.hasPrefix(text) }) else {
            Issue.record("config/example.toml has no line starting \(text.debugDescription) after \(anchor.debugDescription)")
            return 0
        }
        return index + 1
    }

    /// The river-level rule's blue threshold (`blue = 2.5`), the line the shell tests change.
    static var riverLevelBlueLine: Int { exampleLineNumber(of: "blue = 2.5", after: "id = \"river-level\"") }

    /// The root of this checkout.
    static let repositoryRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// A small valid configuration; tests replace or add lines to make one mistake at a time.
    /// Line numbers matter to the tests: keep them.
    static let minimal = """
        [station]
        id = "0011223344"
        name = "黄坑村"

        [[sensor]]
        id = "rain1"
        kind = "rain_gauge"
        mm_per_tip = 0.2

        [[sensor]]
        id = "slope1"
        kind = "displacement"
        range = [0.0, 500.0]
        steady_rate = 0.5

        [[rule]]
        id = "rain-1h"
        sensor = "rain1"
        measure = "rain_1h"
        blue = 35
        yellow = 45

        [[contact]]
        name = "王建国"
        phone = "+8613800000001"

        """

    /// One file with four mistakes, on lines 2, 8, 15 and 22 (a short station id, a misspelt key,
    /// thresholds that do not increase, an unknown siren pattern): the loader test checks the
    /// messages, the command-line test that `check-config` prints and fails on them.
    static let severalMistakes = """
        [station]
        id = "12345"
        name = "黄坑村"

        [[sensor]]
        id = "rain1"
        kind = "rain_gauge"
        mm_per_tipp = 0.2

        [[rule]]
        id = "rain-1h"
        sensor = "rain1"
        measure = "rain_1h"
        orange = 80
        red = 70

        [[contact]]
        name = "王建国"
        phone = "+8613800000001"

        [outputs.red]
        siren = "loud"
        message = "立即转移"
        """

    /// The problems `text` has; empty if it is accepted.
    static func problems(_ text: String, file: String = "site.toml") -> [ConfigurationProblem] {
        do {
            _ = try ConfigurationLoader.parse(text: text, file: file)
            return []
        } catch {
            return error.problems
        }
    }

    /// `minimal` with `old` replaced by `new` (which must occur exactly once).
    static func minimal(replacing old: String, with new: String) -> String {
        precondition(minimal.components(separatedBy: old).count == 2, "fixture text \(old) must occur once")
        return minimal.replacingOccurrences(of: old, with: new)
    }
}
