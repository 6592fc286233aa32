#!/usr/bin/env bash
# End to end, as a technician on site would: `village-gateway probe modbus` reads a pymodbus slave
# (a stack this project did not write) over a socat pty pair, says which failure it met when the
# slave is silent, and `village-gateway ports` answers plainly. Closes with "N passed, N failed".
# Usage: probe-and-ports.sh path/to/village-gateway path/to/python-with-pymodbus
set -uo pipefail
cd "$(dirname "$0")/../.."
binary=$1
python=$2
work=$(mktemp -d)
passed=0
failed=0
children=()
cleanup() {
    for pid in "${children[@]}"; do kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

check() {  # check NAME CONDITION-EXIT-STATUS DETAIL
    if [ "$2" = 0 ]; then
        passed=$((passed + 1)); echo "ok   $1"
    else
        failed=$((failed + 1)); echo "FAIL $1: $3"
    fi
}

# Waits (bounded: a hang guard, not a timing assertion) until a command succeeds.
wait_for() {
    for _ in $(seq 1 200); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    return 1
}

socat -d -d "pty,raw,echo=0,link=$work/gateway" "pty,raw,echo=0,link=$work/slave" 2>"$work/socat.log" &
children+=($!)
wait_for "grep -q 'starting data transfer loop' '$work/socat.log'" || { echo "socat did not start: $(cat "$work/socat.log")"; exit 1; }
"$python" -u Tests/DriversTests/Fixtures/pymodbus_slave.py --port "$work/slave" --baud 9600 --slave 1 >"$work/slave.log" 2>&1 &
children+=($!)
wait_for "grep -q READY '$work/slave.log'" || { echo "pymodbus slave did not start: $(cat "$work/slave.log")"; exit 1; }

output=$("$binary" probe modbus --port "$work/gateway" --baud 9600 --slave 1 --function 3 --register 4 --count 2 --type float32 2>"$work/probe.err")
status=$?
check "probe reads float32 21.5 from pymodbus slave 1" "$([ $status = 0 ] && grep -q '21.5' <<<"$output"; echo $?)" "exit $status, output: $output $(cat "$work/probe.err")"
check "probe prints the raw registers" "$(grep -q '0x41AC' <<<"$output"; echo $?)" "output: $output"

"$binary" probe modbus --port "$work/gateway" --baud 9600 --slave 7 --function 3 --register 0 --count 1 >"$work/silent.out" 2>"$work/silent.err"
status=$?
check "a silent slave exits 3 and says no reply" "$([ $status = 3 ] && grep -q 'no reply from slave 7' "$work/silent.err"; echo $?)" "exit $status, stderr: $(cat "$work/silent.err")"

"$binary" probe modbus --port "$work/nonexistent" --baud 9600 --slave 1 --function 3 --register 0 --count 1 >/dev/null 2>"$work/missing.err"
status=$?
check "a missing port exits 6 and names it" "$([ $status = 6 ] && grep -q "$work/nonexistent" "$work/missing.err"; echo $?)" "exit $status, stderr: $(cat "$work/missing.err")"

ports=$("$binary" ports 2>&1)
status=$?
check "ports answers plainly" "$([ $status = 0 ] && grep -qiE 'serial port' <<<"$ports"; echo $?)" "exit $status, output: $ports"

echo "probe-and-ports: $passed passed, $failed failed"
[ "$failed" = 0 ]
