// What is wrong with a configuration file, said so a technician in the rain can fix it.

/// One mistake in a configuration file: where it is, what was written, and what is allowed.
package struct ConfigurationProblem: Equatable, Sendable, CustomStringConvertible {
    /// The file as the technician named it.
    package var file: String
    /// 1-based line; nil when the problem is the absence of something with no place in the file
    /// (a missing `[station]` table) or the file itself (missing, unreadable).
    package var line: Int?
    /// 1-based column, when the TOML parser gives one.
    package var column: Int?
    /// Where, as the technician reads it: `[station] id`, `[[rule]] "rain-1h" red`,
    /// `[[sensor]] #2 kind`, `[outputs.red] siren`. Empty for problems with the file itself.
    package var key: String
    /// The value as written (TOML spelling), nil when nothing was written.
    package var given: String?
    /// What is allowed or expected, in words.
    package var allowed: String

    package init(file: String, line: Int?, column: Int? = nil, key: String, given: String?, allowed: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.given = given
        self.allowed = allowed
    }

    /// `config/site.toml:42: [[rule]] "rain-1h" red = 70: must be above orange (80): ...`
    package var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if !key.isEmpty {
            text += key
            if let given { text += " = " + given }
            text += ": "
        }
        return text + allowed
    }
}

/// Every problem found in one configuration file, in file order.
package struct ConfigurationError: Error, CustomStringConvertible {
    package var problems: [ConfigurationProblem]

    /// One line per problem.
    package var description: String {
        problems.map(\.description).joined(separator: "\n")
    }

    package init(problems: [ConfigurationProblem]) {
        self.problems = problems
    }
}
