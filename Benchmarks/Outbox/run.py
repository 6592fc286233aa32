#!/usr/bin/env python3
# Prints the outbox's figures: durable reports stored per second (one per transaction, and in
# batches), the wall time for `village-county pull` to collect a backlog of 100 000 reports from the
# running box over loopback, and in the same run the time for the sqlite3 command to export the
# same rows (JSON and CSV), with the ratio.
# Usage: Benchmarks/Outbox/run.py BINARY   (the release village-gateway; village-county and
# OutboxBenchmark are beside it; `make bench` runs it). Never a test.
import os, re, shutil, signal, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/village-gateway")
COUNTY = os.path.join(os.path.dirname(BIN), "village-county")
FILL = os.path.join(os.path.dirname(BIN), "OutboxBenchmark")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SINGLES = int(os.environ.get("SINGLES", "2000"))     # one fsync each: about a box's day of reports
BACKLOG = int(os.environ.get("BACKLOG", "100000"))   # about 11 years of hourly summaries
BATCH = 500                                          # reports per append transaction
WAIT_SECONDS_MAX = 600                               # every wait is bounded

if shutil.which("sqlite3") is None:
    sys.exit("error: the sqlite3 command is needed (apt-get install sqlite3; make deps does it)")
work = tempfile.mkdtemp(prefix="vg-outbox-bench-")
state = os.path.join(work, "state")
os.makedirs(state)

def run(args, **kwargs):
    return subprocess.run(args, check=True, timeout=WAIT_SECONDS_MAX, **kwargs)

def timed(args, stdout=subprocess.DEVNULL):
    started = time.monotonic()
    run(args, stdout=stdout)
    return time.monotonic() - started

def cpu_seconds(pid):
    """User and system CPU a running process has used (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def timed_with_cpu(args):
    """Wall seconds, and the CPU seconds the command used (where each side's time goes)."""
    started = time.monotonic()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        sys.exit(f"error: {args[0]} exited with status {status}")
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime

box = None
try:
    # 1. Durable appends through the box's own Outbox (fsync per transaction).
    run([FILL, "--outbox", os.path.join(work, "single.sqlite"), "--reports", str(SINGLES), "--batch", "1"])
    outbox = os.path.join(state, "outbox.sqlite")
    run([FILL, "--outbox", outbox, "--reports", str(BACKLOG), "--batch", str(BATCH)])
    # The fill leaves hundreds of MB for the kernel to write back; the pull's fsyncs must not wait
    # behind them (the export below does not fsync, so it would not pay for them).
    os.sync()

    # 2. The box itself serves that backlog: the example configuration with the API on loopback.
    key = os.path.join(work, "api.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    config = os.path.join(work, "gateway.toml")
    station = run([os.path.join(ROOT, "tools", "county-api-config.py"), os.path.join(ROOT, "config", "example.toml"), config, key, "1h"],
                  stdout=subprocess.PIPE, text=True).stdout.strip()
    # The backlog is the thing measured: a store large enough that the box thins none of it (each
    # report is kept twice, the box's payload and contract v2's, about 3 KB a summary).
    with open(config, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^outbox_max_mb\s*=.*\n", "", text)
    text = re.sub(r"(?m)^\[county\]\s*$", "[county]\noutbox_max_mb = 1024", text, count=1)
    with open(config, "w", encoding="utf-8") as f:
        f.write(text)
    # The shipped storm at real speed: the box is idle while it serves (its first hours are dry).
    scenario = os.path.join(ROOT, "scenarios", "typhoon-hagupit.csv")
    box = subprocess.Popen([BIN, "run", "--config", config, "--board", "sim", "--scenario", scenario, "--speed", "1",
                            "--state-dir", state, "--log-level", "warning"],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "box.log"), "w"))
    port_file = os.path.join(state, "api.port")
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if box.poll() is not None or time.monotonic() > deadline:
            with open(os.path.join(work, "box.log"), encoding="utf-8", errors="replace") as log:
                sys.exit("error: the box did not start its API; its log ends:\n" + "".join(log.readlines()[-20:]))
        time.sleep(0.05)
    port = open(port_file).read().strip()
    stations = os.path.join(work, "stations.toml")
    with open(stations, "w", encoding="utf-8") as f:
        f.write(f'[[station]]\nid = "{station}"\nname = "bench"\nurl = "http://127.0.0.1:{port}"\nkey_file = "{key}"\n')

    # 3. The same rows, three ways: county pull (signed HTTP pages into SQLite, fsynced, acknowledged),
    # and the sqlite3 command exporting them to a file (no network, no fsync).
    rows = f"SELECT * FROM reports WHERE sequence <= {BACKLOG}"
    county = os.path.join(work, "county.sqlite")
    box_cpu_before = cpu_seconds(box.pid)
    pull_seconds, county_cpu = timed_with_cpu([COUNTY, "pull", "--stations", stations, "--db", county])
    box_cpu = cpu_seconds(box.pid) - box_cpu_before
    stored = run(["sqlite3", county, "SELECT COUNT(*) FROM reports"], stdout=subprocess.PIPE, text=True).stdout.strip()
    with open(os.path.join(work, "export.json"), "w") as out:
        json_seconds = timed(["sqlite3", "-json", outbox, rows], stdout=out)
    with open(os.path.join(work, "export.csv"), "w") as out:
        csv_seconds = timed(["sqlite3", "-csv", outbox, rows], stdout=out)
    print(f"village-county pull of a {BACKLOG}-report backlog over loopback: {pull_seconds:.2f} s "
          f"({int(stored)} reports stored, {int(stored) / pull_seconds:.0f} reports/s, village-county's default pages of 2000)")
    # The two programs work at once (page N+1 is served while page N is stored), so their CPU can
    # add up to more than the wall time; the box's includes whatever else it did meanwhile.
    print(f"  CPU during the pull: village-county {county_cpu:.2f} s, the box {box_cpu:.2f} s")
    print(f"sqlite3 -json export of the same rows: {json_seconds:.2f} s; pull / export = {pull_seconds / json_seconds:.1f}x")
    print(f"sqlite3 -csv export of the same rows:  {csv_seconds:.2f} s; pull / export = {pull_seconds / csv_seconds:.1f}x")
finally:
    if box is not None and box.poll() is None:
        box.send_signal(signal.SIGTERM)
        box.wait(timeout=WAIT_SECONDS_MAX)
    shutil.rmtree(work, ignore_errors=True)
