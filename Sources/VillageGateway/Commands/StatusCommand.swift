// `village-gateway status`: asks the running daemon for its level, sensors, outputs and counters.
import ArgumentParser
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the running box: level and causes, sensors, outputs, queue, state, uptime.")

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("The running daemon's state directory.", valueName: "dir"))
    var stateDirectory: String = "/var/lib/village-gateway"

    @Flag(name: .long, help: "Print the status as a status/1 JSON document (docs/status.md).")
    var json = false

    func run() throws {
        let data: Data
        do {
            data = try StatusServer.request(stateDirectory: stateDirectory)
        } catch {
            printError(error.description)
            throw ExitCode.failure
        }
        do {
            let status = try JSONDecoder().decode(DaemonStatus.self, from: data)
            print(json ? status.document().text : status.humanText())
        } catch {
            printError("the daemon's answer is not a status this version reads (\(data.count) bytes): \(error); try --json")
            throw ExitCode.failure
        }
    }
}
