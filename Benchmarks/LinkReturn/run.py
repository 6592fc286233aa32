#!/usr/bin/env python3
"""Issue 18, item 5: seconds from the link's return to the first alarm and to the last report
delivered, for outages of 2 minutes, 1 hour and 7 days of simulated time, with the link signal
that ended each. The real box (`run --board sim --real-time-after-scenario`) and a county
receiver in two network namespaces joined by a veth pair (Tests/CommandLine/linkcut.py): the
outage plays at speed, then time runs at 1x and the link is restored.

Two ways back per outage: the uplink interface coming up (the kernel's rtnetlink signal), and a
firewall drop lifted with the interface up all along (the probe, every `link_probe_every` = 1 s
here, or the push's own retry). Both transports (HTTP push and SL 651) run; "first alarm" and
"last report" count a report when either transport has it at the county.

Goal (issue 18): first alarm within 1 s; the whole backlog within 5 s plus its transfer time.
Needs root, iproute2 and nftables. Prints figures; asserts nothing.
Usage: Benchmarks/LinkReturn/run.py path/to/village-gateway [OUTAGE...]   (e.g. "7 d"; all by default)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "CommandLine"))
import linkcut  # noqa: E402

# (label, simulated seconds, speed for about five wall seconds of outage, summary period)
OUTAGES = [
    # summary_every is 5 min at least: a 2-minute outage stores alarms and events only.
    ("2 min", 120, 24, "5m"),
    ("1 h", 3600, 720, "5m"),
    ("7 d", 7 * 24 * 3600, 120_000, "10m"),
]
PEER = "ThingsBoard IoT Gateway, after a 120 s outage (measured side by side, issue 18): 35 s to deliver its backlog"


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(64)
    binary = sys.argv[1]
    missing = linkcut.prerequisites()
    if missing:
        print(f"link-return benchmark: {missing}")
        sys.exit(1)
    print(f"binary: {binary}")
    print(f"{'outage':>7} {'way back':>9} {'waiting':>8} {'alarms':>6} {'first alarm s':>13} {'last report s':>13}  signal that ended the outage")
    chosen = sys.argv[2:]
    for label, seconds, speed, summary_every in OUTAGES:
        if chosen and label not in chosen:
            continue
        for mode in ("interface", "firewall"):
            with linkcut.Lab(binary) as lab:
                try:
                    seen = linkcut.play_outage(lab, mode, seconds, speed, summary_every)
                except (RuntimeError, TimeoutError) as error:
                    print(f"{label:>7} {mode:>9} FAILED: {error}\n{lab.log_tail(1500)}")
                    continue
                first = seen["first_alarm_seconds"]
                outage = seen["outage"] or {}
                print(f"{label:>7} {mode:>9} {len(seen['waiting']):>8} {len(seen['alarms']):>6} "
                      f"{(f'{first:.3f}' if first is not None else '-'):>13} {seen['last_report_seconds']:>13.3f}  {outage.get('endedBy')}", flush=True)
    print(PEER)


if __name__ == "__main__":
    main()
