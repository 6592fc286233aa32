// The [drill] table of gateway.toml: what the box says when a drill ends. Real warnings pre-empt
// drills; that rule lives in the engine and is not configurable.
import WarningLogic

extension ConfigurationReader {
    /// `end_message`: spoken when a drill ends (stopped, or pre-empted by a real warning), always
    /// marked 【演练】 (the engine adds the mark when the text lacks it). Never the all-clear.
    func readDrill() -> String {
        let keys = schemaTable("drill")
        return readMessage(keys.reader, "end_message", meaning: "the words that end a drill, e.g. \"【演练】演练结束。\"")
            ?? ConfigurationSchema.defaultText("drill", "end_message")
    }
}

extension EffectiveConfiguration {
    static func renderDrill(endMessage: String) -> String {
        var out = TOMLWriter(table: "drill")
        out.entry("end_message", tomlQuoted(endMessage))
        return "\n[drill]\n" + out.text
    }
}
