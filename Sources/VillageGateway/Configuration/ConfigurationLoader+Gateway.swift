// Reads gateway.toml: from bytes on disk to a checked GatewayConfiguration, or every problem.

extension ConfigurationLoader {
    /// Reads and checks the file at `path`. A missing, unreadable, oversized or non-UTF-8 file
    /// is a ConfigurationError like any other mistake.
    static func load(path: String) throws(ConfigurationError) -> GatewayConfiguration {
        let text = try readText(path: path)
        return try parse(text: text, file: path)
    }

    /// Checks `text`; `file` names it in problems.
    static func parse(text: String, file: String) throws(ConfigurationError) -> GatewayConfiguration {
        let document = try parseDocument(text: text, file: file, what: "a configuration")
        let problems = ProblemCollector(file: file, locator: document.locator)
        let configuration = ConfigurationReader(root: document.root, problems: problems).read()
        guard problems.isEmpty else { throw ConfigurationError(problems: problems.problems) }
        return configuration
    }
}
