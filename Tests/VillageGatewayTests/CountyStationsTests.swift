// `village-county stations`: keys made as `openssl rand -hex 32` makes them, boxes added to the
// stations file only when the whole file still checks, and the file and its keys checked.
import Foundation
import Testing

@Suite struct CountyStationsTests {
    static func run(_ arguments: [String]) throws -> GatewayBinary.Outcome {
        try GatewayBinary.run(arguments, program: GatewayBinary.countyURL)
    }

    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vg-stations-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aKeyIs32RandomBytesInHexAndAKeyFileIsNeverOverwritten() throws {
        let first = try Self.run(["stations", "key"])
        let second = try Self.run(["stations", "key"])
        #expect(first.status == 0)
        let key = first.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 64 && key.allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(key)")
        #expect(key != second.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))

        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/box.hex"
        let made = try Self.run(["stations", "key", "--out", path])
        #expect(made.status == 0, "\(made.standardError)")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.count == 65 && text.hasSuffix("\n"))
        let again = try Self.run(["stations", "key", "--out", path])
        #expect(again.status == 2)
        #expect(again.standardError.contains("it exists already; a box may hold that key, so it is not overwritten"), "\(again.standardError)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)
    }

    @Test func addedBoxesAreCheckedListedAndAWrongOneLeavesTheFileAsItWas() throws {
        let directory = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stations = directory + "/stations.toml"
        try "# 县级平台的村站\n".write(toFile: stations, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/keys", withIntermediateDirectories: true)
        let added = try Self.run([
            "stations", "add", "--stations", stations, "--id", "0011223344", "--name", "黄坑村", "--url", "http://10.0.0.7:8651",
            "--key-file", "keys/0011223344.hex", "--make-key",
        ])
        #expect(added.status == 0, "\(added.standardError)")
        #expect(added.standardOutput.contains("station 0011223344 黄坑村 added (1 station)"))
        // The relative key file is beside the stations file.
        #expect(FileManager.default.fileExists(atPath: directory + "/keys/0011223344.hex"))
        let text = try String(contentsOfFile: stations, encoding: .utf8)
        #expect(text.hasPrefix("# 县级平台的村站\n\n[[station]]\nid = \"0011223344\"\nname = \"黄坑村\""), "\(text)")

        let duplicate = try Self.run([
            "stations", "add", "--stations", stations, "--id", "0011223344", "--name", "下村", "--url", "http://10.0.0.8",
            "--key-file", "keys/other.hex", "--make-key",
        ])
        #expect(duplicate.status == 2)
        #expect(duplicate.standardError.contains("station 0011223344 is already listed (line 3); list each box once"), "\(duplicate.standardError)")
        #expect(try String(contentsOfFile: stations, encoding: .utf8) == text, "a refused box leaves the file as it was")
        #expect(!FileManager.default.fileExists(atPath: directory + "/keys/other.hex"), "and makes no key")

        let check = try Self.run(["stations", "check", "--stations", stations])
        #expect(check.status == 0, "\(check.standardError)")
        #expect(check.standardOutput.contains("1 station, every key readable"))
        let list = try Self.run(["stations", "list", "--stations", stations])
        #expect(list.standardOutput == "0011223344  黄坑村  http://10.0.0.7:8651  key ok\n", "\(list.standardOutput)")

        try FileManager.default.removeItem(atPath: directory + "/keys/0011223344.hex")
        let broken = try Self.run(["stations", "check", "--stations", stations])
        #expect(broken.status == 2)
        #expect(broken.standardError.contains("station 0011223344 黄坑村: cannot read the key file \(directory)/keys/0011223344.hex"), "\(broken.standardError)")
    }
}
