"""The link-cut laboratory of issue 18: the real box (`run --board sim`) in one network namespace,
a county receiver (tests/CommandLine/county_receiver.py: HTTP push and an SL 651 centre) in
another, joined by a veth pair. The link is cut (`ip link set … down`, or an nftables drop that
leaves the interface up), the box plays an outage of simulated time at speed (alarms and routine
summaries pile up in its outbox; `--real-time-after-scenario` then lets time run at 1×), the link
is restored, and the county's log says when each report arrived.

Both ends are in namespaces made here (not the root one): with the box's uplink down its packets
have nowhere to go, never out of the machine's own default route. Used by link-cut.py (the
test in `make test`) and Benchmarks/LinkReturn/run.py.
"""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
RECEIVER = os.path.join(HERE, "county_receiver.py")
# The station's key, in the box's push.key and given to the receiver to sign its receipts.
PUSH_KEY_HEX = "5a" * 32

# Hang guards (never timing assertions): how long a step may take before the run is declared stuck.
STEP_SECONDS_MAX = 180
POLL_SECONDS = 0.02

SCENARIO_START = "2024-06-01T00:00:00+08:00"
SCENARIO_START_EPOCH = 1717171200  # the same instant


class LabUnavailable(Exception):
    """No root, no iproute2/nftables, or no namespaces: the test cannot run here."""


def prerequisites():
    """None when the lab can run; else what is missing, in words a technician can act on."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, nftables): run `make test` as root, as CI does"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"needs `{tool}` ({package}): `make deps` installs it as root"
    return None


def run(*arguments, check=True):
    result = subprocess.run(arguments, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def wait_for(what, condition, seconds=STEP_SECONDS_MAX):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"{what}: not within {seconds} s")


def scenario_rows(outage_seconds):
    """Quiet sensors, two downpours (red by rain-1h: alarms), quiet to the end of the outage."""
    rows = [(0, "river1", "1.200"), (0, "slope1", "12.00"), (0, "rain1", "0.0")]
    for storm_start in (outage_seconds * 0.2, outage_seconds * 0.6):
        if outage_seconds >= 4 * 3600:
            # An hour of rain in six 10-minute rows: 90 mm in the hour, red.
            rows += [(int(storm_start) + 600 * k, "rain1", "15.0") for k in range(1, 7)]
        else:
            rows += [(int(storm_start) + 1, "rain1", "45.0"), (int(storm_start) + 2, "rain1", "45.0")]
    # The last row ends the outage (a reading: a dry rain row makes no event, so no row).
    rows.append((outage_seconds, "river1", "1.200"))
    rows.sort(key=lambda row: row[0])
    lines = ["time,sensor,value"]
    for offset, sensor, value in rows:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(SCENARIO_START_EPOCH + 8 * 3600 + offset))
        lines.append(f"{stamp},{sensor},{value}")
    return "\n".join(lines) + "\n"


class Lab:
    def __init__(self, binary, keep=False):
        self.binary = os.path.abspath(binary)
        tag = f"{os.getpid() % 100000}"
        self.box_namespace, self.county_namespace = f"vgbox{tag}", f"vgcty{tag}"
        self.box_interface, self.county_interface = f"vgb{tag}", f"vgc{tag}"
        # Link-local addresses, only ever on this veth pair inside the two namespaces.
        self.box_address, self.county_address = "169.254.18.1", "169.254.18.2"
        self.http_port, self.sl651_port = 8080, 5651
        self.work = tempfile.mkdtemp(prefix="vg-linkcut-")
        # LINKCUT_KEEP=1 keeps the work directory (box log, county log, state) for a look afterwards.
        self.keep = keep or os.environ.get("LINKCUT_KEEP") == "1"
        self.processes = []
        self.firewalled = False

    # --- the network ------------------------------------------------------------------------

    def __enter__(self):
        missing = prerequisites()
        if missing:
            raise LabUnavailable(missing)
        try:
            run("ip", "netns", "add", self.box_namespace)
            run("ip", "netns", "add", self.county_namespace)
            run("ip", "link", "add", self.box_interface, "type", "veth", "peer", "name", self.county_interface)
        except RuntimeError as error:
            self.__exit__(None, None, None)
            raise LabUnavailable(f"cannot make network namespaces and a veth pair: {error}")
        run("ip", "link", "set", self.box_interface, "netns", self.box_namespace)
        run("ip", "link", "set", self.county_interface, "netns", self.county_namespace)
        for namespace, interface, address in ((self.box_namespace, self.box_interface, self.box_address),
                                              (self.county_namespace, self.county_interface, self.county_address)):
            run("ip", "-n", namespace, "link", "set", "lo", "up")
            run("ip", "-n", namespace, "address", "add", f"{address}/30", "dev", interface)
            run("ip", "-n", namespace, "link", "set", interface, "up")
        return self

    def __exit__(self, *exception):
        for process in reversed(self.processes):
            if process.poll() is None:
                process.kill()
            process.wait()
        for namespace in (self.box_namespace, self.county_namespace):
            run("ip", "netns", "delete", namespace, check=False)
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def cut_interface(self):
        """`ip link set … down` on the box's side: its routes go, the kernel says so."""
        run("ip", "-n", self.box_namespace, "link", "set", self.box_interface, "down")

    def restore_interface(self):
        run("ip", "-n", self.box_namespace, "link", "set", self.box_interface, "up")
        return time.monotonic()

    def firewall_drop(self):
        """A drop both ways on the county's side; every interface stays up."""
        ruleset = "\n".join([
            "table inet vgcut {",
            f"    chain in {{ type filter hook input priority 0; policy accept; iifname \"{self.county_interface}\" drop; }}",
            f"    chain out {{ type filter hook output priority 0; policy accept; oifname \"{self.county_interface}\" drop; }}",
            "}"])
        path = os.path.join(self.work, "cut.nft")
        with open(path, "w") as file:
            file.write(ruleset + "\n")
        run("ip", "netns", "exec", self.county_namespace, "nft", "-f", path)
        self.firewalled = True

    def firewall_lift(self):
        run("ip", "netns", "exec", self.county_namespace, "nft", "delete", "table", "inet", "vgcut")
        self.firewalled = False
        return time.monotonic()

    # --- the county ---------------------------------------------------------------------------

    def start_county(self):
        self.county_log = os.path.join(self.work, "county.jsonl")
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.county_namespace, sys.executable, RECEIVER, "--host", self.county_address,
             "--http-port", str(self.http_port), "--sl651-port", str(self.sl651_port), "--log", self.county_log, "--key-hex", PUSH_KEY_HEX],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.processes.append(process)
        line = process.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"the county receiver did not start: {line}{process.stdout.read() if process.poll() is not None else ''}")

    def county_entries(self):
        try:
            with open(self.county_log, encoding="utf-8") as file:
                return [json.loads(line) for line in file if line.endswith("\n")]
        except FileNotFoundError:
            return []

    # --- the box ------------------------------------------------------------------------------

    def configuration(self, summary_every):
        with open(os.path.join(ROOT, "config", "example.toml"), encoding="utf-8") as file:
            text = file.read()
        replacements = {
            r'^link_probe_every = .*$': 'link_probe_every = "1s"',
            r'^uplink_interfaces = .*$': f'uplink_interfaces = ["{self.box_interface}"]',
            r'^summary_every = .*$': f'summary_every = "{summary_every}"',
        }
        for pattern, replacement in replacements.items():
            text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
            if count != 1:
                raise RuntimeError(f"config/example.toml: expected one line matching {pattern}")
        with open(os.path.join(self.work, "push.key"), "w") as file:
            file.write(PUSH_KEY_HEX + "\n")
        text += (f'\n[county.push]\nurl = "http://{self.county_address}:{self.http_port}/v1/push"\nkey_file = "push.key"\nbatch_max = 50\n'
                 f'\n[county.sl651]\ncentre = "{self.county_address}:{self.sl651_port}"\n')
        path = os.path.join(self.work, "gateway.toml")
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
        return path

    def start_box(self, outage_seconds, speed, summary_every):
        self.state = os.path.join(self.work, "state")
        scenario = os.path.join(self.work, "outage.csv")
        with open(scenario, "w", encoding="utf-8") as file:
            file.write(scenario_rows(outage_seconds))
        self.outage_end_ms = (SCENARIO_START_EPOCH + outage_seconds) * 1000
        self.box_log = os.path.join(self.work, "box.log")
        log = open(self.box_log, "w")
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.box_namespace, self.binary, "run", "--config", self.configuration(summary_every),
             "--board", "sim", "--scenario", scenario, "--speed", str(speed), "--real-time-after-scenario",
             "--state-dir", self.state, "--log-level", "info"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.box = process

    def status(self):
        result = subprocess.run([self.binary, "status", "--state-dir", self.state, "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None

    def status_text(self):
        return subprocess.run([self.binary, "status", "--state-dir", self.state], capture_output=True, text=True).stdout

    def wait_for_outage_played(self):
        """Until the box's clock has passed the outage's last row (then it runs at 1×)."""
        def played():
            if self.box.poll() is not None:
                raise RuntimeError(f"the box exited {self.box.returncode}: {self.log_tail()}")
            status = self.status()
            return status if status and status.get("time_ms", 0) >= self.outage_end_ms else None
        return wait_for("the box playing the outage", played)

    def waiting(self):
        """(sequence, priority) of every report not yet delivered, read from the box's outbox."""
        database = sqlite3.connect(os.path.join(self.state, "outbox.sqlite"), timeout=30)
        try:
            # Not marked by a push, and above what a pull acknowledged (the outbox's migration v4).
            return database.execute(
                "SELECT sequence, priority FROM reports WHERE delivered_at_ms IS NULL"
                " AND sequence > (SELECT acknowledged_through FROM delivery WHERE id = 1) ORDER BY sequence").fetchall()
        finally:
            database.close()

    def log_tail(self, characters=3000):
        try:
            with open(self.box_log, encoding="utf-8", errors="replace") as file:
                return file.read()[-characters:]
        except FileNotFoundError:
            return ""

    def log_count(self, *texts):
        """Log lines holding every one of `texts`."""
        try:
            with open(self.box_log, encoding="utf-8", errors="replace") as file:
                return sum(1 for line in file if all(text in line for text in texts))
        except FileNotFoundError:
            return 0


def arrivals(entries):
    """Sequence → the first time the county had it, by either transport (SL 651 serial = sequence)."""
    first = {}
    for entry in entries:
        sequence = entry.get("sequence", entry.get("serial"))
        if sequence is None:
            continue
        if sequence not in first or entry["t"] < first[sequence]:
            first[sequence] = entry["t"]
    return first


def outage_report(entries):
    for entry in entries:
        if entry.get("kind") == "linkOutage":
            return entry.get("payload")
    return None


def play_outage(lab, mode, outage_seconds, speed, summary_every):
    """One outage from start to drained. mode "interface": the uplink is down throughout and comes
    back up (the kernel's signal). mode "firewall": after the outage has played the interface comes
    up behind a drop (the kernel's signal is then a false dawn), the push fails again, and lifting
    the drop is noticed by the probe (or the push's own retry). Returns what the county saw."""
    lab.cut_interface()
    lab.start_county()
    lab.start_box(outage_seconds, speed, summary_every)
    played = lab.wait_for_outage_played()
    if mode == "firewall":
        lab.firewall_drop()
        timeouts = lab.log_count("county not reachable", "imeout")
        lab.restore_interface()
        # The push tries the link that came up and finds it dropped: its connect times out.
        wait_for("the push failing behind the drop", lambda: lab.log_count("county not reachable", "imeout") > timeouts)
    before = lab.status()
    before_text = lab.status_text()
    waiting = lab.waiting()
    restored = lab.firewall_lift() if mode == "firewall" else lab.restore_interface()
    waiting_sequences = {sequence for sequence, _ in waiting}
    alarms = {sequence for sequence, priority in waiting if priority == 0}

    def drained():
        if lab.box.poll() is not None:
            raise RuntimeError(f"the box exited {lab.box.returncode}: {lab.log_tail()}")
        entries = lab.county_entries()
        seen = arrivals(entries)
        return (entries, seen) if waiting_sequences <= seen.keys() and outage_report(entries) else None

    entries, seen = wait_for("the backlog reaching the county", drained)
    return {
        "played": played, "before": before, "before_text": before_text, "after": lab.status(), "status_text": lab.status_text(),
        "waiting": waiting, "alarms": alarms, "restored": restored, "entries": entries, "seen": seen,
        "first_alarm_seconds": min(seen[s] for s in alarms) - restored if alarms else None,
        "last_report_seconds": max(seen[s] for s in waiting_sequences) - restored,
        "outage": outage_report(entries),
    }
