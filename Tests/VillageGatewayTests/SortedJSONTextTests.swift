// The JSON text the box makes of its own records and of the v2 payloads: keys in code-point order,
// values written as JSONSerialization writes them. Not JSONSerialization's `.sortedKeys`, which on
// Linux collates keys through ICU: the first report stored that way kept 1.8 MiB of ICU's tables
// resident in the box for good (issue 13). A collated order puts "a_b" before "B" and "x9" before
// "x10"; code-point order does neither, so going back to `.sortedKeys` fails here.
import CountyProtocol
import Foundation
import Testing
@testable import VillageGateway

@Suite struct SortedJSONTextTests {
    @Test func keysAreInCodePointOrderNotAsALocaleCollatesThem() throws {
        let tree: [String: Any] = ["b": 2.0, "B": true, "a_b": NSNull(), "x10": [1, 2], "x9": "a/b", "rain_millimeters24h": 1, "rain_millimeters3h": 0.5]
        #expect(JSONValue.sortedText(tree) == #"{"B":true,"a_b":null,"b":2,"rain_millimeters24h":1,"rain_millimeters3h":0.5,"x10":[1,2],"x9":"a/b"}"#)
        // Nested objects too, and the tree JSONSerialization reads from text.
        let parsed = try JSONSerialization.jsonObject(with: Data(#"{"z":{"b":false,"a":[{"d":1,"c":null}]},"Y":"é"}"#.utf8))
        #expect(JSONValue.sortedText(parsed) == #"{"Y":"é","z":{"a":[{"c":null,"d":1}],"b":false}}"#)
    }

    @Test func valuesAreWrittenAsJSONSerializationWritesThem() throws {
        // A change of number or string form would change every stored payload's bytes.
        let values: [Any] = [0, 5, -7, Int64(1_733_400_000_000), 2.0, 2.5, 0.1, 1e-7, 1e20, -0.0, 12_345_678.9, true, false, NSNull(),
                             "plain", "a/b", "quote \" backslash \\ newline \n tab \t control \u{1}", "雨量 mm"]
        for value in values {
            let expected = String(decoding: try JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes]), as: UTF8.self)
            #expect(JSONValue.sortedText([value]) == expected, "\(value)")
        }
    }

    @Test func aValueJSONCannotHoldIsRefusedNotWritten() {
        #expect(JSONValue.sortedText(["when": Date()]) == nil)
        #expect(JSONValue.sortedText([1: "a"]) == nil)
    }

    /// The box's modules (the village-gateway program's own targets) never ask JSONSerialization
    /// for sorted keys: a new call would load ICU's collation tables again on the first report.
    @Test func theBoxNeverSortsKeysThroughJSONSerialization() throws {
        let boxModules = ["VillageGateway", "OutboxStore", "CountyProtocol", "Drivers", "ConfigurationFiles", "TimeSeam", "ChartDrawing", "ConnectionGuard", "Checksums", "WarningLogic"]
        var offending: [String] = []
        var filesRead = 0
        for module in boxModules {
            let directory = "\(ConfigurationFixtures.repositoryRoot)/Sources/\(module)"
            guard let files = FileManager.default.enumerator(atPath: directory) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
                filesRead += 1
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.contains("JSONSerialization") && line.contains("sortedKeys") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                    offending.append("Sources/\(module)/\(file):\(number + 1)")
                }
            }
        }
        #expect(filesRead > 100, "the box's sources were read")
        #expect(offending.isEmpty, "JSONSerialization with .sortedKeys in the box (use JSONValue.sortedText): \(offending)")
    }

    @Test func aBoxRecordsV2PayloadHasItsKeysInSnakeCaseAndCodePointOrder() throws {
        let wire = try WirePayload.make(boxKind: "outboxFull", boxPayload: #"{"storedBytes":10,"routineThinned":2,"gaps":[{"through":9,"from":3,"count":7}],"outboxBytesMax":100}"#)
        #expect(wire == #"{"gaps":[{"count":7,"from":3,"through":9}],"outbox_bytes_max":100,"routine_thinned":2,"stored_bytes":10}"#)
    }
}
