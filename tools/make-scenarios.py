#!/usr/bin/env python3
"""Writes the shipped replay scenarios (scenarios/*.csv) from simple, documented storm shapes.

The shapes are synthetic but follow public facts: typhoon Hagupit (黑格比) made landfall at
Yueqing on 2020-08-04 03:30 (+08:00) and gave 314.2 mm in a day at Pinghu; a slope under the
improved tangent-angle method creeps steadily (45°), then accelerates when rain soaks it.
Deterministic: no randomness, so the files (and every replay of them) never change by accident.
Run: python3 tools/make-scenarios.py  (from the repository root)
"""
import math
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))


def iso(t):
    return t.isoformat(timespec="seconds")


def bands(t_hours, spec):
    """Rain intensity (mm/h) at t_hours as a sum of Gaussian rain bands (centre h, peak mm/h, width h)."""
    return sum(peak * math.exp(-((t_hours - centre) / width) ** 2) for centre, peak, width in spec)


def typhoon():
    start = datetime(2020, 8, 3, 12, 0, tzinfo=CST)
    end = datetime(2020, 8, 6, 12, 0, tzinfo=CST)
    step = timedelta(minutes=10)
    # Hours after the start (2020-08-03 12:00): outer band in the evening, the core around
    # landfall (03:30 on the 4th = hour 15.5), a pause in the morning, a second band at midday.
    rain_bands = [(9.0, 5.0, 3.0), (13.0, 22.0, 1.6), (15.3, 90.0, 0.8), (24.5, 36.0, 1.0), (28.0, 7.0, 1.5)]
    rows = ["# Typhoon Hagupit (黑格比) over a hill village, shaped on the public record: landfall at",
            "# Yueqing 2020-08-04 03:30 +08:00. Rain rises to red (1 h, 3 h, 6 h and 24 h), pauses in the",
            "# morning, returns at midday, then clears. Nobody in the village answers the first 叫应",
            "# SMS; the township cadre replies by SMS after the escalation. At orange the village head",
            "# calls the box back (caller id, not picked up) and the monitor replies 到; at red both",
            "# answer within two minutes, one by SMS, one by calling back. A stranger's SMS is reported",
            "# and not taken. sms_reply rows are 'PHONE TEXT', call_in rows 'PHONE', in any of the forms",
            "# a modem gives (+86…, 86…, 11 digits). The township office clears the latched red the next morning.",
            "time,sensor,value"]
    storage = 0.0  # linear-reservoir storage of the small watershed, in mm over the catchment
    t = start
    slope_mm = 12.0
    total = 0.0
    while t <= end:
        h = (t - start).total_seconds() / 3600
        intensity = bands(h, rain_bands)
        rain_10min = round(intensity / 6, 1) if intensity / 6 >= 0.05 else 0.0
        total += rain_10min
        rows.append(f"{iso(t)},rain1,{rain_10min}")
        # Stream level: base 1.20 m, rises with the reservoir storage, recession time 5 h.
        storage += rain_10min - storage * (10 / 60) / 5.0
        level = 1.20 + 0.0226 * storage ** 0.95
        rows.append(f"{iso(t)},river1,{level:.3f}")
        if t.minute == 0:
            # The slope creeps 0.4 mm/day and a little faster while the soil is soaked.
            rows.append(f"{iso(t)},slope1,{slope_mm:.2f}")
        slope_mm += (0.4 + 0.004 * storage) / 144
        t += step
    # People: answers and the latch clearing, inserted in time order.
    events = [(datetime(2020, 8, 4, 3, 6, tzinfo=CST), "sms_reply", "+8613900000003 收到"),
              (datetime(2020, 8, 4, 3, 14, tzinfo=CST), "call_in", "13800000001"),
              (datetime(2020, 8, 4, 3, 16, tzinfo=CST), "sms_reply", "8613800000002 到"),
              (datetime(2020, 8, 4, 3, 31, tzinfo=CST), "sms_reply", "+8613800000001 1"),
              (datetime(2020, 8, 4, 3, 32, tzinfo=CST), "call_in", "+8613800000002"),
              (datetime(2020, 8, 4, 3, 35, tzinfo=CST), "sms_reply", "+8613711112222 什么情况？"),
              (datetime(2020, 8, 5, 8, 0, tzinfo=CST), "clear", "镇防汛办")]
    return rows, events, total


def slope():
    start = datetime(2021, 6, 1, 0, 0, tzinfo=CST)
    days = 24
    rows = ["# A slope above the village creeps steadily (0.5 mm/day, 45° by the improved tangent-angle",
            "# method), accelerates when the plum rains (梅雨) soak it, reaches red by tangent angle,",
            "# then slows once the rain stops. The rain gauge records the rain that drives it.",
            "time,sensor,value"]
    displacement = 30.0
    rate = 0.5  # mm/day
    t = start
    step = timedelta(minutes=10)
    while t < start + timedelta(days=days):
        d = (t - start).total_seconds() / 86400
        # Plum rain from day 9 to day 15: steady 2-4 mm/h with two heavier spells.
        intensity = 0.0
        if 9 <= d < 15:
            intensity = 1.5 + 1.5 * math.sin((d - 9) * math.pi / 3) ** 2 + bands(d, [(11.5, 3.5, 0.3), (13.2, 5.0, 0.35)])
        rows.append(f"{iso(t)},rain1,{intensity / 6:.2f}")
        rows.append(f"{iso(t)},river1,{1.25 + 0.02 * intensity:.3f}")
        # The slope: steady creep, then acceleration doubling the rate every day
        # while it rains (a lag of a day), then deceleration back to creep after the rain.
        if 10 <= d < 16.5:
            rate *= 2 ** (1 / (1.0 * 144))
        elif d >= 16.5 and rate > 0.5:
            rate = max(0.5, rate * 0.5 ** (1 / (0.8 * 144)))
        displacement += rate / 144
        if t.minute == 0:
            rows.append(f"{iso(t)},slope1,{displacement:.2f}")
        t += step
    events = [(datetime(2021, 6, 23, 9, 0, tzinfo=CST), "clear", "县自然资源局 王工")]
    return rows, events


def merge(rows, events):
    """Inserts event rows after the last data row at or before their time."""
    header_end = rows.index("time,sensor,value") + 1
    out = rows[:header_end]
    data = rows[header_end:]
    pending = sorted(events)
    for row in data:
        row_time = datetime.fromisoformat(row.split(",")[0])
        while pending and pending[0][0] < row_time:
            when, sensor, value = pending.pop(0)
            out.append(f"{iso(when)},{sensor},{value}")
        out.append(row)
    for when, sensor, value in pending:
        out.append(f"{iso(when)},{sensor},{value}")
    return out


def drills_in_the_typhoon(rows, events):
    """The same typhoon with drills, to show that real warnings pre-empt drills."""
    header = ["# Typhoon Hagupit with drills: real warnings pre-empt drills. A red drill started in calm",
              "# weather at 01:00 is ended by the real blue at 02:00; an orange drill at 02:10 is refused",
              "# (a real blue needs --force), forced at 02:20 and ended by the real yellow at 02:50; a red",
              "# drill at 03:00 is refused outright (real yellow). After the all-clear, a red drill runs",
              "# from 10:00 to 10:30 on the 5th and ends with the drill-end message, not the all-clear."]
    drills = [(datetime(2020, 8, 4, 1, 0, tzinfo=CST), "drill", "red"),
              (datetime(2020, 8, 4, 2, 10, tzinfo=CST), "drill", "orange"),
              (datetime(2020, 8, 4, 2, 20, tzinfo=CST), "drill", "orange --force"),
              (datetime(2020, 8, 4, 3, 0, tzinfo=CST), "drill", "red"),
              (datetime(2020, 8, 5, 10, 0, tzinfo=CST), "drill", "red"),
              (datetime(2020, 8, 5, 10, 30, tzinfo=CST), "drill", "stop")]
    body = [row for row in rows if not row.startswith("#")]
    return header + body, events + drills


if __name__ == "__main__":
    rows, events, total = typhoon()
    with open("scenarios/typhoon-hagupit.csv", "w") as f:
        f.write("\n".join(merge(rows, events)) + "\n")
    print(f"typhoon: total rain {total:.1f} mm")
    drill_rows, drill_events = drills_in_the_typhoon(rows, events)
    with open("scenarios/typhoon-drills.csv", "w") as f:
        f.write("\n".join(merge(drill_rows, drill_events)) + "\n")
    rows, events = slope()
    with open("scenarios/slope-creep.csv", "w") as f:
        f.write("\n".join(merge(rows, events)) + "\n")
