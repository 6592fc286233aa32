#!/usr/bin/env python3
# The box's function order (issue 13 part 5): which functions a release build of village-gateway
# runs on the soak's job (8 Modbus registers at 1 Hz over a 9600-baud pty, Benchmarks/Soak/run.py),
# from its start through its steady state, written as an lld symbol ordering file. The release link
# (Package.swift) puts these functions first and together in .text, so the pages the box touches
# hold little else: the code the box runs is a few thousand functions scattered over 32 MB of
# .text, and each touched page stays resident.
#
#   Benchmarks/Footprint/order_functions.py BINARY [--minutes 4] [--summary-every 5m] [--keep EARLIER_LIST]
#       [--output Benchmarks/Footprint/function-order.txt]
#
# What runs first an hour in (the observation summary) or every 10 minutes (the snapshot) is missed
# by a short run: --summary-every brings the summary within it (a run of 11 minutes with 5m reaches
# both), but only the hourly summary carries the 5-minute series, so its code needs a run of 66
# minutes at the default period once, or a short run with --keep of a list that has it. --keep
# adds, after this run's functions, those of an earlier (longer) run's list that this run did not
# reach and the binary still has, so a short run can refresh a long run's list.
#
# The run is under valgrind's callgrind (which counts every function that executes, however rarely,
# where sampling would miss the ones that run once), about 50 times slower than the box, which
# the 1 Hz job affords. Valgrind cannot read the debug information of the Swift 6 toolchain's
# release build, so it runs a copy stripped of it (the symbols stay).
#
# A stale list does no harm: lld skips names the binary no longer has (the link passes
# --no-warn-symbol-ordering) and leaves functions the list does not name where they were. Remake
# the list when the box's steady-state code changes much (Benchmarks/Footprint/run.py shows the
# program's resident pages growing back). Linux only; needs valgrind, strip and nm.
import argparse, os, re, shutil, subprocess, sys, tempfile, time, importlib.util

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
_soak_spec = importlib.util.spec_from_file_location("soak", os.path.join(ROOT, "Benchmarks", "Soak", "run.py"))
soak = importlib.util.module_from_spec(_soak_spec)
_soak_spec.loader.exec_module(soak)

DEFAULT_OUTPUT = os.path.join(HERE, "function-order.txt")
VALGRIND_EXIT_SECONDS_MAX = 300  # callgrind writes its profile after the box's graceful stop


def main():
    parser = argparse.ArgumentParser(description="The functions the box runs on the soak's job, as an lld symbol ordering file")
    parser.add_argument("binary", help="a release build of village-gateway (with its symbols)")
    parser.add_argument("--minutes", type=float, default=4, help="how long the box runs the job under valgrind")
    parser.add_argument("--summary-every", help="[county] summary_every (5m at least): brings the observation summary within the run")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    parser.add_argument("--keep", metavar="EARLIER_LIST", help="also the functions of this earlier list (after this run's) that the binary has")
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python3"), help="a Python with pymodbus")
    arguments = parser.parse_args()
    for tool in ("valgrind", "strip", "nm"):
        if not shutil.which(tool):
            sys.exit(f"order_functions.py needs {tool}: apt-get install {'valgrind' if tool == 'valgrind' else 'binutils'}")
    if not os.path.isfile(arguments.binary):
        sys.exit(f"'{arguments.binary}' is not a file: give a release build of village-gateway")

    work = tempfile.mkdtemp(prefix="vg-order-")
    children = []
    try:
        binary = os.path.join(work, "village-gateway")
        subprocess.run(["strip", "--strip-debug", "-o", binary, arguments.binary], check=True)
        profile = os.path.join(work, "callgrind.out")
        wrapper = os.path.join(work, "under-valgrind")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec valgrind --quiet --tool=callgrind --demangle=no --callgrind-out-file="{profile}" "{binary}" "$@"\n')
        os.chmod(wrapper, 0o755)
        box, _ = soak.start_box(wrapper, arguments.python, work, children, summary_every=arguments.summary_every)
        print(f"order_functions: the box under callgrind on the soak's job for {arguments.minutes:g} min", flush=True)
        deadline = time.monotonic() + arguments.minutes * 60
        while time.monotonic() < deadline:
            if box.poll() is not None:
                with open(os.path.join(work, "box.log")) as log:
                    sys.exit(f"the box stopped under valgrind (exit {box.returncode}):\n{log.read()[-3000:]}")
            time.sleep(5)
        box.terminate()
        box.wait(timeout=VALGRIND_EXIT_SECONDS_MAX)
        if not os.path.isfile(profile):
            sys.exit("callgrind wrote no profile")
        defined = defined_functions(binary)
        names = functions_run(profile, defined)
        kept = []
        if arguments.keep:
            run = set(names)
            with open(arguments.keep) as f:
                kept = [name for name in f.read().split() if name in defined and name not in run]
        with open(arguments.output, "w") as f:
            f.write("".join(name + "\n" for name in names + kept))
        print(f"order_functions: {len(names)} functions run" + (f", {len(kept)} kept from {arguments.keep}" if arguments.keep else "") +
              f", written to {arguments.output}")
    finally:
        soak.stop_children(children)
        shutil.rmtree(work, ignore_errors=True)


def defined_functions(binary):
    """The names of the binary's functions (nm: text symbols)."""
    listing = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    return {parts[2] for parts in (line.split(" ", 2) for line in listing.splitlines()) if len(parts) == 3 and parts[1] in "tTwW"}


def functions_run(profile, defined):
    """The functions in callgrind's profile that are the binary's, most instructions first (the
    order within the list changes no page count; this one keeps the busiest code together)."""
    names = {}   # callgrind's compressed id -> name
    cost = {}    # name -> instructions run in it
    current = None
    call_cost_next = False  # the line after "calls=" is the call's inclusive cost, not the caller's own
    with open(profile, errors="replace") as f:
        for line in f:
            if line.startswith("calls="):
                call_cost_next = True
                continue
            if call_cost_next:
                call_cost_next = False
                continue
            match = re.match(r"(c?fn)=(?:\((\d+)\))?\s*(.*)", line.rstrip("\n"))
            if match:
                kind, identifier, name = match.groups()
                if identifier and name:
                    names[identifier] = name
                resolved = name or names.get(identifier, "")
                if kind == "fn":
                    current = resolved
                cost.setdefault(resolved, 0)
                continue
            # A cost line of the current function: "<line> <instructions>" (with +/- relative forms).
            fields = line.split()
            if current and len(fields) == 2 and fields[1].isdigit():
                cost[current] = cost.get(current, 0) + int(fields[1])
    # callgrind names a local symbol that occurs more than once as "name'2"; lld orders by name.
    run = {re.sub(r"'\d+$", "", name): value for name, value in cost.items()}
    return sorted((name for name in run if name in defined), key=lambda name: (-run[name], name))


if __name__ == "__main__":
    main()
