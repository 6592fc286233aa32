// The [shell] table of gateway.toml: the technician shell's PIN hash, idle logout and console.
import WarningLogic

/// How the technician shell is guarded. Every default is named here once.
struct ShellConfiguration: Sendable, Equatable {
    static let idleLogoutMillisecondsDefault: Int64 = 15 * Milliseconds.minute
    /// From a minute (shorter logs a technician out while reading the status) to a day.
    static let idleLogoutMillisecondsAllowed: ClosedRange<Int64> = Milliseconds.minute...Milliseconds.day
    static let consoleDefault = true

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
    static let shellKeys = ConfigurationSchema.names(in: "shell")

    func readShell() -> ShellConfiguration {
        var shell = ShellConfiguration()
        guard let reader = table("shell", required: nil) else { return shell }
        reader.reportUnknownKeys(known: Self.shellKeys)
        if let text = reader.string("pin_hash") {
            if let hash = PINHash.parse(text) {
                shell.pinHash = hash
            } else {
                // Never echo what was written: it may be the PIN itself typed in clear.
                problems.report(at: reader.path + [.key("pin_hash")], key: reader.keyLabel("pin_hash"), given: nil, PINHash.formExplanation)
            }
        }
        shell.idleLogoutMilliseconds = reader.duration(
            "idle_logout", in: ShellConfiguration.idleLogoutMillisecondsAllowed,
            meaning: "how long a shell session may sit without a key pressed before it is logged out")
            ?? shell.idleLogoutMilliseconds
        if let node = reader.entries["console"] {
            if case .boolean(let value) = node {
                shell.console = value
            } else {
                reader.report("console", given: node, "must be true (serve the shell on the console UART) or false")
            }
        }
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
        let idle = formatDuration(shell.idleLogoutMilliseconds)
        text += "idle_logout = \(tomlQuoted(idle))"
            + (shell.idleLogoutMilliseconds == ShellConfiguration.idleLogoutMillisecondsDefault ? "  # default" : "") + "\n"
        text += "console = \(shell.console)" + (shell.console == ShellConfiguration.consoleDefault ? "  # default" : "") + "\n"
        return text
    }
}
