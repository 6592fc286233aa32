// Bounds shared by every TOML file read here (gateway.toml, board files, the county's stations file).

package enum ConfigurationFileLimits {
    /// A full village configuration is a few kilobytes; a bigger file is the wrong file.
    package static let fileBytesMax = 256 * 1024
    /// Ids of sensors and rules appear in logs, SMS and reports: short, ASCII.
    package static let idCharactersMax = 32
    /// Enough problems to fix in one sitting; more would scroll the first ones away.
    package static let problemsMax = 100
}
