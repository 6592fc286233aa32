#!/usr/bin/env python3
# The footprint comparison (issue 13 part 5): builds of the box soaked side by side on the soak's
# job (8 Modbus registers at 1 Hz over a 9600-baud pty, Benchmarks/Soak/run.py), beside the floors
# (Floor/Floor.swift: a program doing nothing but the Swift runtime, Concurrency and its Foundation,
# built with the standard library only, with FoundationEssentials and with Foundation, each with
# the Swift runtime dynamic, static as swiftc links it, and static with the box's release link
# flags). Prints each one's steady resident memory split by kind of mapping, and how much is
# resident again a window after the kernel reclaimed the clean file pages (the working set, what
# a board short of memory keeps); --explain adds which ELF sections and modules the box's pages
# hold, before and after. Run as root (process_madvise).
#
#   Benchmarks/Footprint/run.py [LABEL=BINARY ...] [--minutes 6] [--warmup-minutes 3]
#       [--window-seconds 60] [--also-with VARIABLE=VALUE[,...]] [--county-api] [--summary-every 5m] [--no-floors] [--explain]
#       [--python PYTHON]
#
# `make footprint` builds the box as a board gets it (tools/flash.sh) and with the Swift runtime
# dynamic, and runs this. A benchmark, never a test: it runs in real time. Linux only (/proc).
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time, importlib.util

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import memory  # noqa: E402

_soak_spec = importlib.util.spec_from_file_location("soak", os.path.join(ROOT, "Benchmarks", "Soak", "run.py"))
soak = importlib.util.module_from_spec(_soak_spec)
_soak_spec.loader.exec_module(soak)

FLOOR_SOURCE = os.path.join(HERE, "Floor", "Floor.swift")
# (label, compiler flags, the programs run with these arguments under these labels)
FLOOR_IMPORTS = (("standard library", [], [("", [])]),
                 ("FoundationEssentials", ["-D", "FLOOR_ESSENTIALS"], [("", [])]),
                 ("Foundation", ["-D", "FLOOR_FOUNDATION"], [(" linked, not called", []), (", String(format:)", ["--format"])]))
# The box's release link flags, as Package.swift gives them to village-gateway (keep the two alike):
# lld, relative relocations packed (RELR), no dynamic symbol table of the program's own symbols, and
# the box's function order (the floor's functions that the box runs too come first and together),
# with each function in its own section as tools/board-build-flags compiles the box.
BOX_RELEASE_LINK_FLAGS = ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                          "-Xlinker", "--no-export-dynamic", "-Xfrontend", "-function-sections",
                          "-Xlinker", f"--symbol-ordering-file={os.path.join(HERE, 'function-order.txt')}",
                          "-Xlinker", "--no-warn-symbol-ordering"]
FLOOR_LINKS = (("dynamic", []), ("static", ["-static-stdlib"]),
               ("static, box link", ["-static-stdlib"] + BOX_RELEASE_LINK_FLAGS))
SAMPLES_MIN = 3  # a steady range needs a few samples after the warm-up


def main():
    parser = argparse.ArgumentParser(description="Steady resident memory of builds of the box and of the floors, by mapping")
    parser.add_argument("builds", nargs="*", metavar="LABEL=BINARY", help="a build of village-gateway to soak, e.g. static=out/vg-static")
    parser.add_argument("--minutes", type=float, default=6, help="how long the builds are soaked")
    parser.add_argument("--warmup-minutes", type=float, default=3, help="left out of the steady range")
    parser.add_argument("--sample-seconds", type=float, default=30, help="time between RSS samples")
    parser.add_argument("--window-seconds", type=float, default=60, help="the working set's window, at the end")
    parser.add_argument("--also-with", action="append", default=[], metavar="VARIABLE=VALUE[,...]",
                        help="soak each build once more with these in its environment, e.g. MALLOC_ARENA_MAX=2 (repeatable)")
    parser.add_argument("--county-api", action="store_true", help="the boxes also serve the county pull API (on loopback)")
    parser.add_argument("--summary-every", help="[county] summary_every (5m at least): the observation summary, the box's longest "
                        "periodic work, first runs an hour in by default; its first run is a one-time step of resident code")
    parser.add_argument("--no-floors", action="store_true", help="soak the builds only")
    parser.add_argument("--explain", action="store_true", help="also the builds' resident pages by ELF section and by module (needs symbols)")
    parser.add_argument("--swiftc", default="swiftc", help="the compiler for the floors")
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python3"), help="a Python with pymodbus")
    arguments = parser.parse_args()
    builds = []
    for build in arguments.builds:
        label, separator, binary = build.partition("=")
        if not separator or not os.path.isfile(binary):
            sys.exit(f"'{build}' is not LABEL=BINARY with an existing binary, e.g. static=.build/release/village-gateway")
        builds.append((label, os.path.abspath(binary), {}))
    plain = list(builds)
    for setting in arguments.also_with:
        environment = {}
        for assignment in setting.split(","):
            variable, separator, value = assignment.partition("=")
            if not separator or not variable:
                sys.exit(f"--also-with '{setting}' is not VARIABLE=VALUE[,...], e.g. MALLOC_ARENA_MAX=2")
            environment[variable] = value
        builds += [(f"{label}, {setting}", binary, environment) for label, binary, _ in plain]
    if not builds and arguments.no_floors:
        sys.exit("nothing to measure: give LABEL=BINARY builds, or leave out --no-floors")
    if arguments.minutes * 60 < arguments.warmup_minutes * 60 + SAMPLES_MIN * arguments.sample_seconds:
        sys.exit(f"--minutes {arguments.minutes:g} leaves fewer than {SAMPLES_MIN} samples after {arguments.warmup_minutes:g} min of warm-up")

    work = tempfile.mkdtemp(prefix="vg-footprint-")
    children = []
    try:
        runs = []  # (label, process)
        if not arguments.no_floors:
            for label, command in build_floors(arguments.swiftc, work):
                process = subprocess.Popen([own_copy(command[0], work)] + command[1:], stdout=subprocess.DEVNULL)
                children.append(process)
                runs.append((label, process))
        for label, binary, environment in builds:
            box_work = os.path.join(work, f"box-{len(runs)}")
            os.mkdir(box_work)
            box, _ = soak.start_box(own_copy(binary, box_work), arguments.python, box_work, children, environment, arguments.county_api,
                                    summary_every=arguments.summary_every)
            runs.append((label, box))
        print(f"footprint: {len(builds)} run(s) of the box on the soak's job ({soak.SENSORS} Modbus registers at 1 Hz "
              f"over a 9600-baud pty{', serving the county API' if arguments.county_api else ''}) for {arguments.minutes:g} min, "
              f"steady after {arguments.warmup_minutes:g} min; machine {os.uname().machine}", flush=True)

        started = time.monotonic()
        samples = {label: [] for label, _ in runs}  # RSS KiB after the warm-up
        while time.monotonic() - started < arguments.minutes * 60:
            time.sleep(arguments.sample_seconds)
            for label, process in runs:
                if process.poll() is not None:
                    sys.exit(f"{label} stopped (exit {process.returncode}) after {(time.monotonic() - started) / 60:.1f} min")
                if time.monotonic() - started >= arguments.warmup_minutes * 60:
                    samples[label].append(memory.resident_by_kind(process.pid)["total"])
        resident = {label: memory.resident_by_kind(process.pid) for label, process in runs}
        for label, process in runs:
            resident[label]["threads"] = memory.thread_count(process.pid)
        boxes = runs[len(runs) - len(builds):]
        explained = {label: explain(process) for label, process in boxes} if arguments.explain else {}
        # Then the kernel reclaims what it can, as under memory pressure, and what comes back
        # within the window is what each one needs (static builds only: a shared library's
        # pages that other programs map too stay).
        for _, process in runs:
            memory.page_out(process.pid)
        time.sleep(arguments.window_seconds)
        needed = {label: memory.resident_by_kind(process.pid) for label, process in runs}

        print_table(runs, samples, resident, needed, arguments.window_seconds)
        for label, process in boxes if arguments.explain else []:
            after = explain(process)
            for title, (by_section, by_module) in (("resident", explained[label]), (f"back within {arguments.window_seconds:g} s", after)):
                print(f"\n{label}, {title}: the program's pages by ELF section (KiB): " +
                      ", ".join(f"{name} {kib:.0f}" for name, kib in by_section.most_common(12)))
                print(f"{label}, {title}: its .text by module (KiB): " +
                      ", ".join(f"{name} {kib:.0f}" for name, kib in by_module.most_common(16)))
    finally:
        soak.stop_children(children)
        shutil.rmtree(work, ignore_errors=True)


def own_copy(binary, work):
    """A copy of the binary for one process alone: the kernel does not reclaim a page that two
    processes map, so two runs of one file would keep each other's pages (the needed column)."""
    copy = os.path.join(work, f"{os.path.basename(binary)}-{len(os.listdir(work))}")
    shutil.copy2(binary, copy)
    return copy


def explain(process):
    return memory.resident_sections_and_modules(process.pid, os.path.realpath(f"/proc/{process.pid}/exe"))


def build_floors(swiftc, work):
    """Compiles Floor.swift for each import and link; returns (label, command) pairs."""
    floors = []
    for import_label, import_flags, runs in FLOOR_IMPORTS:
        for link_label, link_flags in FLOOR_LINKS:
            binary = os.path.join(work, f"floor-{len(floors)}")
            command = [swiftc, "-O", "-parse-as-library", FLOOR_SOURCE, "-o", binary] + import_flags + link_flags
            compiled = subprocess.run(command, capture_output=True, text=True)
            if compiled.returncode != 0:
                sys.exit(f"the floor did not compile: {' '.join(command)}\n{compiled.stderr[-3000:]}")
            floors += [(f"floor: {import_label}{run_label}, {link_label}", [binary] + run_arguments) for run_label, run_arguments in runs]
    return floors


def print_table(runs, samples, resident, needed, window_seconds):
    width = max(len(label) for label, _ in runs)
    columns = ["steady RSS"] + [kind for kind in memory.KINDS] + [f"needed in {window_seconds:g} s", "threads"]
    print(f"\n{'MiB':<{width}}  " + "  ".join(f"{column:>{max(len(column), 6)}}" for column in columns))
    for label, _ in runs:
        steady = samples[label]
        cells = [f"{min(steady) / 1024:.1f}–{max(steady) / 1024:.1f}" if steady and round(min(steady) / 102.4) != round(max(steady) / 102.4)
                 else f"{statistics.median(steady or [resident[label]['total']]) / 1024:.1f}"]
        cells += [f"{resident[label][kind] / 1024:.1f}" for kind in memory.KINDS]
        # A shared library's pages are shared with every other program using it, so only the
        # static builds' figure is the process's own.
        cells.append("–" if resident[label]["Swift runtime"] else f"{needed[label]['total'] / 1024:.1f}")
        cells.append(str(resident[label]["threads"]))
        print(f"{label:<{width}}  " + "  ".join(f"{cell:>{max(len(column), 6)}}" for cell, column in zip(cells, columns)))
    print("program: the binary's own file pages (with a static Swift runtime these hold the runtime, Foundation and ICU too); "
          "anonymous: heap, stacks and written data pages; "
          f"needed in {window_seconds:g} s: resident again {window_seconds:g} s after the kernel reclaimed the clean file pages "
          "(process_madvise MADV_PAGEOUT), i.e. the working set; not for a dynamic Swift runtime, whose pages other programs share")


if __name__ == "__main__":
    main()
