#!/usr/bin/env python3
# Prints the county's figures for a province: a fleet of STATIONS boxes in one process
# (`village-gateway fleet`: each its own key, its own outbox with REPORTS reports, the box's real
# county API), pulled by `village-county pull` (CONCURRENCY stations at once) into SQLite and into
# PostgreSQL. For each: the time of a full round (every station's backlog collected, committed and
# acknowledged), stations/s and reports/s; then the time of a round with nothing new.
# Usage: tools/with-postgres.sh Benchmarks/Fleet/run.py BIN_DIR   (release builds of village-gateway
# and village-county in BIN_DIR; `make bench-fleet` runs it). Never a test.
import os, shutil, signal, subprocess, sys, tempfile, time

BIN_DIR = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release")
BOX = os.path.join(BIN_DIR, "village-gateway")
COUNTY = os.path.join(BIN_DIR, "village-county")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATIONS = int(os.environ.get("STATIONS", "2000"))
REPORTS = int(os.environ.get("REPORTS", "60"))          # an hour of a box in a storm: one a minute
CONCURRENCY = int(os.environ.get("CONCURRENCY", "64"))  # village-county's most
WAIT_SECONDS_MAX = 1800                                 # every wait is bounded

server = os.environ.get("VG_TEST_POSTGRES_URL")
if not server:
    sys.exit("error: no PostgreSQL server: run this under tools/with-postgres.sh (make bench-fleet does)")
work = tempfile.mkdtemp(prefix="vg-fleet-bench-")
fleet_dir = os.path.join(work, "fleet")
fleet = None

def run(args, **kwargs):
    return subprocess.run(args, check=True, timeout=WAIT_SECONDS_MAX, **kwargs)

def pull(db):
    started = time.monotonic()
    result = subprocess.run([COUNTY, "pull", "--stations", os.path.join(fleet_dir, "stations.toml"), "--db", db,
                             "--concurrency", str(CONCURRENCY)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=WAIT_SECONDS_MAX)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"error: village-county pull --db {db} exited {result.returncode}:\n" + result.stdout[-3000:])
    return seconds, " ".join(line.strip() for line in result.stdout.split("\n\n")[0].splitlines())

try:
    fleet = subprocess.Popen([BOX, "fleet", "--config", os.path.join(ROOT, "config", "example.toml"), "--directory", fleet_dir,
                              "--stations", str(STATIONS), "--reports", str(REPORTS)],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "fleet.log"), "w"))
    port_file = os.path.join(fleet_dir, "fleet.port")
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while not (os.path.exists(port_file) and open(port_file).read().strip()):
        if fleet.poll() is not None or time.monotonic() > deadline:
            sys.exit("error: the fleet did not start; its log:\n" + open(os.path.join(work, "fleet.log")).read()[-3000:])
        time.sleep(0.1)
    print(open(os.path.join(work, "fleet.log")).read().strip())
    total = STATIONS * REPORTS
    # A database of its own on the server the wrapper started; the URL names the folder of its socket.
    postgres = server.replace("/postgres?", "/fleet?")
    run(["psql", "-q", server, "-c", "CREATE DATABASE fleet"])
    for name, db in [("SQLite", os.path.join(work, "county.sqlite")), ("PostgreSQL", postgres)]:
        seconds, summary = pull(db)
        print(f"{name}: full round of {STATIONS} stations x {REPORTS} reports ({total} reports): {seconds:.1f} s, "
              f"{STATIONS / seconds:.0f} stations/s, {total / seconds:.0f} reports/s")
        print(f"  {summary}")
        idle, _ = pull(db)
        print(f"{name}: round with nothing new: {idle:.1f} s, {STATIONS / idle:.0f} stations/s")
finally:
    if fleet is not None and fleet.poll() is None:
        fleet.send_signal(signal.SIGTERM)
        try:
            fleet.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fleet.kill()
    shutil.rmtree(work, ignore_errors=True)
