// The command line: every job of the box is a declared subcommand.
import ArgumentParser

@main
struct VillageGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "village-gateway",
        abstract: "Village flash-flood and landslide warning gateway.",
        discussion: """
            Reads rain, water-level and displacement sensors, decides warning levels on the box \
            (offline), drives sirens, lamps, broadcast and SMS, and keeps every report until the \
            county has it.
            """,
        subcommands: [
            RunCommand.self, StatusCommand.self, CheckConfigCommand.self, SimulateCommand.self, BoardsCommand.self,
            PortsCommand.self, ProbeCommand.self,
            ShellCommand.self, SetPinCommand.self,
            FuzzCommand.self, FleetCommand.self,
        ]
    )
}
