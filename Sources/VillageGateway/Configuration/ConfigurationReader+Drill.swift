// The [drill] table of gateway.toml: what the box says when a drill ends. Real warnings pre-empt
// drills; that rule lives in the engine and is not configurable.
import WarningLogic

extension ConfigurationReader {
    static let drillKeys = ["end_message"]

    /// `end_message`: spoken when a drill ends (stopped, or pre-empted by a real warning), always
    /// marked 【演练】 (the engine adds the mark when the text lacks it). Never the all-clear.
    func readDrill() -> String {
        let defaultMessage = EngineConfiguration.drillEndMessageDefault
        guard let reader = table("drill", required: nil) else { return defaultMessage }
        reader.reportUnknownKeys(known: Self.drillKeys)
        return readMessage(reader, "end_message", meaning: "the words that end a drill, e.g. \"【演练】演练结束。\"") ?? defaultMessage
    }
}

extension EffectiveConfiguration {
    static func renderDrill(endMessage: String) -> String {
        "\n[drill]\nend_message = \(tomlQuoted(endMessage))"
            + (endMessage == EngineConfiguration.drillEndMessageDefault ? "  # default" : "") + "\n"
    }
}
