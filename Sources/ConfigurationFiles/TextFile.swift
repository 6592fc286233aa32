// Reading whole text files with a size bound and an error a technician can act on.
import Foundation

package struct TextFileError: Error, CustomStringConvertible {
    package var description: String

    package init(description: String) {
        self.description = description
    }
}

/// Files the gateway reads whole (configuration, scenarios) are never larger than this; a larger
/// one is a mistake (a log or a binary given by accident) and is refused before it fills memory.
package let textFileBytesMax = 256 * 1024 * 1024

package func readTextFile(path: String) throws(TextFileError) -> String {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw TextFileError(description: "no such file")
    }
    guard !isDirectory.boolValue else { throw TextFileError(description: "it is a directory, not a file") }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw TextFileError(description: "permission denied")
    }
    defer { try? handle.close() }
    let data: Data
    do {
        guard let read = try handle.read(upToCount: textFileBytesMax + 1) else { return "" }
        data = read
    } catch {
        throw TextFileError(description: "read failed: \(error.localizedDescription)")
    }
    guard data.count <= textFileBytesMax else {
        throw TextFileError(description: "larger than \(textFileBytesMax / 1024 / 1024) MiB")
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw TextFileError(description: "not UTF-8 text")
    }
    return text
}
