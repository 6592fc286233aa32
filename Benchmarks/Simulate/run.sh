#!/usr/bin/env bash
# Benchmark: the time `village-gateway simulate` takes to replay 30 days with one row per minute
# for each of 8 sensors (345 600 rows), CSV parsing and output included. Prints figures; asserts
# nothing. Usage: Benchmarks/Simulate/run.sh [path/to/village-gateway]
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-.build/release/village-gateway}
out=${OUT:-out}
mkdir -p "$out"
python3 Benchmarks/Simulate/make-30-day-scenario.py "$out/30-days.csv"
rows=$(( $(wc -l < "$out/30-days.csv") - 1 ))
best_ns=""
for run in 1 2 3; do
    start_ns=$(date +%s%N)
    "$binary" simulate --config Benchmarks/Simulate/eight-sensors.toml --scenario "$out/30-days.csv" --format json > "$out/30-days.jsonl"
    elapsed_ns=$(( $(date +%s%N) - start_ns ))
    if [ -z "$best_ns" ] || [ "$elapsed_ns" -lt "$best_ns" ]; then best_ns=$elapsed_ns; fi
done
lines=$(wc -l < "$out/30-days.jsonl")
awk -v ns="$best_ns" -v rows="$rows" -v lines="$lines" 'BEGIN {
    printf "simulate, 30 days x 8 sensors x 1 row/min: %d rows in %.3f s (best of 3) = %.0f rows/s; %d timeline lines\n", rows, ns / 1e9, rows / (ns / 1e9), lines
}'
