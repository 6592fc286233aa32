#!/usr/bin/env python3
# Prints the running box's figures: tip-to-siren latency, idle CPU and memory, start-up to READY=1.
# Usage: Benchmarks/Runtime/run.py BINARY   (a release build; `make bench` runs it). Never a test.
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/village-gateway")
LATENCY_CYCLES = 200          # storms of one tip burst each; the siren goes on once per storm
IDLE_SENSORS = 8              # 1 rain gauge + 7 water-level gauges, each read every second
IDLE_MEASURE_SECONDS = 30
IDLE_WARMUP_SECONDS = 5
STARTUPS = 10
WAIT_SECONDS_MAX = 300        # every wait is bounded

CONFIG = """
[station]
id = "0011223344"
name = "黄坑村"
[logic]
clear_after = "10m"
[acknowledgement]
from_level = "none"
[[sensor]]
id = "rain1"
kind = "rain_gauge"
mm_per_tip = 0.2
{levels}
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
siren_on = "2s"
siren_off = "3s"
lamp = "yellow"
message = "黄色预警"
"""
LEVEL_SENSOR = """
[[sensor]]
id = "river{n}"
kind = "water_level"
range = [0.0, 10.0]
stale_after = "5m"
"""

work = tempfile.mkdtemp(prefix="vg-bench-")
config = os.path.join(work, "bench.toml")
with open(config, "w", encoding="utf-8") as f:
    f.write(CONFIG.format(levels="".join(LEVEL_SENSOR.format(n=n) for n in range(1, IDLE_SENSORS))))

def iso(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(1_590_000_000 + seconds))

def run(args, **kwargs):
    return subprocess.run([BIN, "run", "--config", config, "--board", "sim"] + args, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=WAIT_SECONDS_MAX, check=True, **kwargs)

# 1. Latency: a burst of 50 mm crosses the 1-h yellow threshold every 2 h of scenario time. The
#    burst arrives as reed-switch closures on the simulated GPIO line, through the debouncer and
#    the tip counter; the daemon records, for each siren switched on, the time from the tips
#    entering the engine's queue to the siren being handed to its relay worker. Measured twice:
#    with the disk as it is, and with every fsync/fdatasync slowed by 200 ms (an LD_PRELOAD shim,
#    Benchmarks/Runtime/slow-fsync.c, as an SD card under write load), which the siren must not
#    wait for. LATENCY_CYCLES / SLOW_LATENCY_CYCLES storms each.
SLOW_LATENCY_CYCLES = int(os.environ.get("SLOW_LATENCY_CYCLES", "40"))
SLOW_FSYNC_MILLISECONDS = 200

def latency(cycles, label, environment=None):
    scenario = os.path.join(work, f"latency-{label}.csv")
    with open(scenario, "w") as f:
        f.write("time,sensor,value\n")
        for cycle in range(cycles):
            f.write(f"{iso(cycle * 7200 + 60)},rain1,50\n")
    state = os.path.join(work, f"latency-state-{label}")
    # Slowed, a snapshot takes about a second (five fsyncs) on the state writer's thread: the
    # siren does not wait for it (group commit), but a slower pace keeps each storm's records
    # apart, so the figure is the siren's wait and not a backlog's.
    speed = "72000" if environment is None else os.environ.get("SLOW_SPEED", "3600")
    run(["--scenario", scenario, "--speed", speed, "--state-dir", state, "--exit-after-scenario", "--log-level", "error"],
        env=dict(os.environ, **(environment or {})))
    samples = []
    with open(os.path.join(state, "outputs.jsonl"), encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("type") == "siren_latency":
                samples.append(record["microseconds"] / 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"tip crossing a threshold -> siren handed to its relay, {label}: median {statistics.median(samples):.2f} ms, "
          f"p99 {p99:.2f} ms, max {samples[-1]:.2f} ms over {len(samples)} storms (state dir on {os.path.dirname(work)})")

latency(LATENCY_CYCLES, "normal fsync")
shim = os.path.join(work, "slow-fsync.so")
compiler = shutil.which("cc") or shutil.which("gcc")
if compiler is None:
    print("slowed fsync: skipped, no C compiler (cc) to build Benchmarks/Runtime/slow-fsync.c")
else:
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow-fsync.c"), "-ldl"],
                   check=True)
    latency(SLOW_LATENCY_CYCLES, f"every fsync slowed by {SLOW_FSYNC_MILLISECONDS} ms",
            {"LD_PRELOAD": shim, "SLOW_FSYNC_MILLISECONDS": str(SLOW_FSYNC_MILLISECONDS)})
if os.environ.get("LATENCY_ONLY"):
    shutil.rmtree(work)
    sys.exit(0)

# 2. Idle: 8 sensors read every second in real time; CPU from /proc/PID/stat, memory from VmRSS.
scenario = os.path.join(work, "idle.csv")
with open(scenario, "w") as f:
    f.write("time,sensor,value\n")
    for second in range(IDLE_WARMUP_SECONDS + IDLE_MEASURE_SECONDS + 30):
        f.write(f"{iso(second)},rain1,0\n")
        for n in range(1, IDLE_SENSORS):
            f.write(f"{iso(second)},river{n},1.2\n")
state = os.path.join(work, "idle-state")
process = subprocess.Popen([BIN, "run", "--config", config, "--board", "sim", "--scenario", scenario, "--speed", "1",
                            "--state-dir", state, "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ticks = os.sysconf("SC_CLK_TCK")
def cpu_seconds():
    with open(f"/proc/{process.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks
time.sleep(IDLE_WARMUP_SECONDS)
before, started = cpu_seconds(), time.monotonic()
time.sleep(IDLE_MEASURE_SECONDS)
used, elapsed = cpu_seconds() - before, time.monotonic() - started
with open(f"/proc/{process.pid}/status") as f:
    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
process.terminate()
process.wait(timeout=WAIT_SECONDS_MAX)
print(f"idle with {IDLE_SENSORS} sensors read every second: CPU {100 * used / elapsed:.2f} % of one core, "
      f"resident memory {rss / 1024:.1f} MiB")

# 3. Start-up: from exec to READY=1 on a notify socket we bind, fresh state directory each time.
times, stops = [], []
for index in range(STARTUPS):
    path = os.path.join(work, f"notify-{index}")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(WAIT_SECONDS_MAX)
    started = time.monotonic()
    process = subprocess.Popen([BIN, "run", "--config", config, "--board", "sim", "--scenario", scenario, "--speed", "1",
                                "--state-dir", os.path.join(work, f"start-{index}"), "--log-level", "error"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, NOTIFY_SOCKET=path))
    while not listener.recv(4096).startswith(b"READY=1"):
        pass
    times.append((time.monotonic() - started) * 1000)
    stopping = time.monotonic()
    process.terminate()
    process.wait(timeout=WAIT_SECONDS_MAX)
    stops.append((time.monotonic() - stopping) * 1000)
    listener.close()
print(f"start-up to READY=1: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms over {STARTUPS} starts")
print(f"SIGTERM to exit (outputs safe, state saved): median {statistics.median(stops):.1f} ms, max {max(stops):.1f} ms")
shutil.rmtree(work)
