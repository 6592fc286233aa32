#!/usr/bin/env bash
# Kills the box with SIGKILL while it writes reports (an accelerated storm, summaries every 5
# minutes of storm time, [county.api] on 127.0.0.1) and kills `village-county pull` while it delivers,
# again and again, restarting both; then proves from the two databases that every report the box
# stored is in the county database exactly once with identical content, that every report the box
# counts as delivered is there, and that no number is missing outside a gap the box declared.
#
#   tools/outbox-kill-test.sh [BINARY] [KILLS]      (env: OUTBOX_KILLS, SPEED, SCENARIO, CONFIG, SEED)
#
# KILLS counts both kinds together (about half each). Exit status 0 and a last line "PASS ..."
# when every check holds.
set -euo pipefail

BIN=${1:-.build/debug/village-gateway}
# The county's program is built beside the box's.
COUNTY_BIN=${COUNTY_BIN:-$(dirname "$BIN")/village-county}
KILLS=${2:-${OUTBOX_KILLS:-60}}
SPEED=${SPEED:-21600}
SCENARIO=${SCENARIO:-scenarios/typhoon-hagupit.csv}
CONFIG=${CONFIG:-config/example.toml}
SEED=${SEED:-$$}
# Every wait is bounded.
API_WAIT_SECONDS=${API_WAIT_SECONDS:-60}
FINAL_PULL_TIMEOUT_SECONDS=${FINAL_PULL_TIMEOUT_SECONDS:-300}
# The box runs 0.1-0.6 s before the pull starts, the pull 0-0.25 s before its kill, and the box
# 0-0.4 s more before its own: kills land in start-up, in writes, in pages and in acknowledgements.
BOX_HEAD_START_MIN_MS=100
BOX_HEAD_START_SPAN_MS=500
PULL_RUN_SPAN_MS=250
BOX_AFTER_SPAN_MS=400

command -v sqlite3 >/dev/null || { echo "error: the sqlite3 command is needed (apt-get install sqlite3; make deps does it)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-outbox-kill.XXXXXX")
BOX_PID=""
PULL_PID=""
cleanup() {
    # Only the processes this script started, by their ids.
    [ -n "$PULL_PID" ] && kill -9 "$PULL_PID" 2>/dev/null || true
    [ -n "$BOX_PID" ] && kill -9 "$BOX_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
RANDOM=$SEED
STATE="$WORK/state"
COUNTY="$WORK/county.sqlite"
mkdir -p "$STATE"
echo "outbox-kill: $KILLS kills at ${SPEED}x, seed $SEED, work dir $WORK"

# The box's configuration: the example with summaries every 5 minutes and the API on a free port.
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$WORK/api.key"
STATION=$(tools/county-api-config.py "$CONFIG" "$WORK/gateway.toml" "$WORK/api.key" 5m)

sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

start_box() {  # $1: speed
    rm -f "$STATE/api.port"
    "$BIN" run --config "$WORK/gateway.toml" --board sim --scenario "$SCENARIO" --speed "$1" \
        --state-dir "$STATE" --log-level warning 2>>"$WORK/box.log" >/dev/null &
    BOX_PID=$!
    local waited=0
    while [ ! -s "$STATE/api.port" ]; do
        if ! kill -0 "$BOX_PID" 2>/dev/null; then
            echo "FAIL: the box exited before its API listened; its log:" >&2
            tail -20 "$WORK/box.log" >&2
            exit 1
        fi
        if [ "$waited" -ge $((API_WAIT_SECONDS * 20)) ]; then
            echo "FAIL: no $STATE/api.port after ${API_WAIT_SECONDS} s" >&2
            exit 1
        fi
        sleep 0.05
        waited=$((waited + 1))
    done
    local port
    port=$(tr -d '[:space:]' < "$STATE/api.port")
    cat > "$WORK/stations.toml" <<EOF
[[station]]
id = "$STATION"
name = "kill test"
url = "http://127.0.0.1:$port"
key_file = "$WORK/api.key"
EOF
}

box_kills=0
pull_kills=0
pulls_finished=0
round=0
while [ $((box_kills + pull_kills)) -lt "$KILLS" ]; do
    round=$((round + 1))
    start_box "$SPEED"
    sleep_ms $((BOX_HEAD_START_MIN_MS + RANDOM % BOX_HEAD_START_SPAN_MS))
    "$COUNTY_BIN" pull --stations "$WORK/stations.toml" --db "$COUNTY" --timeout 10 >>"$WORK/pull.log" 2>&1 &
    PULL_PID=$!
    sleep_ms $((RANDOM % PULL_RUN_SPAN_MS))
    # Half the rounds kill the box first, in the middle of the pull's pages and acknowledgements.
    if [ $((RANDOM % 2)) -eq 0 ]; then
        kill -9 "$BOX_PID" 2>/dev/null && box_kills=$((box_kills + 1))
        wait "$BOX_PID" 2>/dev/null || true
        BOX_PID=""
        sleep_ms $((RANDOM % 100))
        if kill -9 "$PULL_PID" 2>/dev/null; then pull_kills=$((pull_kills + 1)); else pulls_finished=$((pulls_finished + 1)); fi
        wait "$PULL_PID" 2>/dev/null || true
        PULL_PID=""
    else
        if kill -9 "$PULL_PID" 2>/dev/null; then pull_kills=$((pull_kills + 1)); else pulls_finished=$((pulls_finished + 1)); fi
        wait "$PULL_PID" 2>/dev/null || true
        PULL_PID=""
        sleep_ms $((RANDOM % BOX_AFTER_SPAN_MS))
        kill -9 "$BOX_PID" 2>/dev/null && box_kills=$((box_kills + 1))
        wait "$BOX_PID" 2>/dev/null || true
        BOX_PID=""
    fi
    if [ $((round % 20)) -eq 0 ]; then
        echo "round $round: $box_kills kills of the box, $pull_kills of the pull, $pulls_finished pulls finished first"
    fi
done

# The last round: the box at real speed (so it stores almost nothing more), one pull to the end.
start_box 1
BOX_LAST_BEFORE=$(sqlite3 "$STATE/outbox.sqlite" "SELECT seq FROM sqlite_sequence WHERE name = 'reports'")
status=0
timeout "$FINAL_PULL_TIMEOUT_SECONDS" "$COUNTY_BIN" pull --stations "$WORK/stations.toml" --db "$COUNTY" \
    >"$WORK/final-pull.txt" 2>&1 || status=$?
kill -TERM "$BOX_PID"
wait "$BOX_PID" 2>/dev/null || true
BOX_PID=""
if [ "$status" -ne 0 ]; then
    echo "FAIL: the final pull exited $status:" >&2
    cat "$WORK/final-pull.txt" >&2
    exit 1
fi

# The checks, from the two databases as the sqlite3 command reads them.
# Delivered: marked by a push, or at or below the pull's acknowledged mark (the outbox's migration v4).
sqlite3 -json "$STATE/outbox.sqlite" "SELECT sequence, time_ms, kind, priority, exercise, payload, wire_payload,
    (delivered_at_ms IS NOT NULL OR sequence <= (SELECT acknowledged_through FROM delivery WHERE id = 1)) AS delivered
    FROM reports ORDER BY sequence" > "$WORK/box.json"
sqlite3 -json "$STATE/outbox.sqlite" "SELECT from_sequence, through_sequence FROM gaps" > "$WORK/box-gaps.json"
for table in reports gaps missing conflicts stations; do
    sqlite3 -json "$COUNTY" "SELECT * FROM $table" > "$WORK/county-$table.json"
done
python3 - "$WORK" "$STATION" "$BOX_LAST_BEFORE" "$box_kills" "$pull_kills" "$pulls_finished" <<'PY'
import json, sys
from collections import Counter

work, station, box_last_before = sys.argv[1], sys.argv[2], int(sys.argv[3] or 0)
box_kills, pull_kills, pulls_finished = map(int, sys.argv[4:7])

def load(name):
    with open(f"{work}/{name}.json", encoding="utf-8") as file:
        text = file.read().strip()
    return json.loads(text) if text else []

priorities = {0: "alarm", 1: "event", 2: "routine"}

def wire_kind(name):
    """Contract v2's kind: the box's name in snake_case (ReportKind in CountyProtocol)."""
    out = ""
    for character in name:
        if character.isupper():
            if out and not out.endswith("_"):
                out += "_"
            out += character.lower()
        else:
            out += character
    return out
box = load("box")
county = [r for r in load("county-reports") if r["station"] == station]
gaps = [g for g in load("county-gaps") if g["station"] == station]
missing = load("county-missing")
conflicts = load("county-conflicts")
stations = [s for s in load("county-stations") if s["station"] == station]
failures = []

if len(stations) != 1:
    failures.append(f"the county database has {len(stations)} rows for station {station}")
    pulled = acknowledged = 0
else:
    pulled, acknowledged = stations[0]["pulled_through"], stations[0]["acknowledged_through"]
if pulled < box_last_before:
    failures.append(f"the final pull stopped at {pulled}, below the box's last number {box_last_before} when it began")
if acknowledged != pulled:
    failures.append(f"acknowledged through {acknowledged} but pulled through {pulled}")

counts = Counter(r["sequence"] for r in county)
twice = [s for s, n in counts.items() if n > 1]
if twice:
    failures.append(f"{len(twice)} reports stored more than once, e.g. {twice[:5]}")
by_sequence = {r["sequence"]: r for r in county}

checked = delivered = 0
for report in box:
    sequence = report["sequence"]
    if report["delivered"]:
        delivered += 1
        if sequence not in by_sequence:
            failures.append(f"report {sequence} is marked delivered on the box but is not in the county database (acknowledged before it was stored)")
    if sequence > pulled:
        continue
    checked += 1
    mine = by_sequence.get(sequence)
    if mine is None:
        failures.append(f"report {sequence} stored by the box is not in the county database")
        continue
    # The county pulls contract v2: the payload the box made for it when it stored the report.
    expected = (report["time_ms"], wire_kind(report["kind"]), priorities[report["priority"]], report["exercise"], json.loads(report["wire_payload"]))
    got = (mine["time_ms"], mine["kind"], mine["priority"], mine["exercise"], json.loads(mine["payload"]))
    if expected != got:
        failures.append(f"report {sequence} differs: box {expected}, county {got}")

in_gap = lambda n: any(g["from_sequence"] <= n <= g["through_sequence"] for g in gaps)
unexplained = [n for n in range(1, pulled + 1) if n not in by_sequence and not in_gap(n)]
if unexplained:
    failures.append(f"{len(unexplained)} numbers up to {pulled} are neither stored nor inside a gap, e.g. {unexplained[:10]}")
if missing:
    failures.append(f"the county recorded numbers missing without a gap: {missing[:5]}")
if conflicts:
    failures.append(f"the county recorded numbers sent twice with different content: {conflicts[:5]}")
if checked == 0 or box_kills == 0 or pull_kills == 0:
    failures.append(f"the test did not exercise anything: {checked} reports, {box_kills} box kills, {pull_kills} pull kills")
for failure in failures[:30]:
    print(failure)
if failures:
    print(f"FAIL: {len(failures)} problems")
    sys.exit(1)
later = sum(1 for r in box if r["sequence"] > pulled)
print(f"PASS: {box_kills + pull_kills} kills ({box_kills} of the box, {pull_kills} of the pull; {pulls_finished} pulls finished first); "
      f"{checked} reports the box stored are in the county database once each with identical content "
      f"({delivered} marked delivered, every one stored first), {len(gaps)} gaps, 0 missing; "
      f"{later} stored after the final pull began")
PY
