// Writing to the terminal and to files: buffered standard output, errors to standard error,
// and whole files replaced atomically so a power cut never leaves half a file.
import Foundation

/// Collects lines and writes them in large blocks: a month-long replay prints thousands of lines.
struct BufferedOutput {
    private var buffer = ""
    /// Flush once this much text is waiting, so memory stays bounded however long the replay.
    static let bufferCharactersMax = 64 * 1024

    mutating func line(_ text: String) {
        buffer += text
        buffer += "\n"
        if buffer.utf8.count >= Self.bufferCharactersMax { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer.utf8))
        buffer = ""
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}

func lastPathComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

struct FileWriteError: Error, CustomStringConvertible {
    var description: String
    /// The errno of the failed call, so a caller can tell a full disk (ENOSPC) from the rest.
    var errorNumber: Int32? = nil
}

/// Writes a temporary file beside the target, fsyncs it, renames it over the target and fsyncs
/// the directory: after a power cut the file is either the old one or the new one, never half.
/// `beforeReplacing` runs once the new file is safely on disk, just before it takes the target's
/// name (the state store moves the current snapshot aside there).
/// A file that is replaced keeps its mode, owner and group: `set-pin`, run by root, must neither
/// give the daemon's gateway.toml (the box's user's, 0640: phone numbers and county keys) to
/// root, where the daemon could no longer read it, nor leave it readable by everyone.
func writeFileAtomically(path: String, contents: String) throws(FileWriteError) {
    try writeFileAtomically(path: path, bytes: Array(contents.utf8))
}

func writeFileAtomically(path: String, bytes: [UInt8], beforeReplacing: () -> Void = {}) throws(FileWriteError) {
    let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    let temporary = "\(path).tmp-\(getpid())"
    var replaced = stat()
    let replacing = stat(path, &replaced) == 0
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, replacing ? replaced.st_mode & 0o777 : 0o644)
    guard descriptor >= 0 else {
        let number = errno
        throw FileWriteError(description: "cannot create \(temporary): \(String(cString: strerror(number)))", errorNumber: number)
    }
    if replacing {
        // open's mode passes through the umask; the replaced file's mode is what it should keep.
        _ = fchmod(descriptor, replaced.st_mode & 0o777)
        if replaced.st_uid != geteuid() || replaced.st_gid != getegid() {
            // Only root may give a file away. Anyone else writing a file that is not theirs (the
            // daemon, a technician with write access to the directory) leaves the new file theirs:
            // refusing the write would be worse than a change of owner between two non-root users.
            _ = fchown(descriptor, replaced.st_uid, replaced.st_gid)
        }
    }
    var written = 0
    while written < bytes.count {
        let result = bytes.withUnsafeBytes { buffer in
            Glibc.write(descriptor, buffer.baseAddress! + written, bytes.count - written)
        }
        if result < 0 {
            if errno == EINTR { continue }
            let number = errno
            close(descriptor)
            unlink(temporary)
            throw FileWriteError(description: "writing \(temporary) failed: \(String(cString: strerror(number))) (disk full?)", errorNumber: number)
        }
        written += result
    }
    guard fsync(descriptor) == 0 else {
        let number = errno
        close(descriptor)
        unlink(temporary)
        throw FileWriteError(description: "fsync of \(temporary) failed: \(String(cString: strerror(number)))", errorNumber: number)
    }
    close(descriptor)
    beforeReplacing()
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw FileWriteError(description: "cannot rename \(temporary) to \(path): \(reason)")
    }
    let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if directoryDescriptor >= 0 {
        fsync(directoryDescriptor)
        close(directoryDescriptor)
    }
}
