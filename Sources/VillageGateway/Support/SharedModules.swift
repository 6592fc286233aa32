// The libraries the box shares with the county and the benchmarks, visible in every file of the
// box (and to its tests) as when they were part of it.
@_exported import ConfigurationFiles
@_exported import CountyProtocol
@_exported import OutboxStore
