// Runs xmllint on CAP documents: schema validation against the OASIS CAP 1.2 schema, and XPath
// reads so the tests see the text a real XML parser sees, not our own string.
import Foundation

enum CAPSchemaValidator {
    struct Outcome {
        var exitStatus: Int32
        var output: String
        var isValid: Bool { exitStatus == 0 }
    }

    /// Tests/VillageGatewayTests/Fixtures/cap12.xsd, beside this file, so the tests need nothing
    /// outside the repository.
    static let schemaPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/cap12.xsd").path

    /// xmllint from PATH; nil when it is not installed (`make test` installs libxml2-utils).
    static let xmllintPath: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/xmllint"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// `xmllint --noout --schema cap12.xsd <file>` on `xml` written to a temporary file.
    static func validate(_ xml: String) throws -> Outcome {
        try withFile(xml) { path in try xmllint(["--noout", "--schema", schemaPath, path]) }
    }

    /// The string value of the first element named `localName` (any namespace). The texts read
    /// this way must not end in a newline: xmllint's own final newline is removed.
    static func text(of localName: String, in xml: String) throws -> String {
        try withFile(xml) { path in
            let outcome = try xmllint(["--xpath", "string(//*[local-name()='\(localName)'])", path])
            guard outcome.isValid else { throw Missing(description: "xmllint --xpath failed: \(outcome.output)") }
            // xmllint ends what it prints with one newline of its own.
            return outcome.output.hasSuffix("\n") ? String(outcome.output.dropLast()) : outcome.output
        }
    }

    private static func withFile<T>(_ xml: String, _ body: (String) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("cap-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("alert.xml")
        try Data(xml.utf8).write(to: file)
        return try body(file.path)
    }

    private static func xmllint(_ arguments: [String]) throws -> Outcome {
        guard let xmllintPath else {
            throw Missing(description: "xmllint is not installed (Debian: apt-get install libxml2-utils)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: xmllintPath)
        process.arguments = arguments
        let standardOutput = Pipe()
        let standardError = Pipe()
        process.standardOutput = standardOutput
        process.standardError = standardError
        try process.run()
        // Read both pipes before waiting; outputs here are small, stderr is read second.
        let out = standardOutput.fileHandleForReading.readDataToEndOfFile()
        let err = standardError.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: out, as: UTF8.self) + String(decoding: err, as: UTF8.self)
        return Outcome(exitStatus: process.terminationStatus, output: text)
    }
}
