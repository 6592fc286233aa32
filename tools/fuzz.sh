#!/usr/bin/env bash
# tools/fuzz.sh BINARY SECONDS [TARGET...]: runs libFuzzer on each target (all by default) for
# SECONDS each, from the committed seeds in Fuzz/corpus/TARGET, and prints one line per target:
# executions per second, coverage (libFuzzer's cov: edges and ft: features), corpus, findings.
# New inputs go to out/fuzz/corpus/TARGET (not committed); a crash is saved as
# out/fuzz/crash-TARGET-* with the command that replays it. Exit 1 when any target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
binary=${1:?usage: tools/fuzz.sh BINARY SECONDS [TARGET...]}
seconds=${2:?usage: tools/fuzz.sh BINARY SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=($(ls Fuzz/corpus))
fi
out=out/fuzz
# The Swift runtime's metadata caches read as leaks at exit (LeakSanitizer), and its own crash
# handler trips the address sanitizer while it walks the stack: off, so that a finding is the
# crash itself, with the sanitizer's report.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
export SWIFT_BACKTRACE="enable=no"
mkdir -p "$out"
failed=0
printf '%-16s %9s %7s %7s %11s  %s\n' target "exec/s" cov ft corpus result
for target in "${targets[@]}"; do
    mkdir -p "$out/corpus/$target"
    log="$out/$target.log"
    # A leak is not a way to stop the warnings, a crash is: leaks are not looked for.
    # -rss_limit_mb and -timeout bound a runaway input (those count as findings too).
    dictionary=()
    case $target in
        api) dictionary=(-dict=Fuzz/dict/api.dict) ;;
        gateway-toml | stations-toml) dictionary=(-dict=Fuzz/dict/toml.dict) ;;
    esac
    "$binary" fuzz "$target" -max_total_time="$seconds" -detect_leaks=0 -rss_limit_mb=2048 -timeout=10 \
        "${dictionary[@]}" -print_final_stats=1 -artifact_prefix="$out/crash-$target-" \
        "$out/corpus/$target" "Fuzz/corpus/$target" > "$log" 2>&1
    status=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
    corpus=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$done_line")
    rate=$(sed -nE 's/^stat::average_exec_per_sec:[[:space:]]+([0-9]+)/\1/p' "$log" | tail -1)
    if [ $status -eq 0 ]; then
        result="no crash"
    else
        failed=1
        artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
        summary=$(grep -m1 -E 'SUMMARY|Fatal error|deadly signal|ERROR: libFuzzer' "$log" | cut -c1-100)
        result="CRASH ($summary); replay: $binary fuzz $target ${artifact:-<see $log>}"
    fi
    printf '%-16s %9s %7s %7s %11s  %s\n' "$target" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$result"
done
exit $failed
