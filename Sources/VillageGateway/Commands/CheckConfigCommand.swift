// `village-gateway check-config FILE`: checks a configuration before it is put to work.
import ArgumentParser
import Foundation

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and print the configuration the box would run.",
        discussion: """
            Reports every problem at once, each with its file, line, key, the value given and what \
            is allowed, and exits with status 1. On success prints "FILE: OK" and the effective \
            configuration: every key with the value in use, defaults marked "# default".
            """
    )

    @Argument(help: "The configuration file, e.g. /etc/village-gateway/gateway.toml.")
    var file: String

    @Flag(name: .shortAndLong, help: "On success print only \"FILE: OK\", not the effective configuration.")
    var quiet = false

    func run() throws {
        let configuration: GatewayConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: file)
        } catch {
            var report = error.description + "\n"
            let count = error.problems.count
            report += "\(file): \(count) problem\(count == 1 ? "" : "s"); the configuration was not accepted\n"
            FileHandle.standardError.write(Data(report.utf8))
            throw ExitCode(1)
        }
        print("\(file): OK")
        if !quiet {
            print("")
            print(EffectiveConfiguration.render(configuration), terminator: "")
        }
    }
}
