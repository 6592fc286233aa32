// The configurations the shell committed, kept beside the file (`gateway.toml.history/`), so a
// technician can go back after a commit: dated, numbered, and bounded.
import Foundation

/// Each kept configuration is the file's exact text, named `NNNN_<box time>.toml`; the number
/// orders them, the time is for the technician. Only the newest `keptMax` are kept.
struct ConfigurationHistory {
    /// Enough to walk back through a day's field adjustments; each is a few kilobytes.
    static let keptMax = 10
    /// A kept file larger than this is not one we wrote; it is skipped, never read whole.
    static let fileBytesMax = 1_048_576

    struct Entry: Equatable {
        var number: Int
        var path: String
        /// The box's time of the commit, as written in the name.
        var time: String
        var text: String
    }

    let directory: String

    init(configurationPath: String) {
        directory = configurationPath + ".history"
    }

    /// The kept configurations, oldest first. Files that are not ours are left alone.
    func entries() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var result: [Entry] = []
        for name in names where name.hasSuffix(".toml") {
            let stem = name.dropLast(5)
            guard let separator = stem.firstIndex(of: "_"), let number = Int(stem[..<separator]) else { continue }
            let path = "\(directory)/\(name)"
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let size = attributes[.size] as? NSNumber, size.intValue <= Self.fileBytesMax,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            result.append(Entry(number: number, path: path, time: String(stem[stem.index(after: separator)...]), text: String(decoding: data, as: UTF8.self)))
        }
        return result.sorted { $0.number < $1.number }
    }

    /// Keeps `text` as the newest entry (unless the newest already holds it) and removes the
    /// oldest beyond `keptMax`. Written atomically: a power cut leaves a whole file or none.
    static let directoryMode: mode_t = 0o750

    func keep(_ text: String, time: String) throws(FileWriteError) {
        let existing = entries()
        if existing.last?.text == text { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(description: "cannot create \(directory): \(error.localizedDescription)")
        }
        // Copies of gateway.toml (phone numbers, county keys): only the box's user and group may
        // look, whatever the umask of whoever created the directory (one made before this too).
        chmod(directory, Self.directoryMode)
        let number = (existing.last?.number ?? 0) + 1
        let digits = String(number)
        let name = String(repeating: "0", count: max(4 - digits.count, 0)) + digits + "_" + time + ".toml"
        try writeFileAtomically(path: "\(directory)/\(name)", contents: text)
        for old in (existing + [Entry(number: number, path: "", time: time, text: text)]).dropLast(Self.keptMax) {
            unlink(old.path)
        }
    }

    /// The entry before the one the file holds now: the configuration in use before the last
    /// commit (or before the last `rollback previous`, which walks one further back).
    func previous(toCurrent current: String) -> Entry? {
        let kept = entries()
        guard let index = kept.lastIndex(where: { $0.text == current }) else { return kept.last }
        return index > 0 ? kept[index - 1] : nil
    }
}
