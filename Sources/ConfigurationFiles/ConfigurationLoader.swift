// Reads TOML files (gateway.toml, board files, the county's stations file): from bytes on disk to
// a TOML document with the lines of its keys, or the one problem that stops it being read.
import Foundation
import TOMLKit

package enum ConfigurationLoader {
    /// The TOML document in `text` with the lines of its keys, or the one problem that stops it
    /// being read at all (too big, a NUL byte, a syntax error). Shared by gateway.toml and the
    /// board files, so both speak of their mistakes the same way; `what` names the kind of file.
    package static func parseDocument(text: String, file: String, what: String) throws(ConfigurationError) -> (root: TOMLNode, locator: TOMLLineLocator) {
        func fail(line: Int?, column: Int? = nil, _ message: String) -> ConfigurationError {
            ConfigurationError(problems: [
                ConfigurationProblem(file: file, line: line, column: column, key: "", given: nil, allowed: message)
            ])
        }
        guard text.utf8.count <= ConfigurationFileLimits.fileBytesMax else {
            throw fail(line: nil, "the file is \(text.utf8.count) bytes; \(what) is at most \(ConfigurationFileLimits.fileBytesMax) bytes: is this the right file?")
        }
        // TOMLKit hands the text to C as a NUL-terminated string: a NUL would silently cut the
        // file short, so it is refused here, at its line.
        if let nulIndex = text.utf8.firstIndex(of: 0) {
            let line = text.utf8[..<nulIndex].reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            throw fail(line: line, "the file contains a NUL byte: it is damaged or not a text file")
        }
        // Windows Notepad starts UTF-8 files with a byte-order mark; it carries no content.
        let body = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text

        switch TOMLPreflight.check(body) {
        case .badTableHeader(let line, let column, let found)?:
            let shown = found.value < 0x20 || found.value == 0x7F ? String(format: "U+%04X (a control character)", found.value) : "'\(found)'"
            throw fail(line: line, column: column,
                       "TOML syntax error: a table header starts with \(shown); a header is [name] or [[name]] with a plain or quoted name")
        case .braceInArray(let line, let column)?:
            throw fail(line: line, column: column,
                       "TOML syntax error: '}' inside an array; an array is [a, b, c] and closes with ']' (is a value or a ']' missing?)")
        case .dateOrTime(let line, let column, let given)?:
            let shown = given.count > 40 ? String(given.prefix(40)) + "…" : given
            throw fail(line: line, column: column,
                       "TOML syntax error: \(shown) reads as a date or a time, and this file holds none: text goes in quotes (\"\(shown)\"; a phone number or a duration too, e.g. clear_after = \"10m\")")
        case nil:
            break
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: body)
        } catch let error as TOMLParseError {
            let line = error.source.begin.line
            let lineText = body.split(separator: "\n", omittingEmptySubsequences: false)
                .dropFirst(max(line - 1, 0)).first.map(String.init) ?? ""
            throw fail(line: line, column: error.source.begin.column,
                       "TOML syntax error: \(error.description)" + syntaxHint(message: error.description, lineText: lineText))
        } catch {
            throw fail(line: nil, "TOML syntax error: \(error)")
        }

        let root = TOMLNode(table)
        // TOMLKit 0.6.0 never deletes the document toml++ parsed (TOMLTable has no deinit), so
        // every parse kept its whole tree: the shell parses each `set` value, the county each
        // stations file, and a fuzz run grew by about 1 KB a parse to libFuzzer's 2 GB limit.
        // `root` is a copy in Swift values; emptying the table frees the tree and leaves only its
        // empty root and TOMLKit's error slot, under 200 bytes a parse.
        table.clear()
        return (root, TOMLLineLocator(text: body))
    }

    /// The likely cause of a TOML syntax error, in a technician's words; "" when there is no
    /// good guess. A Chinese keyboard's quotes and equals sign are the commonest cause in the field.
    package static func syntaxHint(message: String, lineText: String) -> String {
        if lineText.contains(where: { "“”‘’＝：，［］".contains($0) }) {
            return " (this line has full-width punctuation such as “ ” ＝ from a Chinese keyboard; use plain \" and =)"
        }
        if message.contains("could not determine value type") {
            return " (text must be in quotes, e.g. kind = \"rain_gauge\")"
        }
        if message.contains("cannot redefine") {
            return " (a key may be given only once in a table; each [[sensor]], [[rule]] … block starts a new table)"
        }
        if message.contains("control characters") || message.contains("encountered end-of-file") {
            return " (is a closing quote or bracket missing?)"
        }
        return ""
    }

    /// The file's text, refusing what cannot be a configuration before parsing it.
    package static func readText(path: String) throws(ConfigurationError) -> String {
        func fail(_ message: String, line: Int? = nil) -> ConfigurationError {
            ConfigurationError(problems: [ConfigurationProblem(file: path, line: line, key: "", given: nil, allowed: message)])
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail("no such file")
        }
        guard !isDirectory.boolValue else { throw fail("this is a directory; give the configuration file inside it") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw fail("cannot be read (check its permissions)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            // One byte over the limit is enough to know the file is too big.
            data = try handle.read(upToCount: ConfigurationFileLimits.fileBytesMax + 1) ?? Data()
        } catch {
            throw fail("cannot be read: \(error.localizedDescription)")
        }
        guard data.count <= ConfigurationFileLimits.fileBytesMax else {
            throw fail("the file is over \(ConfigurationFileLimits.fileBytesMax) bytes; a configuration is a few kilobytes: is this the right file?")
        }
        // Find the first byte that is not UTF-8, to name its line: a file saved as GBK by a
        // Chinese Windows editor is the usual cause.
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = data.makeIterator()
        var line = 1
        decoding: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if encoded.count == 1, encoded.first == UInt8(ascii: "\n") { line += 1 }
            case .emptyInput:
                break decoding
            case .error:
                throw fail("the file is not UTF-8 (saved as GBK/GB2312?); save it as UTF-8 and check again", line: line)
            }
        }
        return String(decoding: data, as: UTF8.self)
    }
}
