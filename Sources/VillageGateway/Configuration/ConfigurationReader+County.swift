// The [county] table of gateway.toml and its sub-tables [county.api], [county.push], [county.sl651].
import WarningLogic

extension ConfigurationReader {
    // The keys of each table, their bounds and defaults are described in ConfigurationSchema.swift.

    /// What to tell a technician who has no key yet.
    static func keyFileHint(_ example: String) -> String {
        "make one with `openssl rand -hex 32 > \(example); chmod 600 \(example)` and write key_file = \"\(example)\""
    }

    /// `sensors`: the `[[sensor]]` blocks by id, so `[county.sl651] displacement` can name only displacement sensors.
    func readCounty(sensors: [String: KnownSensor] = [:]) -> CountyConfiguration {
        var county = CountyConfiguration()
        let keys = schemaTable("county")
        let reader = keys.reader
        county.centreAddress = keys.integer("centre_address") ?? county.centreAddress
        county.password = keys.integer("password").map(UInt16.init) ?? county.password
        county.summaryEveryMilliseconds = keys.duration("summary_every") ?? county.summaryEveryMilliseconds
        if reader.has("summary_every"), Milliseconds.day % county.summaryEveryMilliseconds != 0 {
            let every = county.summaryEveryMilliseconds
            // Summaries are aligned to the period from local midnight: a period that does not
            // divide a day would drift against the clock the county reads them by.
            reader.report("summary_every", given: .string(formatDuration(every)),
                          "must divide a day evenly (e.g. \"5m\", \"10m\", \"15m\", \"30m\", \"1h\", \"3h\", \"6h\", \"1d\"), so summaries fall on the same clock times every day")
            county.summaryEveryMilliseconds = CountyConfiguration().summaryEveryMilliseconds
        }
        county.outboxMegabytesMax = keys.integer("outbox_max_mb") ?? county.outboxMegabytesMax
        county.keepDeliveredMilliseconds = keys.duration("keep_delivered") ?? county.keepDeliveredMilliseconds
        if let text = reader.string("push_window") {
            if let window = parseDailyWindow(text) {
                county.pushWindow = window
            } else {
                reader.report("push_window", given: .string(text),
                              "must be two local times hh:mm-hh:mm, e.g. \"22:00-06:00\" (wraps past midnight); start and end must differ")
            }
        }
        county.linkProbeEveryMilliseconds = keys.duration("link_probe_every") ?? county.linkProbeEveryMilliseconds
        if let node = reader.entries["uplink_interfaces"] {
            let allowed = "must be a list of interface names in quotes, e.g. [\"ppp0\", \"wwan0\", \"eth0\"] (at most \(CountyConfiguration.uplinkInterfacesMax), each 1-15 characters)"
            if case .array(let elements) = node, elements.count <= CountyConfiguration.uplinkInterfacesMax {
                let names = elements.compactMap { element -> String? in
                    guard case .string(let name) = element, (1...15).contains(name.utf8.count) else { return nil }
                    return name
                }
                if names.count == elements.count { county.uplinkInterfaces = names } else { reader.report("uplink_interfaces", given: node, allowed) }
            } else {
                reader.report("uplink_interfaces", given: node, allowed)
            }
        }
        county.api = readCountyAPI(reader)
        county.httpPush = readCountyPush(reader)
        county.sl651Push = readCountySL651(reader)
        if let sl651 = subtable(reader, "sl651", checkingKeys: false) { county.sl651 = readCountySL651Mapping(sl651.reader, sensors: sensors, summaryEveryMilliseconds: county.summaryEveryMilliseconds) }
        return county
    }

    /// `[county.<name>]` read by the schema, or nil (reported) when written as something other than a table.
    private func subtable(_ reader: TableReader, _ name: String, checkingKeys: Bool = true) -> SchemaTableReader? {
        guard let node = reader.entries[name] else { return nil }
        guard case .table(let entries) = node else {
            reader.report(name, given: node, "must be a table written [county.\(name)] with its keys on the lines below")
            return nil
        }
        let table = TableReader(entries: entries, path: reader.path + [.key(name)], label: "[county.\(name)]", problems: problems)
        return SchemaTableReader(table, table: "county." + name, checkingKeys: checkingKeys)
    }

    private func readCountyAPI(_ county: TableReader) -> CountyAPIConfiguration? {
        guard let keys = subtable(county, "api") else { return nil }
        let reader = keys.reader
        var api = CountyAPIConfiguration(keyFile: "")
        if let text = keys.text("listen") {
            if let address = parseHostAndPort(text, portMin: 0) {
                api.host = address.host
                api.port = address.port
            } else {
                reader.report("listen", given: .string(text),
                              "must be host:port with a port 0 to 65535, e.g. \"0.0.0.0:8651\" or \"127.0.0.1:0\" (0: any free port, written to STATE_DIR/api.port)")
            }
        }
        if let file = reader.string("key_file") {
            if file.trimmingSpaces.isEmpty {
                reader.report("key_file", given: .string(file), "must name the station's key file; " + Self.keyFileHint("/etc/village-gateway/api.key"))
            } else {
                api.keyFile = file
            }
        } else if !reader.has("key_file") {
            reader.missing("key_file", "the API has no default credentials: every request is signed with this station's key; "
                + Self.keyFileHint("/etc/village-gateway/api.key"))
        }
        api.clockSkewMillisecondsMax = keys.duration("max_clock_skew") ?? api.clockSkewMillisecondsMax
        return api
    }

    private func readCountyPush(_ county: TableReader) -> HTTPPushConfiguration? {
        guard let keys = subtable(county, "push") else { return nil }
        let reader = keys.reader
        var push = HTTPPushConfiguration(url: "", keyFile: "")
        if let url = reader.string("url") {
            if (url.hasPrefix("http://") || url.hasPrefix("https://")) && url.count > "https://".count && !url.contains(" ") {
                push.url = url
            } else {
                reader.report("url", given: .string(url), "must be an http:// or https:// URL without spaces, e.g. \"https://county.example.cn/v1/push\"")
            }
        } else if !reader.has("url") {
            reader.missing("url", "where the county receives pushes, e.g. url = \"https://county.example.cn/v1/push\"")
        }
        if let file = reader.string("key_file") {
            if file.trimmingSpaces.isEmpty {
                reader.report("key_file", given: .string(file), "must name the key file pushes are signed with; " + Self.keyFileHint("/etc/village-gateway/push.key"))
            } else {
                push.keyFile = file
            }
        } else if !reader.has("key_file") {
            reader.missing("key_file", "pushes are signed with this station's key; " + Self.keyFileHint("/etc/village-gateway/push.key"))
        }
        push.batchMax = keys.integer("batch_max") ?? push.batchMax
        return push
    }

    /// `hourly` and `displacement` of `[county.sl651]` (unknown keys are reported by `readCountySL651`).
    private func readCountySL651Mapping(_ reader: TableReader, sensors: [String: KnownSensor], summaryEveryMilliseconds: Int64) -> SL651MappingConfiguration {
        var mapping = SL651MappingConfiguration()
        if let node = reader.entries["hourly"] {
            if case .boolean(let value) = node {
                mapping.hourly = value
                if value, summaryEveryMilliseconds != Milliseconds.hour {
                    reader.report("hourly", given: node, "needs [county] summary_every = \"1h\": the hourly report 34 carries one hour's twelve 5-minute values (summary_every is \(formatDuration(summaryEveryMilliseconds)))")
                }
            } else {
                reader.report("hourly", given: node, "must be true (hourly report 34 with 5-minute rain and water-level series) or false (timed report 32)")
            }
        }
        guard let node = reader.entries["displacement"] else { return mapping }
        guard case .table(let entries) = node else {
            reader.report("displacement", given: node, "must be a table of sensor id = identifier, e.g. displacement = { slope_x = \"hunan-x\", crack1 = \"FF20 N(6,1)\" }")
            return mapping
        }
        for (id, value) in entries.sorted(by: { $0.key < $1.key }) {
            let key = "displacement." + id
            guard case .string(let text) = value, let identifier = SL651DisplacementIdentifier(text: text) else {
                reader.report(key, given: value, "must be an SL 651 user-defined identifier: " + SL651DisplacementIdentifier.syntaxHint)
                continue
            }
            guard let sensor = sensors[id] else {
                let suggestion = closestName(to: id, among: Array(sensors.keys)).map { "; did you mean \"\($0)\"?" } ?? ""
                reader.report(key, given: value, "names no [[sensor]]: the key must be a displacement sensor's id\(suggestion)")
                continue
            }
            guard sensor.kind == nil || sensor.kind == .displacement else {
                reader.report(key, given: value, "sensor \"\(id)\" is a \(sensor.kind?.rawValue ?? "sensor"), not a displacement sensor; rain and water level have the standard's own identifiers")
                continue
            }
            if let clash = mapping.displacement.first(where: { $0.value.extendedGuide == identifier.extendedGuide }) {
                reader.report(key, given: value, "\(identifier.identifierText) is already sensor \"\(clash.key)\"'s; the centre could not tell them apart")
                continue
            }
            mapping.displacement[id] = identifier
        }
        return mapping
    }

    private func readCountySL651(_ county: TableReader) -> SL651PushConfiguration? {
        guard let keys = subtable(county, "sl651") else { return nil }
        let reader = keys.reader
        var push = SL651PushConfiguration(host: "", port: 0)
        if let text = reader.string("centre") {
            if let address = parseHostAndPort(text, portMin: 1) {
                push.host = address.host
                push.port = address.port
            } else {
                reader.report("centre", given: .string(text), "must be host:port of the county centre with a port 1 to 65535, e.g. \"10.1.2.3:5005\"")
            }
        } else if !reader.has("centre") {
            reader.missing("centre", "the county centre's host and port, e.g. centre = \"10.1.2.3:5005\"")
        }
        push.keepAliveEveryMilliseconds = keys.duration("keep_alive_every") ?? push.keepAliveEveryMilliseconds
        return push
    }
}

/// "host:port" or "[v6]:port"; nil when either part is missing or the port is out of range.
func parseHostAndPort(_ text: String, portMin: Int) -> (host: String, port: Int)? {
    var host: Substring
    var portText: Substring
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]") else { return nil }
        host = text[text.index(after: text.startIndex)..<close]
        let rest = text[text.index(after: close)...]
        guard rest.hasPrefix(":") else { return nil }
        portText = rest.dropFirst()
    } else {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
        if host.contains(":") { return nil }  // an IPv6 address must be bracketed
    }
    guard !host.isEmpty, !host.contains(" "), !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
        let port = Int(portText), (portMin...65_535).contains(port)
    else { return nil }
    return (String(host), port)
}

/// The host and port written back as `listen`/`centre` does.
func formatHostAndPort(_ host: String, _ port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

/// "22:00-06:00" → minutes of the day; nil when malformed or empty.
func parseDailyWindow(_ text: String) -> DailyWindow? {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 2, let start = parseMinuteOfDay(parts[0]), let end = parseMinuteOfDay(parts[1]), start != end else { return nil }
    return DailyWindow(startMinuteOfDay: start, endMinuteOfDay: end)
}

private func parseMinuteOfDay(_ text: Substring) -> Int? {
    let fields = text.split(separator: ":", omittingEmptySubsequences: false)
    guard fields.count == 2, fields.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
        let hour = Int(fields[0]), let minute = Int(fields[1]), (0...23).contains(hour), (0...59).contains(minute)
    else { return nil }
    return hour * 60 + minute
}

func formatDailyWindow(_ window: DailyWindow) -> String {
    func clock(_ minutes: Int) -> String {
        let hour = minutes / 60, minute = minutes % 60
        return (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
    }
    return clock(window.startMinuteOfDay) + "-" + clock(window.endMinuteOfDay)
}

extension EffectiveConfiguration {
    /// `[county]` and its sub-tables, every default written out; parses back to an equal value.
    static func renderCounty(_ county: CountyConfiguration, into out: inout TOMLWriter) {
        out.blank()
        out.header("[county]")
        out.entry("centre_address", String(county.centreAddress))
        out.entry("password", String(county.password))
        out.entry("summary_every", tomlQuoted(formatDuration(county.summaryEveryMilliseconds)))
        out.entry("outbox_max_mb", String(county.outboxMegabytesMax))
        out.entry("keep_delivered", tomlQuoted(formatDuration(county.keepDeliveredMilliseconds)))
        if let window = county.pushWindow {
            out.entry("push_window", tomlQuoted(formatDailyWindow(window)))
        } else {
            out.comment("push_window not set: pushes go whenever the link is up")
        }
        out.entry("link_probe_every", tomlQuoted(formatDuration(county.linkProbeEveryMilliseconds)))
        out.entry("uplink_interfaces", "[" + county.uplinkInterfaces.map(tomlQuoted).joined(separator: ", ") + "]")
        if let api = county.api {
            out.blank()
            out.header("[county.api]")
            out.entry("listen", tomlQuoted(formatHostAndPort(api.host, api.port)))
            out.entry("key_file", tomlQuoted(api.keyFile))
            out.entry("max_clock_skew", tomlQuoted(formatDuration(api.clockSkewMillisecondsMax)))
        } else {
            out.comment("[county.api] not set: no pull API is served")
        }
        if let push = county.httpPush {
            out.blank()
            out.header("[county.push]")
            out.entry("url", tomlQuoted(push.url))
            out.entry("key_file", tomlQuoted(push.keyFile))
            out.entry("batch_max", String(push.batchMax))
        } else {
            out.comment("[county.push] not set: no HTTP push")
        }
        if let sl651 = county.sl651Push {
            out.blank()
            out.header("[county.sl651]")
            out.entry("centre", tomlQuoted(formatHostAndPort(sl651.host, sl651.port)))
            out.entry("keep_alive_every", tomlQuoted(formatDuration(sl651.keepAliveEveryMilliseconds)))
            out.entry("hourly", county.sl651.hourly ? "true" : "false")
            let displacement = county.sl651.displacement.sorted { $0.key < $1.key }.map { "\(tomlKey($0.key)) = \(tomlQuoted($0.value.description))" }
            out.entry("displacement", "{ " + displacement.joined(separator: ", ") + " }", isDefault: displacement.isEmpty)
        } else {
            out.comment("[county.sl651] not set: no SL 651 push")
        }
    }
}
