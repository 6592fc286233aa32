#!/usr/bin/env python3
"""Issue 18, item 4: the returning link across a real cut, from the county's side.

The real box (`run --board sim`) and a county receiver each in their own network namespace,
joined by a veth pair (Tests/CommandLine/linkcut.py). Two cuts:
  1. `ip link set … down` on the box's uplink for a simulated week (alarms from two downpours,
     hourly summaries), then up: the kernel's signal ends the push's backoff.
  2. the same week, then the interface comes up behind an nftables drop (both ways, interface
     up), the push fails again, the drop is lifted: the probe (or the push's retry) notices.
For each: every report waiting at the restore reaches the county; the alarms waiting arrive
before any routine report waiting; the county gets the outage report (from, to, how many
waited); and for the interface cut the kernel's signal is what ended the outage, before the
retry the box had scheduled. The seconds are printed (the benchmark is
Benchmarks/LinkReturn/run.py); timing is asserted against the box's own schedule, not the wall.

Needs root, iproute2 and nftables (`make deps`); without them it FAILS, saying so: it never
passes silently. Closes with "link-cut: N passed, N failed".
Usage: link-cut.py path/to/village-gateway
"""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linkcut  # noqa: E402

WEEK_SECONDS = 7 * 24 * 3600
# A week in about five seconds of wall time; then real time.
WEEK_SPEED = 120_000

passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")


def iso_seconds(text):
    """Seconds since the epoch of an ISO-8601 time with offset, as the box writes it."""
    from datetime import datetime
    return datetime.fromisoformat(text).timestamp()


def case(binary, mode):
    with linkcut.Lab(binary) as lab:
        try:
            seen = linkcut.play_outage(lab, mode, WEEK_SECONDS, WEEK_SPEED, "1h")
        except (RuntimeError, TimeoutError) as error:
            check(f"{mode}: the week's backlog reaches the county", False, f"{error}\n--- box log ---\n{lab.log_tail()}")
            return
        waiting, alarms = seen["waiting"], seen["alarms"]
        routine = {sequence for sequence, priority in waiting if priority == 2}
        arrived = seen["seen"]
        before = seen["before"] or {}
        uplink = before.get("uplink") or {}
        outage = seen["outage"] or {}
        print(f"     {mode}: {len(waiting)} waiting ({len(alarms)} alarms, {len(routine)} routine); first alarm "
              f"{seen['first_alarm_seconds']:.3f} s, last report {seen['last_report_seconds']:.3f} s after the restore; "
              f"ended by {outage.get('endedBy')}")
        check(f"{mode}: status said the uplink was down before the restore", uplink.get("state") == "down", f"{uplink}")
        shown = [line for line in seen["before_text"].splitlines() if line.startswith(("Outbox", "Uplink", "          "))]
        print("     status before the restore:\n" + "\n".join("       " + line for line in shown[-6:]))
        # Hourly summaries over a week; at 120000x the owner's ticks are 40 simulated minutes or more
        # apart (more under load) and some hours' summaries fold into one: 80 to 133 of 168 seen.
        check(f"{mode}: a week of alarms and hourly summaries waited", len(alarms) >= 2 and len(routine) >= 20,
              f"{len(alarms)} alarms, {len(routine)} routine")
        check(f"{mode}: every waiting report reached the county", set(s for s, _ in waiting) <= arrived.keys())
        first = min(arrived, key=lambda s: arrived[s] if s in alarms or s in routine else float("inf"))
        check(f"{mode}: the first report back was an alarm", first in alarms, f"sequence {first}")
        # Per transport: the SL 651 centre gets only the reports that have an SL 651 form (level
        # changes, summaries); each transport sends every alarm it carries before any routine one.
        for transport in ("http", "sl651"):
            carried = linkcut.arrivals([e for e in seen["entries"] if e.get("transport") == transport])
            alarm_times = [t for s, t in carried.items() if s in alarms]
            routine_times = [t for s, t in carried.items() if s in routine]
            if alarm_times and routine_times:
                check(f"{mode}: over {transport} the alarms waiting went before any routine report waiting",
                      max(alarm_times) <= min(routine_times),
                      f"last alarm {max(alarm_times) - seen['restored']:.3f} s, first routine {min(routine_times) - seen['restored']:.3f} s")
        waited = outage.get("reportsWaiting", 0)
        span = iso_seconds(outage["to"]) - iso_seconds(outage["from"]) if outage.get("from") and outage.get("to") else 0
        check(f"{mode}: the county got the outage report (a week, the reports that waited)",
              span >= WEEK_SECONDS - 86_400 and waited >= len(waiting), f"{outage}; {len(waiting)} waited")
        if mode == "interface":
            check("interface: the kernel's signal ended the outage", str(outage.get("endedBy", "")).startswith("kernel: "), f"{outage}")
            # Box time runs at 1x after the outage: the first alarm came before the retry the box
            # had scheduled, so the signal, not the timer, delivered it.
            # Only telling when that retry was well ahead (a backoff can end a second after the
            # restore by chance): then the delivery must come before it.
            next_attempt = uplink.get("next_attempt")
            first_alarm_box = (iso_seconds(outage["to"]) if outage.get("to") else float("inf"))
            box_seconds_at_restore = before.get("time_ms", 0) / 1000
            if next_attempt is None or iso_seconds(next_attempt) - box_seconds_at_restore >= 10:
                check("interface: delivered before the box's own next try", next_attempt is None or first_alarm_box <= iso_seconds(next_attempt),
                      f"outage ended {outage.get('to')}, next try was {next_attempt}")
            else:
                print(f"     (the box's own retry was due {iso_seconds(next_attempt) - box_seconds_at_restore:.1f} s after the restore: the kernel signal is checked by endedBy alone)")
        else:
            check("firewall: the probe or the push's retry ended the outage, not the false dawn of the interface",
                  str(outage.get("endedBy", "")).startswith(("probe: ", "push: ")), f"{outage}")
        text = seen["status_text"]
        check(f"{mode}: status shows the uplink up and the signal afterwards", "Uplink    up since" in text, text)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(64)
    binary = sys.argv[1]
    missing = linkcut.prerequisites()
    if missing:
        print(f"FAIL link-cut: {missing}")
        print("link-cut: 0 passed, 1 failed")
        sys.exit(1)
    for mode in ("interface", "firewall"):
        try:
            case(binary, mode)
        except linkcut.LabUnavailable as error:
            check(f"{mode}: the lab can be built", False, str(error))
    print(f"link-cut: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
