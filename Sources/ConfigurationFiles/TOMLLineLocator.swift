// Finds the line a TOML key was written on, since parsed TOML values carry no position.

/// One step into a TOML document: a key of a table or an index into an array (an array of
/// tables counts its `[[name]]` blocks from 0).
package enum TOMLPathComponent: Hashable, Sendable, CustomStringConvertible {
    case key(String)
    case index(Int)

    package var description: String {
        switch self {
        case .key(let key): key
        case .index(let index): "[\(index)]"
        }
    }
}

package typealias TOMLPath = [TOMLPathComponent]

/// Maps paths such as `sensor[1].mm_per_tip`, `outputs.red.siren` or `combined_rule[0].when[1].rule`
/// to the 1-based line where they were written, by a light scan of the text.
///
/// The scan follows TOML's structure far enough to know which table each key belongs to:
/// `[table]` and `[[array]]` headers (dotted, quoted), dotted and quoted keys, comments (a `[` or
/// `=` inside a comment or a string is not structure), strings of all four kinds including
/// multi-line ones, and arrays and inline tables that span lines. It never rejects anything:
/// the TOML parser has already judged the syntax, and on text it does not understand the scan
/// skips to the next line. A path it cannot place falls back to its nearest placed ancestor,
/// usually the table header.
package struct TOMLLineLocator: Sendable {
    /// The first line on which each path appears.
    private(set) var lines: [TOMLPath: Int] = [:]

    package init(text: String) {
        var scanner = Scanner(bytes: Array(text.utf8))
        scanner.scanDocument()
        lines = scanner.lines
    }

    /// The line of `path`, or of its nearest ancestor that was placed; nil if none was.
    package func line(for path: TOMLPath) -> Int? {
        var candidate = path
        while !candidate.isEmpty {
            if let line = lines[candidate] { return line }
            candidate.removeLast()
        }
        return nil
    }

    /// The line of exactly `path`, without falling back.
    package func exactLine(for path: TOMLPath) -> Int? { lines[path] }

    private struct Scanner {
        package let bytes: [UInt8]
        package var position = 0
        package var line = 1
        package var lines: [TOMLPath: Int] = [:]
        /// The table that key/value lines currently go into.
        package var currentTable: TOMLPath = []
        /// How many `[[name]]` blocks each array of tables has had so far, by its path.
        package var arrayTableCounts: [TOMLPath: Int] = [:]

        package init(bytes: [UInt8]) { self.bytes = bytes }

        private var atEnd: Bool { position >= bytes.count }
        private var current: UInt8? { position < bytes.count ? bytes[position] : nil }
        private func peek(_ offset: Int) -> UInt8? {
            position + offset < bytes.count ? bytes[position + offset] : nil
        }

        private mutating func record(_ path: TOMLPath, line: Int) {
            if lines[path] == nil { lines[path] = line }
        }

        private mutating func advance() {
            if current == UInt8(ascii: "\n") { line += 1 }
            position += 1
        }

        private mutating func skipSpaces() {
            while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                advance()
            }
        }

        /// Skips spaces, newlines and comments (inside arrays, where values may span lines).
        private mutating func skipBlank() {
            while let byte = current {
                if byte == UInt8(ascii: "#") {
                    skipToEndOfLine()
                } else if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
                    advance()
                } else {
                    return
                }
            }
        }

        /// Moves to the start of the next line (past the newline).
        private mutating func skipToEndOfLine() {
            while let byte = current, byte != UInt8(ascii: "\n") { advance() }
        }

        package mutating func scanDocument() {
            while !atEnd {
                skipBlank()
                guard let byte = current else { return }
                let lineBefore = line
                if byte == UInt8(ascii: "[") {
                    scanHeader()
                } else if let key = scanKey(), current == UInt8(ascii: "=") {
                    advance()
                    recordKeyPrefixes(currentTable, key, line: lineBefore)
                    skipSpaces()
                    scanValue(currentTable + key.map { .key($0) })
                }
                // Whatever follows on the line the entry ended on: a comment, or text the scan
                // did not follow.
                skipToEndOfLine()
            }
        }

        /// Dotted keys define their intermediate tables on the same line: `a.b.c = 1`.
        private mutating func recordKeyPrefixes(_ table: TOMLPath, _ key: [String], line: Int) {
            var path = table
            for part in key {
                path.append(.key(part))
                record(path, line: line)
            }
        }

        private mutating func scanHeader() {
            let headerLine = line
            advance()
            let isArray = current == UInt8(ascii: "[")
            if isArray { advance() }
            skipSpaces()
            guard let key = scanKey() else { return }
            // Resolve each prefix that is an array of tables to its latest block, as TOML does:
            // `[[rule.when]]` after the third `[[rule]]` belongs to rule[2].
            var path: TOMLPath = []
            for (offset, part) in key.enumerated() {
                path.append(.key(part))
                let isLast = offset == key.count - 1
                if isLast && isArray {
                    let index = arrayTableCounts[path, default: 0]
                    arrayTableCounts[path] = index + 1
                    record(path, line: headerLine)
                    path.append(.index(index))
                } else if let count = arrayTableCounts[path], count > 0 {
                    record(path, line: headerLine)
                    path.append(.index(count - 1))
                }
                record(path, line: headerLine)
            }
            currentTable = path
        }

        /// Reads a possibly dotted, possibly quoted key and the spaces after it; nil if there is none.
        private mutating func scanKey() -> [String]? {
            var parts: [String] = []
            while true {
                skipSpaces()
                guard let byte = current else { return parts.isEmpty ? nil : parts }
                if byte == UInt8(ascii: "\"") {
                    guard let part = scanBasicString() else { return nil }
                    parts.append(part)
                } else if byte == UInt8(ascii: "'") {
                    guard let part = scanLiteralString() else { return nil }
                    parts.append(part)
                } else {
                    let start = position
                    while let byte = current, Scanner.isBareKeyByte(byte) { advance() }
                    guard position > start else { return nil }
                    parts.append(String(decoding: bytes[start..<position], as: UTF8.self))
                }
                skipSpaces()
                if current == UInt8(ascii: ".") {
                    advance()
                    continue
                }
                if current == UInt8(ascii: "]") {
                    // Closing a header: `]` or `]]`.
                    advance()
                    if current == UInt8(ascii: "]") { advance() }
                }
                return parts
            }
        }

        private static func isBareKeyByte(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }

        /// Deeper nesting than this is not followed (the TOML parser allows 256; no key of ours
        /// nests more than three), so the recursion below stays shallow on any input.
        private static let nestingMax = 16

        /// A value at `path`, which was recorded already by the caller where it starts a key.
        private mutating func scanValue(_ path: TOMLPath) {
            guard path.count <= Scanner.nestingMax else { return }
            record(path, line: line)
            guard let byte = current else { return }
            switch byte {
            case UInt8(ascii: "["):
                advance()
                var index = 0
                while true {
                    skipBlank()
                    guard let next = current else { return }
                    if next == UInt8(ascii: "]") {
                        advance()
                        return
                    }
                    let before = position
                    scanValue(path + [.index(index)])
                    skipBlank()
                    if current == UInt8(ascii: ",") {
                        advance()
                        index += 1
                    } else if position == before {
                        advance()  // not understood; never loop in place
                    }
                }
            case UInt8(ascii: "{"):
                advance()
                while true {
                    skipBlank()
                    guard let next = current else { return }
                    if next == UInt8(ascii: "}") {
                        advance()
                        return
                    }
                    let keyLine = line
                    guard let key = scanKey(), current == UInt8(ascii: "=") else {
                        advance()
                        continue
                    }
                    advance()
                    recordKeyPrefixes(path, key, line: keyLine)
                    skipSpaces()
                    scanValue(path + key.map { .key($0) })
                    skipBlank()
                    if current == UInt8(ascii: ",") { advance() }
                }
            case UInt8(ascii: "\""):
                _ = scanBasicString()
            case UInt8(ascii: "'"):
                _ = scanLiteralString()
            default:
                // Numbers, booleans, dates: up to a delimiter. (A date may hold a space.)
                while let next = current,
                    next != UInt8(ascii: ","), next != UInt8(ascii: "]"), next != UInt8(ascii: "}"),
                    next != UInt8(ascii: "#"), next != UInt8(ascii: "\n")
                {
                    advance()
                }
            }
        }

        /// A `"…"` or `"""…"""` string; returns its text with simple escapes decoded (enough for keys).
        private mutating func scanBasicString() -> String? {
            if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") {
                for _ in 0..<3 { advance() }
                var text: [UInt8] = []
                while let byte = current {
                    if byte == UInt8(ascii: "\\") {
                        advance()
                        if let escaped = current { text.append(escaped) }
                        advance()
                    } else if byte == UInt8(ascii: "\""), peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") {
                        for _ in 0..<3 { advance() }
                        // Up to two quotes may end the content right before the closing three.
                        while current == UInt8(ascii: "\"") { advance() }
                        return String(decoding: text, as: UTF8.self)
                    } else {
                        text.append(byte)
                        advance()
                    }
                }
                return nil
            }
            advance()
            var text: [UInt8] = []
            while let byte = current, byte != UInt8(ascii: "\n") {
                if byte == UInt8(ascii: "\"") {
                    advance()
                    return String(decoding: text, as: UTF8.self)
                }
                if byte == UInt8(ascii: "\\") {
                    advance()
                    guard let escaped = current else { return nil }
                    switch escaped {
                    case UInt8(ascii: "n"): text.append(UInt8(ascii: "\n"))
                    case UInt8(ascii: "t"): text.append(UInt8(ascii: "\t"))
                    default: text.append(escaped)  // \" and \\ (and, loosely, the rest)
                    }
                    advance()
                } else {
                    text.append(byte)
                    advance()
                }
            }
            return nil
        }

        /// A `'…'` or `'''…'''` string, which has no escapes.
        private mutating func scanLiteralString() -> String? {
            if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") {
                for _ in 0..<3 { advance() }
                let start = position
                while !atEnd {
                    if current == UInt8(ascii: "'"), peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") {
                        let end = position
                        for _ in 0..<3 { advance() }
                        while current == UInt8(ascii: "'") { advance() }
                        return String(decoding: bytes[start..<end], as: UTF8.self)
                    }
                    advance()
                }
                return nil
            }
            advance()
            let start = position
            while let byte = current, byte != UInt8(ascii: "\n") {
                if byte == UInt8(ascii: "'") {
                    let end = position
                    advance()
                    return String(decoding: bytes[start..<end], as: UTF8.self)
                }
                advance()
            }
            return nil
        }
    }
}
