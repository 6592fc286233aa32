// One page of a box's `GET /v2/reports` answer, checked against the contract before anything of
// it is stored: a box that answers nonsense gets named, not half-stored.
import CountyProtocol

/// A report as the county stores it.
struct CountyReport: Sendable, Equatable {
    var sequence: Int64
    var timeMilliseconds: Int64
    /// As the box wrote it, with the station's offset.
    var time: String
    var kind: String
    var priority: String
    var exercise: Bool
    /// The payload object exactly as the box sent it: the text it checked and stored, the same
    /// each time it is sent, so the same report received twice compares equal byte for byte.
    var payload: String
}

/// A page that passed every check, with the range it accounts for.
struct CheckedPage: Sendable, Equatable {
    var after: Int64
    /// Every number in `after+1 ... through` is in `reports`, inside a gap, or missing.
    var through: Int64
    var boxLastSequence: Int64
    var reports: [CountyReport]
    var gaps: [WireGap]
    var more: Bool

    /// Numbers in `after+1 ... through` that are neither in this page nor inside `gaps`.
    func holes(explainedBy gaps: [ClosedRange<Int64>]) -> [ClosedRange<Int64>] {
        var holes: [ClosedRange<Int64>] = []
        var next = after + 1
        for report in reports {
            if report.sequence > next { holes.append(next...(report.sequence - 1)) }
            next = report.sequence + 1
        }
        if through >= next { holes.append(next...through) }
        return Self.subtract(gaps, from: holes)
    }

    /// `ranges` minus every range in `removed`, in order.
    static func subtract(_ removed: [ClosedRange<Int64>], from ranges: [ClosedRange<Int64>]) -> [ClosedRange<Int64>] {
        let cuts = removed.sorted { $0.lowerBound < $1.lowerBound }
        var result: [ClosedRange<Int64>] = []
        for range in ranges {
            var start = range.lowerBound
            for cut in cuts where cut.upperBound >= start && cut.lowerBound <= range.upperBound {
                if cut.lowerBound > start { result.append(start...(cut.lowerBound - 1)) }
                start = max(start, cut.upperBound + 1)
                if start > range.upperBound { break }
            }
            if start <= range.upperBound { result.append(start...range.upperBound) }
        }
        return result
    }

    /// Checks `document` as the answer to `GET /v2/reports?after=\(after)&limit=\(limit)` from
    /// `station`. Throws what is wrong with it, in a line a county technician can act on.
    static func check(_ document: ReportsDocument, station: String, after: Int64, limit: Int) throws(BadDocument) -> CheckedPage {
        try check(ReceivedPage(document), station: station, after: after, limit: limit)
    }

    static func check(_ document: ReceivedPage, station: String, after: Int64, limit: Int) throws(BadDocument) -> CheckedPage {
        guard document.schema == ReportsDocument.schemaVersion2 else {
            throw BadDocument("schema \"\(document.schema)\"; this county pull reads \"\(ReportsDocument.schemaVersion2)\": update the box or village-county so both speak contract v2")
        }
        guard document.station == station else {
            throw BadDocument("the box answering says it is station \(document.station), the stations file says \(station): check this station's url")
        }
        guard document.after == after else {
            throw BadDocument("it answered for after=\(document.after), not the after=\(after) asked")
        }
        guard document.reports.count <= limit else {
            throw BadDocument("\(document.reports.count) reports, over the limit of \(limit) asked")
        }
        guard document.lastSequence >= 0 else { throw BadDocument("last_sequence \(document.lastSequence) is negative") }
        // Every number is held to what a box can have made, so no arithmetic on it can overflow
        // and no forged number can carry the county's progress past what the box holds.
        guard document.lastSequence <= OutsideLimits.sequenceMax else {
            throw BadDocument("last_sequence \(document.lastSequence) is beyond \(OutsideLimits.sequenceMax), more than any box can have numbered")
        }
        var reports: [CountyReport] = []
        reports.reserveCapacity(document.reports.count)
        var previous = after
        for wire in document.reports {
            guard wire.sequence > previous else {
                throw BadDocument("report \(wire.sequence) follows \(previous): sequences must increase and be above after=\(after)")
            }
            guard wire.sequence <= document.lastSequence else {
                throw BadDocument("report \(wire.sequence) is above the box's last_sequence \(document.lastSequence)")
            }
            guard (0...OutsideLimits.unixMillisecondsMax).contains(wire.timeMilliseconds) else {
                throw BadDocument("report \(wire.sequence) has time_ms \(wire.timeMilliseconds), outside 1970 to 9999")
            }
            previous = wire.sequence
            guard WireReport.priorities.contains(wire.priority) else {
                throw BadDocument("report \(wire.sequence) has priority \"\(wire.priority)\"; allowed: alarm, event, routine")
            }
            guard !wire.kind.isEmpty else { throw BadDocument("report \(wire.sequence) has no kind") }
            guard wire.payload.utf8.count <= PullOptions.reportPayloadBytesMax else {
                throw BadDocument(
                    "report \(wire.sequence) has a payload of \(wire.payload.utf8.count) bytes; a box stores at most \(PullOptions.reportPayloadBytesMax)")
            }
            reports.append(CountyReport(
                sequence: wire.sequence, timeMilliseconds: wire.timeMilliseconds, time: wire.time, kind: wire.kind,
                priority: wire.priority, exercise: wire.exercise, payload: wire.payload))
        }
        for gap in document.gaps {
            guard gap.from >= 1, gap.from <= gap.through, gap.through <= OutsideLimits.sequenceMax, gap.count >= 1,
                gap.count <= gap.through - gap.from + 1
            else {
                throw BadDocument("gap \(gap.from)-\(gap.through) of \(gap.count) reports is not a range of 1 or more thinned reports")
            }
        }
        // Reports end the range they cover; with none, the box's last number does (the rest was
        // thinned or lost: the caller checks it against the gaps).
        let through = reports.last?.sequence ?? max(after, document.lastSequence)
        return CheckedPage(
            after: after, through: through, boxLastSequence: document.lastSequence, reports: reports, gaps: document.gaps,
            more: document.more)
    }
}

/// What is wrong with a box's answer.
struct BadDocument: Error, CustomStringConvertible, Equatable {
    var description: String
    init(_ description: String) { self.description = description }
}
