#!/usr/bin/env bash
# Kills the box with SIGKILL at random moments during an accelerated storm, restarts it each
# time, and proves from the outside that no tip was lost, that each restart resumed the level the
# box had before it, and that a latched red came back sounding.
#
#   tools/kill-restart-test.sh [BINARY] [KILLS]      (env: SPEED, SCENARIO, CONFIG, SEED)
#
# The reference is the same storm played once without interruption: its final tip count is the
# scenario's. Exit status 0 and a last line "PASS ..." when every check holds.
set -euo pipefail

BIN=${1:-.build/debug/village-gateway}
KILLS=${2:-${KILLS:-30}}
SPEED=${SPEED:-4320}
SCENARIO=${SCENARIO:-scenarios/typhoon-hagupit.csv}
CONFIG=${CONFIG:-config/example.toml}
SEED=${SEED:-$$}
# Every wait is bounded: a run of the whole storm at this speed takes about a minute.
RUN_TIMEOUT_SECONDS=${RUN_TIMEOUT_SECONDS:-600}
# Kill after 0.2 to 2.0 s of running: from during start-up to deep into the storm.
KILL_AFTER_MIN_MS=200
KILL_AFTER_SPAN_MS=1800

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vg-kill.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RANDOM=$SEED
echo "kill-restart: $KILLS kills at ${SPEED}x, seed $SEED, work dir $WORK"

# 1. The reference: the whole storm, uninterrupted.
timeout "$RUN_TIMEOUT_SECONDS" "$BIN" run --config "$CONFIG" --board sim --scenario "$SCENARIO" --speed "$SPEED" \
    --state-dir "$WORK/reference" --exit-after-scenario 2>"$WORK/reference.log" >/dev/null

# 2. The same storm, killed again and again, then left to finish.
STATE="$WORK/killed"
mkdir -p "$STATE"
for ((kill = 1; kill <= KILLS; kill++)); do
    "$BIN" run --config "$CONFIG" --board sim --scenario "$SCENARIO" --speed "$SPEED" \
        --state-dir "$STATE" --exit-after-scenario 2>>"$WORK/killed.log" >/dev/null &
    pid=$!
    delay_ms=$((KILL_AFTER_MIN_MS + RANDOM % KILL_AFTER_SPAN_MS))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -9 "$pid" 2>/dev/null; then
        echo "kill $kill: SIGKILL after ${delay_ms} ms"
    else
        echo "kill $kill: the run had already finished"
    fi
    wait "$pid" 2>/dev/null || true
done
timeout "$RUN_TIMEOUT_SECONDS" "$BIN" run --config "$CONFIG" --board sim --scenario "$SCENARIO" --speed "$SPEED" \
    --state-dir "$STATE" --exit-after-scenario 2>>"$WORK/killed.log" >/dev/null

# 3. The checks, from outputs.jsonl (what the outputs were told, in order, across all runs).
python3 - "$WORK/reference/outputs.jsonl" "$STATE/outputs.jsonl" <<'PY'
import json, sys

def records(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]

reference = records(sys.argv[1])
killed = records(sys.argv[2])
failures = []

def final_tips(rows):
    exits = [r for r in rows if r["type"] == "exit"]
    return {k: v for k, v in exits[-1].items() if k.startswith("tips_")} if exits else None

expected, got = final_tips(reference), final_tips(killed)
if not expected:
    failures.append("the reference run did not finish")
if got != expected:
    failures.append(f"tips counted after the kills {got} differ from the scenario's {expected}: a tip was lost or counted twice")

# Walk the killed runs: the level the outputs were last told before each start must be the level
# the start resumed; a resumed red must be latched and the siren must sound again right after.
level = "none"
restarts = reds = 0
for index, record in enumerate(killed):
    kind = record["type"]
    if kind == "level" and not record.get("exercise"):
        level = record["to"]
    elif kind == "start":
        if index > 0:
            restarts += 1
            if record["level"] != level:
                # A decision saved but not yet carried out when the kill came: the start resumes
                # its level and carries it out again, so the level records of this run must lead
                # from the last recorded level to the resumed one.
                redone = []
                for later in killed[index + 1:]:
                    if later["type"] == "start":
                        break
                    if later["type"] == "level" and not later.get("exercise"):
                        redone.append(later)
                current = level
                for later in redone:
                    if later["from"] == current:
                        current = later["to"]
                    if current == record["level"]:
                        break
                if not redone:
                    # Killed again before carrying it out: the next start must resume it.
                    continue
                if current != record["level"]:
                    failures.append(f"restart {restarts}: resumed at {record['level']}, but the box was at {level} before")
            if record["level"] == "red":
                reds += 1
                if record["latched"] != "red":
                    failures.append(f"restart {restarts}: a latched red came back unlatched ({record['latched']})")
                following = next((r for r in killed[index + 1:] if r["type"] == "siren"), None)
                if not following or following["pattern"] != "continuous":
                    failures.append(f"restart {restarts}: the resumed red did not sound the siren again ({following})")
        level = record["level"]
if failures:
    print("FAIL\n" + "\n".join(failures))
    sys.exit(1)
print(f"PASS: {restarts} restarts, {reds} of them during a latched red; tips {got} as the scenario; every restart resumed its level")
PY
