// Reading one table of gateway.toml by ConfigurationSchema: each key's type, bounds and meaning
// come from its description, and a key that is absent (or wrong, and reported) takes the
// schema's default. The reader says only where a value goes and the checks across keys.

/// One table of the file, read key by key as the schema describes it.
struct SchemaTableReader {
    let reader: TableReader
    /// The schema's name of the table: `logic`, `outputs.*`, `county.push`.
    let table: String

    /// Reports every key the schema does not describe for `table`, unless `checkingKeys` is
    /// false (a second reader of a table already checked).
    init(_ reader: TableReader, table: String, checkingKeys: Bool = true) {
        self.reader = reader
        self.table = table
        if checkingKeys { reader.reportUnknownKeys(known: ConfigurationSchema.names(in: table)) }
    }

    func has(_ name: String) -> Bool { reader.has(name) }

    private func described(_ name: String) -> ConfigurationKey { ConfigurationSchema.described(table, name) }

    /// The written value when it is right, else the default; nil when neither.
    private func orDefault<Value>(_ name: String, _ written: Value?, _ fallback: (String, String) -> Value) -> Value? {
        if let written { return written }
        return described(name).defaultValue == nil ? nil : fallback(table, name)
    }

    /// A whole number within the schema's bounds.
    func integer(_ name: String) -> Int? {
        let key = described(name)
        guard case .integers(let range)? = key.bounds else { preconditionFailure("\(table).\(name) has no whole-number bounds in the schema") }
        return orDefault(name, reader.integer(name, in: range, meaning: key.meaning), ConfigurationSchema.defaultInteger)
    }

    /// A duration within the schema's bounds, in milliseconds.
    func duration(_ name: String) -> Int64? {
        let key = described(name)
        guard case .durations(let range)? = key.bounds else { preconditionFailure("\(table).\(name) has no duration bounds in the schema") }
        return orDefault(name, reader.duration(name, in: range, meaning: key.meaning), ConfigurationSchema.defaultDuration)
    }

    /// A finite number (checks beyond that are the caller's, with their own words).
    func number(_ name: String) -> Double? {
        orDefault(name, reader.number(name), ConfigurationSchema.defaultNumber)
    }

    func boolean(_ name: String) -> Bool? {
        var written: Bool?
        if let node = reader.entries[name] {
            if case .boolean(let value) = node {
                written = value
            } else {
                reader.report(name, given: node, "must be true or false without quotes (\(described(name).meaning))")
            }
        }
        return orDefault(name, written, ConfigurationSchema.defaultBoolean)
    }

    /// One of the words the schema allows.
    func choice(_ name: String) -> String? {
        guard case .choice(let words) = described(name).kind else { preconditionFailure("\(table).\(name) is no choice in the schema") }
        return orDefault(name, reader.choice(name, among: words), ConfigurationSchema.defaultText)
    }

    /// A text; its checks are the caller's.
    func text(_ name: String) -> String? {
        orDefault(name, reader.string(name), ConfigurationSchema.defaultText)
    }
}
