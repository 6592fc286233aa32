// What `village-county pull` prints: a table of stations that fits an 80-column terminal, then one
// wrapped paragraph per gap, missing range and failure, each saying what to check.
import CountyProtocol

enum PullSummary {
    static let columns = 80

    /// The whole report, ending in a newline.
    static func render(_ results: [StationPullResult], databasePath: String) -> String {
        var lines: [String] = []
        let failed = results.filter { $0.failure != nil || $0.stoppedAtPageLimit }.count
        let stored = results.reduce(0) { $0 + $1.newReports }
        lines += wrap("county pull: \(results.count) station\(results.count == 1 ? "" : "s"), \(results.count - failed) pulled, "
            + "\(failed) not; \(stored) new report\(stored == 1 ? "" : "s") stored in \(databasePath)")
        lines.append("")
        lines.append(row("station", "name", "new", "through", "gaps", "missing", "result"))
        for result in results {
            let missing = result.newMissing.reduce(Int64(0)) { $0 + Int64($1.count) }
            lines.append(row(
                result.station.id, result.station.name, String(result.newReports), String(result.pulledThrough),
                String(result.newGaps.count), String(missing), word(result)))
        }
        var details: [String] = []
        for result in results {
            let who = "\(result.station.id) \(result.station.name)"
            for gap in result.newGaps {
                details += wrap("\(who): gap \(gap.from)-\(gap.through): \(gap.count) routine report\(gap.count == 1 ? "" : "s") "
                    + "thinned by the box (\(gap.reason), recorded \(gap.recordedAt))", indent: 2)
            }
            for range in result.newMissing {
                details += wrap("\(who): MISSING \(range.lowerBound)-\(range.upperBound) (\(range.count) number\(range.count == 1 ? "" : "s")): "
                    + "neither sent nor inside a gap the box declared. This is a fault on the box (or reports purged after "
                    + "another system acknowledged them); keep the box's outbox.sqlite and log and report it", indent: 2)
            }
            if !result.conflicts.isEmpty {
                let list = result.conflicts.prefix(10).map(String.init).joined(separator: ", ") + (result.conflicts.count > 10 ? ", …" : "")
                details += wrap("\(who): CONFLICT: the box sent \(result.conflicts.count) number\(result.conflicts.count == 1 ? "" : "s") "
                    + "again with different content (\(list)); the first content is kept in reports, the new one in conflicts. "
                    + "A box must never reuse a number: report it", indent: 2)
            }
            if let failure = result.failure {
                details += wrap("\(who): \(failure.description)", indent: 2)
            }
            if result.stoppedAtPageLimit {
                details += wrap("\(who): stopped after \(result.pages) pages (the per-run limit) at \(result.pulledThrough) "
                    + "of \(result.boxLastSequence ?? 0); run the pull again to continue", indent: 2)
            }
        }
        if !details.isEmpty {
            lines.append("")
            lines += details
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func word(_ result: StationPullResult) -> String {
        if let failure = result.failure { return failure.word }
        if !result.conflicts.isEmpty { return "CONFLICT" }
        if !result.newMissing.isEmpty { return "MISSING" }
        if result.stoppedAtPageLimit { return "more waiting" }
        return "ok"
    }

    /// station 10, name 12, new 8, through 10, gaps 5, missing 7, result: 80 columns at most.
    private static func row(_ station: String, _ name: String, _ new: String, _ through: String, _ gaps: String, _ missing: String, _ result: String) -> String {
        let fixed = pad(station, 10) + "  " + pad(truncate(name, 12), 12) + "  " + padLeft(new, 8) + "  " + padLeft(through, 10)
            + "  " + padLeft(gaps, 5) + "  " + padLeft(missing, 7) + "  "
        return fixed + truncate(result, columns - displayWidth(fixed))
    }

    // MARK: Terminal columns (a Chinese character takes two)

    static func displayWidth(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + width($1) }
    }

    private static func width(_ scalar: Unicode.Scalar) -> Int {
        let value = scalar.value
        if scalar.properties.generalCategory == .nonspacingMark || value == 0x200B { return 0 }
        let wide: [ClosedRange<UInt32>] = [
            0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x20000...0x3FFFD,
        ]
        return wide.contains { $0.contains(value) } ? 2 : 1
    }

    static func truncate(_ text: String, _ widthMax: Int) -> String {
        guard displayWidth(text) > widthMax else { return text }
        var result = ""
        var used = 0
        for character in text {
            let characterWidth = displayWidth(String(character))
            if used + characterWidth > widthMax - 1 { break }
            result.append(character)
            used += characterWidth
        }
        return result + "…"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - displayWidth(text)))
    }

    private static func padLeft(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - displayWidth(text))) + text
    }

    /// Words onto lines of at most `columns`; continuation lines indented by `indent`. A single
    /// word wider than a line (a long path) is cut.
    static func wrap(_ text: String, indent: Int = 0) -> [String] {
        var lines: [String] = []
        var line = ""
        let prefix = String(repeating: " ", count: indent)
        for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            let candidate = line.isEmpty ? (lines.isEmpty ? word : prefix + word) : line + " " + word
            if displayWidth(candidate) <= columns || line.isEmpty || line == prefix {
                line = candidate
            } else {
                lines.append(line)
                line = prefix + word
            }
            while displayWidth(line) > columns {
                let head = truncateExact(line, columns)
                lines.append(head)
                line = prefix + String(line.dropFirst(head.count))
            }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    private static func truncateExact(_ text: String, _ widthMax: Int) -> String {
        var result = ""
        var used = 0
        for character in text {
            let characterWidth = displayWidth(String(character))
            if used + characterWidth > widthMax { break }
            result.append(character)
            used += characterWidth
        }
        return result
    }
}
