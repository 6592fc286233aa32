#!/usr/bin/env python3
"""Writes a 30-day scenario with one row per minute for each of the 8 sensors of
Benchmarks/Simulate/eight-sensors.toml (4 rain gauges, 2 water levels, 2 displacements), for
timing `village-gateway simulate`. Deterministic (seeded), so every run times the same input.
Usage: make-30-day-scenario.py OUT.csv
"""
import math
import random
import sys
from datetime import datetime, timedelta, timezone

random.seed(651)
start = datetime(2020, 7, 1, 0, 0, tzinfo=timezone(timedelta(hours=8)))
minutes = 30 * 24 * 60
with open(sys.argv[1], "w") as out:
    out.write("time,sensor,value\n")
    for m in range(minutes):
        t = (start + timedelta(minutes=m)).isoformat(timespec="seconds")
        day = m / 1440
        # Storms every few days; between them, dry spells.
        storm = max(0.0, math.sin(day * math.pi / 3.5)) ** 6
        for g in range(4):
            mm = max(0.0, storm * (1.2 + 0.3 * g) + random.gauss(0, 0.05)) if storm > 0.05 else 0.0
            out.write(f"{t},rain{g + 1},{mm:.2f}\n")
        for r in range(2):
            out.write(f"{t},river{r + 1},{1.2 + 2.2 * storm + 0.01 * random.random():.3f}\n")
        for s in range(2):
            out.write(f"{t},slope{s + 1},{30 + day * (0.5 + s * 0.2) + 3 * storm * day / 30:.2f}\n")
