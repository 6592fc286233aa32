// The county's list of boxes to pull (`village-county pull --stations FILE`): TOML `[[station]]` blocks,
// checked with the same located, one-line problems as gateway.toml.
import Foundation

/// One box the county pulls from.
package struct PullStation: Sendable, Equatable {
    /// The box's `[station] id`: 10 digits, the SL 651 address; signed into every request.
    package var id: String
    package var name: String
    /// Where the box's API listens: `http://host:port` (https also), no path.
    package var url: String
    /// The HMAC key file shared with that box (hex, as `openssl rand -hex 32` writes it). Read when
    /// the station is pulled, so one missing key fails that station only.
    package var keyFile: String
    /// Where the box stands (WGS-84 decimal degrees), for the dashboard's map; optional.
    package var latitude: Double?
    package var longitude: Double?

    package init(id: String, name: String, url: String, keyFile: String, latitude: Double? = nil, longitude: Double? = nil) {
        self.id = id
        self.name = name
        self.url = url
        self.keyFile = keyFile
        self.latitude = latitude
        self.longitude = longitude
    }
}

/// The parsed stations file.
package enum StationsFile {
    /// A county has hundreds of boxes, a province up to 20 000 (issue 16); at about 150 bytes a
    /// block (200 with coordinates), they fit in `fileBytesMax`, which bounds the parse (about
    /// a second for the largest).
    package static let stationsMax = 20_000
    package static let fileBytesMax = 4 * 1024 * 1024
    package static let urlCharactersMax = 512
    package static let keys = ["id", "name", "url", "key_file", "latitude", "longitude"]

    /// Reads and checks `path`; every problem at once, each `file:line: key = given: allowed`.
    /// A relative `key_file` is found beside the stations file, as a box finds its key beside
    /// gateway.toml: the file and its keys move together.
    package static func load(path: String) throws(ConfigurationError) -> [PullStation] {
        let text = try readText(path: path)
        return try parse(text: text, file: path).map { station in
            var station = station
            station.keyFile = resolve(station.keyFile, besideFile: path)
            return station
        }
    }

    package static func resolve(_ keyFile: String, besideFile path: String) -> String {
        guard !keyFile.hasPrefix("/") else { return keyFile }
        let folder = (path as NSString).deletingLastPathComponent
        return folder.isEmpty ? keyFile : folder + "/" + keyFile
    }

    package static func parse(text: String, file: String) throws(ConfigurationError) -> [PullStation] {
        let document = try ConfigurationLoader.parseDocument(text: text, file: file, what: "a stations file")
        let problems = ProblemCollector(file: file, locator: document.locator)
        var stations: [PullStation] = []
        guard case .table(let root) = document.root else { return [] }
        for key in root.keys where key != "station" {
            let suggestion = closestName(to: key, among: ["station"]) != nil ? "; did you mean [[station]]?" : ""
            problems.report(at: [.key(key)], key: "", given: nil,
                            "unknown \"\(key)\"\(suggestion); a stations file has only [[station]] blocks")
        }
        let readers = stationReaders(root["station"], problems: problems)
        if readers.isEmpty && root["station"] == nil {
            problems.report(at: nil, key: "[[station]]", given: nil,
                            "missing; write one [[station]] block per box, with id, name, url and key_file")
        }
        var firstLineOfId: [String: String] = [:]
        for reader in readers {
            reader.reportUnknownKeys(known: keys)
            let id = stationId(reader)
            let name = requiredText(reader, "name", example: "name = \"黄坑村\"")
            let url = stationURL(reader)
            let keyFile = requiredText(reader, "key_file", example: "key_file = \"/etc/village-county/keys/0011223344.hex\"")
            if let id {
                if let first = firstLineOfId[id] {
                    reader.report("id", given: .string(id), "station \(id) is already listed (\(first)); list each box once")
                } else {
                    let line = problems.locator.line(for: reader.path).map { "line \($0)" } ?? "above"
                    firstLineOfId[id] = line
                }
            }
            let (latitude, longitude) = coordinates(reader)
            if let id, let name, let url, let keyFile {
                stations.append(PullStation(id: id, name: name, url: url, keyFile: keyFile, latitude: latitude, longitude: longitude))
            }
        }
        guard problems.isEmpty else { throw ConfigurationError(problems: problems.problems) }
        return stations
    }

    package static func readText(path: String) throws(ConfigurationError) -> String {
        func fail(_ message: String) -> ConfigurationError {
            ConfigurationError(problems: [ConfigurationProblem(file: path, line: nil, key: "", given: nil, allowed: message)])
        }
        let text: String
        do {
            text = try readTextFile(path: path)
        } catch {
            throw fail(error.description)
        }
        guard text.utf8.count <= fileBytesMax else {
            throw fail("over \(fileBytesMax / 1024) KiB; a stations file is about 150 bytes per box, \(stationsMax) boxes at most: is this the right file?")
        }
        return text
    }

    private static func stationReaders(_ node: TOMLNode?, problems: ProblemCollector) -> [TableReader] {
        guard let node else { return [] }
        guard case .array(let elements) = node else {
            problems.report(at: [.key("station")], key: "[station]", given: nil,
                            "must be blocks of [[station]], with two brackets: one block per box")
            return []
        }
        if elements.count > stationsMax {
            problems.report(at: [.key("station"), .index(stationsMax)], key: "[[station]]", given: nil,
                            "at most \(stationsMax) [[station]] blocks; this file has \(elements.count): split it")
        }
        var readers: [TableReader] = []
        for (index, element) in elements.prefix(stationsMax).enumerated() {
            guard case .table(let entries) = element else {
                problems.report(at: [.key("station"), .index(index)], key: "[[station]] #\(index + 1)", given: element.rendered,
                                "must be a table of keys")
                continue
            }
            readers.append(TableReader(entries: entries, path: [.key("station"), .index(index)],
                                       label: "[[station]] #\(index + 1)", problems: problems))
        }
        return readers
    }

    private static func stationId(_ reader: TableReader) -> String? {
        guard reader.has("id") else {
            reader.missing("id", "the box's 10-digit station id ([station] id in its gateway.toml), e.g. id = \"0011223344\"")
            return nil
        }
        guard let text = reader.string("id") else { return nil }
        guard text.count == 10, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            reader.report("id", given: .string(text),
                          "must be the box's 10-digit station id, digits only, e.g. \"0011223344\" ([station] id in its gateway.toml)")
            return nil
        }
        return text
    }

    private static func requiredText(_ reader: TableReader, _ key: String, example: String) -> String? {
        guard reader.has(key) else {
            reader.missing(key, "e.g. \(example)")
            return nil
        }
        guard let text = reader.string(key) else { return nil }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty, text.count <= urlCharactersMax else {
            reader.report(key, given: .string(text), "must be 1 to \(urlCharactersMax) characters, e.g. \(example)")
            return nil
        }
        return text
    }

    /// Both or neither, in range: a map with a station at 0°N 0°E is worse than no map.
    static func coordinates(_ reader: TableReader) -> (Double?, Double?) {
        let latitude = reader.has("latitude") ? reader.number("latitude") : nil
        let longitude = reader.has("longitude") ? reader.number("longitude") : nil
        if let latitude, !(-90...90).contains(latitude) {
            reader.report("latitude", given: .float(latitude), "must be -90 to 90 decimal degrees north, e.g. latitude = 28.1234")
            return (nil, nil)
        }
        if let longitude, !(-180...180).contains(longitude) {
            reader.report("longitude", given: .float(longitude), "must be -180 to 180 decimal degrees east, e.g. longitude = 120.9876")
            return (nil, nil)
        }
        if reader.has("latitude") != reader.has("longitude") {
            reader.report(reader.has("latitude") ? "latitude" : "longitude", given: nil, "give both latitude and longitude, or neither")
            return (nil, nil)
        }
        return (latitude, longitude)
    }

    private static func stationURL(_ reader: TableReader) -> String? {
        let example = "url = \"http://10.0.0.7:8651\""
        guard let text = requiredText(reader, "url", example: example) else { return nil }
        guard parseBaseURL(text) != nil else {
            reader.report("url", given: .string(text),
                          "must be http:// or https:// with the box's host and optional port and no path, e.g. \"http://10.0.0.7:8651\"")
            return nil
        }
        return text
    }

    /// `http://host[:port][/]` split into its parts; nil for anything else (a path, a query,
    /// credentials, a port out of range).
    package static func parseBaseURL(_ text: String) -> (scheme: String, host: String, port: Int?)? {
        let scheme: String
        var rest: Substring
        if text.hasPrefix("http://") {
            scheme = "http"
            rest = text.dropFirst("http://".count)
        } else if text.hasPrefix("https://") {
            scheme = "https"
            rest = text.dropFirst("https://".count)
        } else {
            return nil
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains(where: { "/?#@ \t".contains($0) }) else { return nil }
        var host = rest
        var port: Int?
        if rest.hasPrefix("[") {
            // An IPv6 literal: [fd00::7]:8651.
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[...close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let value = Int(rest[rest.index(after: colon)...]) else { return nil }
            port = value
        }
        guard !host.isEmpty else { return nil }
        if let port, !(1...65_535).contains(port) { return nil }
        return (scheme, String(host), port)
    }
}
