// The [shell] table of gateway.toml: the technician shell's PIN hash, idle logout and console.
import WarningLogic

/// How the technician shell is guarded. The defaults and bounds are the schema's (`shell`).
struct ShellConfiguration: Sendable, Equatable {
    static var idleLogoutMillisecondsDefault: Int64 { ConfigurationSchema.defaultDuration("shell", "idle_logout") }
    static var consoleDefault: Bool { ConfigurationSchema.defaultBoolean("shell", "console") }

    /// `pin_hash`: the PIN as `set-pin` hashed it; nil while no PIN is set (the shell then
    /// refuses everyone and says how to set one).
    var pinHash: PINHash?
    /// `idle_logout`: a session with no key pressed for this long is logged out.
    var idleLogoutMilliseconds = ShellConfiguration.idleLogoutMillisecondsDefault
    /// `console`: serve the shell on the board's console UART (false frees it for a kernel
    /// console or a getty). The Unix socket is always served.
    var console = ShellConfiguration.consoleDefault
}

extension ConfigurationReader {
    func readShell() -> ShellConfiguration {
        var shell = ShellConfiguration()
        let keys = schemaTable("shell")
        let reader = keys.reader
        if let text = reader.string("pin_hash") {
            if let hash = PINHash.parse(text) {
                shell.pinHash = hash
            } else {
                // Never echo what was written: it may be the PIN itself typed in clear.
                problems.report(at: reader.path + [.key("pin_hash")], key: reader.keyLabel("pin_hash"), given: nil, PINHash.formExplanation)
            }
        }
        shell.idleLogoutMilliseconds = keys.duration("idle_logout") ?? shell.idleLogoutMilliseconds
        shell.console = keys.boolean("console") ?? shell.console
        return shell
    }
}

extension EffectiveConfiguration {
    /// The [shell] table. The hash is printed as stored: the effective configuration must read
    /// back as the same configuration (saved as the new file, a hidden hash would lock the
    /// technician out), and it is salted and slow to attack. The shell's `show config` hides it.
    static func renderShell(_ shell: ShellConfiguration) -> String {
        var text = "\n[shell]\n"
        if let hash = shell.pinHash {
            text += "pin_hash = \(tomlQuoted(hash.description))\n"
        } else {
            text += "# pin_hash not set: the shell refuses every login; set it with `village-gateway set-pin`\n"
        }
        var out = TOMLWriter(table: "shell")
        out.entry("idle_logout", tomlQuoted(formatDuration(shell.idleLogoutMilliseconds)))
        out.entry("console", String(shell.console))
        return text + out.text
    }
}
