# Where a process's resident memory is, read from /proc (Linux): its resident set split by kind of
# mapping, what of it comes back within a window after the kernel reclaims it (the working set),
# and which sections and modules of an ELF file its resident pages belong to. Used by
# Benchmarks/Footprint/run.py and Benchmarks/Soak/run.py.
import bisect, collections, os, re, struct, subprocess

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")

# The columns of the footprint table, in order. A file-backed page the process wrote to (relocated
# data, .bss) is anonymous in smaps and counted under "anonymous", as the kernel counts it.
KINDS = ("program", "Swift runtime", "Foundation", "ICU", "system libraries", "anonymous")


def kind_of_file(path, program):
    name = os.path.basename(path)
    if os.path.realpath(path) == program:
        return "program"
    if name.startswith("lib_FoundationICU"):
        return "ICU"
    if name.startswith(("libFoundation", "lib_Foundation")):
        return "Foundation"
    if name.startswith(("libswift", "libdispatch", "libBlocksRuntime")):
        return "Swift runtime"
    return "system libraries"


def read_mappings(pid):
    """Each mapping of the process: (path or '', permissions, {smaps field: KiB})."""
    mappings = []
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if len(fields) >= 5 and "-" in fields[0] and ":" in fields[3]:
                mappings.append((fields[5] if len(fields) > 5 else "", fields[1], {}))
            elif len(fields) >= 2 and fields[0].endswith(":") and mappings and fields[1].isdigit():
                mappings[-1][2][fields[0][:-1]] = int(fields[1])
    return mappings


def resident_by_kind(pid):
    """KiB per kind (KINDS) and in total."""
    program = os.path.realpath(f"/proc/{pid}/exe")
    totals = dict.fromkeys(KINDS, 0)
    for path, _, values in read_mappings(pid):
        anonymous = values.get("Anonymous", 0)
        totals["anonymous"] += anonymous
        if path.startswith("/"):
            totals[kind_of_file(path, program)] += values.get("Rss", 0) - anonymous
        else:
            totals["anonymous"] += values.get("Rss", 0) - anonymous
    totals["total"] = sum(totals[kind] for kind in KINDS)
    return totals


def thread_count(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def file_mappings(pid, path=None):
    """(start address, end address, file offset) of each mapping of `path` in the process, or of
    every mapped file."""
    path = path and os.path.realpath(path)
    mappings = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[5].startswith("/") and (path is None or os.path.realpath(fields[5]) == path):
                low, high = (int(x, 16) for x in fields[0].split("-"))
                mappings.append((low, high, int(fields[2], 16)))
    return mappings


def resident_pages(pid, path):
    """File offsets of the pages of `path` that are resident in the process (from
    /proc/PID/pagemap: the present bit needs no privilege)."""
    offsets = []
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for low, high, file_offset in file_mappings(pid, path):
            count = (high - low) // PAGE_BYTES
            pagemap.seek(low // PAGE_BYTES * 8)
            entries = pagemap.read(count * 8)
            for index in range(count):
                if struct.unpack_from("<Q", entries, index * 8)[0] >> 63:
                    offsets.append(file_offset + index * PAGE_BYTES)
    return offsets


def elf_sections(path):
    """(file offset, size, name, address) of each section that occupies the file."""
    sections = []
    listing = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        match = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if match and match.group(2) != "NOBITS" and int(match.group(3), 16):
            sections.append((int(match.group(4), 16), int(match.group(5), 16), match.group(1), int(match.group(3), 16)))
    return sorted(sections)


def module_of_symbol(name):
    """The Swift module, or the C library, a symbol of a static Swift binary comes from."""
    match = re.match(r"\$s(\d+)([A-Za-z_]\w*)", name)
    if match:
        return match.group(2)[:int(match.group(1))]
    if name.startswith("$s"):
        return "Swift (standard library and its specialisations)"
    if "icu_" in name:
        return "ICU"
    if name.startswith(("CF", "_CF", "__CF")):
        return "CoreFoundation"
    if "dispatch_" in name:
        return "Dispatch"
    if name.startswith(("_ZN5swift", "swift_", "_swift")):
        return "Swift runtime (C++)"
    if name.startswith("CCryptoBoringSSL"):
        return "BoringSSL"
    if name.startswith("c_nio"):
        return "NIO (C)"
    return "other C and C++"


def resident_sections_and_modules(pid, path):
    """KiB of `path`'s resident pages per ELF section, and of its .text per module (a page shared
    by functions of several modules is split by their bytes); needs the file's symbols (unstripped)."""
    path = os.path.realpath(path)
    offsets = resident_pages(pid, path)
    sections = elf_sections(path)
    by_section = collections.Counter()
    for offset in offsets:
        names = [name for start, size, name, _ in sections if start < offset + PAGE_BYTES and offset < start + size]
        for name in names or ["(between sections)"]:
            by_section[name] += PAGE_BYTES / max(len(names), 1) / 1024
    symbols = []
    listing = subprocess.run(["nm", "-n", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.append((int(parts[0], 16), parts[2]))
    addresses = [address for address, _ in symbols]
    by_module = collections.Counter()
    text = next((section for section in sections if section[2] == ".text"), None)
    if text and symbols:
        start, size, _, address = text
        for offset in offsets:
            if not start <= offset < start + size:
                continue
            page = offset - start + address
            index = max(bisect.bisect_right(addresses, page) - 1, 0)
            bytes_by_module = collections.Counter()
            while index < len(symbols) and symbols[index][0] < page + PAGE_BYTES:
                end = symbols[index + 1][0] if index + 1 < len(symbols) else page + PAGE_BYTES
                overlap = min(end, page + PAGE_BYTES) - max(symbols[index][0], page)
                if overlap > 0:
                    bytes_by_module[module_of_symbol(symbols[index][1])] += overlap
                index += 1
            covered = sum(bytes_by_module.values()) or 1
            for module, count in bytes_by_module.items():
                by_module[module] += PAGE_BYTES * count / covered / 1024
    return by_section, by_module



def page_out(pid):
    """Asks the kernel to reclaim the process's clean file pages, as it does under memory pressure
    (process_madvise MADV_PAGEOUT; needs root or CAP_SYS_NICE). Pages other processes map too
    (libc) are left alone. What comes back within a window is what the process needs: its steady
    working set, in the granules the kernel faults pages in (64 KiB fault-around by default)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    syscall_pidfd_open, syscall_process_madvise = 434, 440  # the same numbers on x86_64 and aarch64
    madvise_pageout = 21

    class IOVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]

    ranges = [IOVec(low, high - low) for low, high, _ in file_mappings(pid)]
    pidfd = libc.syscall(syscall_pidfd_open, pid, 0)
    if pidfd < 0:
        raise OSError(ctypes.get_errno(), f"pidfd_open({pid})")
    try:
        for vector in ranges:
            if libc.syscall(syscall_process_madvise, pidfd, ctypes.byref(vector), 1, madvise_pageout, 0) < 0:
                raise OSError(ctypes.get_errno(), f"process_madvise(MADV_PAGEOUT) in process {pid}")
    finally:
        os.close(pidfd)
