#!/usr/bin/env python3
# The soak: the box polling 8 Modbus registers once a second over a 9600-baud pty (a pymodbus
# slave behind socat, as ThingsBoard IoT Gateway's reference job), for a given time; prints the
# resident memory curve, the snapshot size and the CPU, and the growth per hour after warm-up.
#
#   Benchmarks/Soak/run.py BINARY [--minutes 120] [--sample-seconds 60] [--warmup-minutes 10]
#
# A benchmark, never a test: it runs in real time. The rest of the board (rain gauge, relays,
# voice, modem) is the simulated board's twins; only the RS-485 bus is a real serial device.
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SLAVE = os.path.join(ROOT, "Tests", "DriversTests", "Fixtures", "pymodbus_slave.py")
sys.path.insert(0, os.path.join(ROOT, "Benchmarks", "Footprint"))
import memory  # noqa: E402  (Benchmarks/Footprint/memory.py: the resident set by kind of mapping)
SENSORS = 8                   # 8 registers, one per sensor, each read every second
WAIT_SECONDS_MAX = 60         # every wait for a helper to come up is bounded

CONFIG_HEAD = """
[station]
id = "0011223344"
name = "黄坑村"
[logic]
clear_after = "10m"
[[sensor]]
id = "rain1"
kind = "rain_gauge"
mm_per_tip = 0.2
[[rule]]
id = "rain-1h"
sensor = "rain1"
measure = "rain_1h"
yellow = 45
[[contact]]
name = "王建国"
phone = "+8613800000001"
[outputs.yellow]
siren = "intermittent"
lamp = "yellow"
message = "黄色预警"
[buses.rs485]
baud = 9600
timeout = "500ms"
retries_max = 2
"""
# pymodbus_slave.py answers holding register 0 of slave N with 1000 + N: 1.00N m here.
LEVEL_SENSOR = """
[[sensor]]
id = "river{n}"
kind = "water_level"
range = [0.0, 10.0]
stale_after = "5m"
modbus = {{ bus = "rs485", slave = {n}, function = 3, register = 0, type = "uint16", scale = 0.001, poll_every = "1s" }}
"""
# The county pull API as a deployed box serves it (its event loops and connection guard idle
# here: nobody pulls); the key file beside the configuration.
COUNTY_API = """
[county.api]
listen = "127.0.0.1:0"
key_file = "api.key"
"""


def main():
    parser = argparse.ArgumentParser(description="RSS soak of the box at 1 Hz Modbus polling")
    parser.add_argument("binary", nargs="?", default=".build/release/village-gateway")
    parser.add_argument("--minutes", type=float, default=120, help="how long to run (the issue's soak is 120)")
    parser.add_argument("--sample-seconds", type=float, default=60, help="time between RSS samples")
    parser.add_argument("--warmup-minutes", type=float, default=10, help="left out of the growth figure")
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python3"), help="a Python with pymodbus")
    parser.add_argument("--county-api", action="store_true", help="the box also serves the county pull API (on loopback)")
    parser.add_argument("--summary-every", help="[county] summary_every (e.g. 10m): the box's longest periodic work, an "
                        "observation summary, first runs an hour in by default; a shorter period brings it inside a short soak")
    arguments = parser.parse_args()
    binary = os.path.abspath(arguments.binary)
    work = tempfile.mkdtemp(prefix="vg-soak-")
    children = []
    try:
        box, state = start_box(binary, arguments.python, work, children, county_api=arguments.county_api,
                               summary_every=arguments.summary_every)

        ticks = os.sysconf("SC_CLK_TCK")
        started = time.monotonic()
        samples = []  # (minutes, rss KiB, cpu seconds, snapshot bytes)
        print(f"soak: {SENSORS} Modbus registers at 1 Hz over a 9600-baud pty, {arguments.minutes:g} min, "
              f"binary {binary}")
        print(f"{'minute':>7} {'RSS MiB':>8} {'CPU %':>6} {'snapshot KB':>12}")
        end = started + arguments.minutes * 60
        while True:
            now = time.monotonic()
            if box.poll() is not None:
                with open(os.path.join(work, "box.log")) as log:
                    sys.exit(f"the box stopped (exit {box.returncode}):\n{log.read()[-3000:]}")
            minutes = (now - started) / 60
            rss = read_rss_kib(box.pid)
            cpu = read_cpu_seconds(box.pid, ticks)
            snapshot = file_size(os.path.join(state, "engine-state.json"))
            cpu_percent = 100 * (cpu - samples[-1][2]) / ((minutes - samples[-1][0]) * 60) if samples else 0.0
            samples.append((minutes, rss, cpu, snapshot))
            print(f"{minutes:7.1f} {rss / 1024:8.1f} {cpu_percent:6.2f} {snapshot / 1000:12.1f}", flush=True)
            if now >= end:
                break
            time.sleep(min(arguments.sample_seconds, max(end - time.monotonic(), 0.1)))

        # Proof that the registers were read: the sensors' values and the bus's counters.
        status = json.loads(subprocess.run([binary, "status", "--state-dir", state, "--json"], capture_output=True, text=True,
                                           timeout=WAIT_SECONDS_MAX, check=True).stdout)
        values = [f"{sensor['id']} {sensor['value']}" for sensor in status["sensors"] if sensor["kind"] == "water_level"]
        print("last readings: " + ", ".join(values))
        for entry in status["inputs"]:
            if entry["counters"]:
                print(f"{entry['description']}: " + ", ".join(f"{name} {value}" for name, value in entry["counters"].items()))
        with open(os.path.join(work, "box.log")) as log:
            warnings = [line for line in log if "timeout" in line or "failed" in line]
        steady = [s for s in samples if s[0] >= arguments.warmup_minutes]
        if len(steady) >= 2:
            slope = fit_slope([s[0] / 60 for s in steady], [s[1] / 1024 for s in steady])
            total_cpu = (steady[-1][2] - steady[0][2]) / ((steady[-1][0] - steady[0][0]) * 60)
            print(f"after {arguments.warmup_minutes:g} min of warm-up: RSS {min(s[1] for s in steady) / 1024:.1f}–"
                  f"{max(s[1] for s in steady) / 1024:.1f} MiB, median {statistics.median(s[1] for s in steady) / 1024:.1f} MiB, "
                  f"growth {slope:+.2f} MiB/hour (least squares over {len(steady)} samples); "
                  f"CPU {100 * total_cpu:.2f} % of one core; snapshot {steady[-1][3] / 1000:.1f} KB")
        else:
            print("too short for a growth figure: run longer than the warm-up")
        print(f"the box's log had {len(warnings)} lines of timeouts or failures")
        # Where the resident memory is: the program's own pages (with a static Swift runtime, also
        # the runtime's, Foundation's and ICU's), the shared libraries, and anonymous memory.
        # Benchmarks/Footprint/run.py compares builds and says which code the pages hold.
        by_kind = memory.resident_by_kind(box.pid)
        print("resident memory by mapping: " + ", ".join(f"{kind} {by_kind[kind] / 1024:.1f} MiB" for kind in memory.KINDS))
        box.send_signal(signal.SIGTERM)
        box.wait(timeout=WAIT_SECONDS_MAX)
    finally:
        stop_children(children)
        shutil.rmtree(work, ignore_errors=True)


def start_box(binary, python, work, children, environment=None, county_api=False, summary_every=None):
    """Starts the socat pty pair, the pymodbus slaves behind it and the box polling them (with
    `environment` added to its own; with `county_api`, also serving the county pull API on a port
    of loopback), all in `work`; appends each process to `children` (the caller stops them).
    Returns the box's process and its state directory. Benchmarks/Footprint/run.py soaks several
    builds side by side with it."""
    gateway_end, slave_end = os.path.join(work, "gateway-pty"), os.path.join(work, "slave-pty")
    socat = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={gateway_end}", f"pty,raw,echo=0,link={slave_end}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    children.append(socat)
    wait_for_line(socat.stderr, "starting data transfer loop")
    slave = subprocess.Popen([python, SLAVE, "--port", slave_end, "--baud", "9600"] +
                             sum((["--slave", str(n)] for n in range(1, SENSORS + 1)), []),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    children.append(slave)
    wait_for_line(slave.stdout, "READY")

    config = os.path.join(work, "soak.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(CONFIG_HEAD + "".join(LEVEL_SENSOR.format(n=n) for n in range(1, SENSORS + 1)))
        if summary_every:
            f.write(f'\n[county]\nsummary_every = "{summary_every}"\n')
        if county_api:
            f.write(COUNTY_API)
    if county_api:
        with open(os.path.join(work, "api.key"), "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(os.path.join(work, "api.key"), 0o600)
    # One row at the start: after it the box's clock runs on in real time.
    scenario = os.path.join(work, "soak.csv")
    with open(scenario, "w") as f:
        f.write("time,sensor,value\n" + time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()) + ",rain1,0\n")
    state = os.path.join(work, "state")
    box = subprocess.Popen([binary, "run", "--config", config, "--board", "sim", "--bus", f"rs485={os.path.realpath(gateway_end)}",
                            "--scenario", scenario, "--speed", "1", "--state-dir", state, "--log-level", "warning"],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "box.log"), "w"),
                           env=dict(os.environ, **(environment or {})))
    children.append(box)
    return box, state


def stop_children(children):
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=WAIT_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                child.kill()


def wait_for_line(stream, text):
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if text in line:
            return
    sys.exit(f"gave up waiting for '{text}'")


def read_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


def read_cpu_seconds(pid, ticks):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def fit_slope(xs, ys):
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0


if __name__ == "__main__":
    main()
