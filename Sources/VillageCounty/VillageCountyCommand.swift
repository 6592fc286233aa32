// The county's program: every job of the county flood-defence office is a declared subcommand.
import ArgumentParser

@main
struct VillageCountyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "village-county",
        abstract: "The county side of the village warning boxes: collect their reports, keep the list of boxes, show them in a browser.",
        discussion: """
            Pulls every box's reports into the county database (SQLite) and keeps the stations \
            file that says which boxes there are, where they answer and which key each one shares \
            with the county. The wire contract is docs/county-api.md.
            """,
        subcommands: [PullCommand.self, StationsCommand.self, ServeCommand.self, PasswordCommand.self]
    )
}
