// Replacing a file atomically keeps who may read it: the box runs as its own user while a
// technician's `set-pin` runs as root, and gateway.toml holds phone numbers and county keys.
import Foundation
import Testing
@testable import VillageGateway

@Suite struct AtomicFileTests {
    func temporaryFile() throws -> String {
        let directory = NSTemporaryDirectory() + "atomic-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/gateway.toml"
    }

    func mode(_ path: String) -> mode_t {
        var status = stat()
        stat(path, &status)
        return status.st_mode & 0o777
    }

    @Test func aNewFileIsReadableAsBefore() throws {
        let path = try temporaryFile()
        try writeFileAtomically(path: path, contents: "a = 1\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "a = 1\n")
        #expect(mode(path) & 0o600 == 0o600)
    }

    @Test func aReplacedFileKeepsItsMode() throws {
        let path = try temporaryFile()
        try writeFileAtomically(path: path, contents: "a = 1\n")
        chmod(path, 0o640)
        try writeFileAtomically(path: path, contents: "a = 2\n")
        #expect(mode(path) == 0o640, "a 0640 gateway.toml became \(String(mode(path), radix: 8)): readable by everyone")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "a = 2\n")
        chmod(path, 0o600)
        try writeFileAtomically(path: path, contents: "a = 3\n")
        #expect(mode(path) == 0o600)
    }

    @Test(.enabled(if: geteuid() == 0, "only root can give a file to another user"))
    func aFileReplacedByRootKeepsItsOwner() throws {
        let path = try temporaryFile()
        try writeFileAtomically(path: path, contents: "a = 1\n")
        // The box's user, as flash.sh makes it the owner of /etc/village-gateway.
        let boxUser: uid_t = 4_321, boxGroup: gid_t = 4_322
        #expect(chown(path, boxUser, boxGroup) == 0)
        try writeFileAtomically(path: path, contents: "a = 2\n")
        var status = stat()
        stat(path, &status)
        #expect(status.st_uid == boxUser, "set-pin as root gave the box's configuration to uid \(status.st_uid)")
        #expect(status.st_gid == boxGroup)
    }

    @Test func theHistoryOfTheConfigurationIsClosedToOthers() throws {
        let path = try temporaryFile()
        try writeFileAtomically(path: path, contents: "a = 1\n")
        let history = ConfigurationHistory(configurationPath: path)
        try history.keep("a = 1\n", time: "2026-12-05T10:00:00.000+08:00")
        #expect(history.entries().count == 1)
        #expect(mode(history.directory) == ConfigurationHistory.directoryMode)
        // One left open by an older box is closed at the next commit.
        chmod(history.directory, 0o755)
        try history.keep("a = 2\n", time: "2026-12-05T10:01:00.000+08:00")
        #expect(mode(history.directory) == 0o750)
    }
}
